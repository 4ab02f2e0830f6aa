"""Usage errors are one line and exit 2, like every other input error."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["diff", "-x"], "mfops: unknown option '-x' (see `mfops diff --help`)"),
        (["diff", "--upload-pack=touch x"],
         "mfops: unknown option '--upload-pack' (see `mfops diff --help`)"),
        (["nosuch"], "mfops: unknown command 'nosuch' (see `mfops --help`)"),
        (["show"], "mfops: missing argument 'NAME' (see `mfops show --help`)"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line(mfops_cli, args, expected):
    code, out, err = mfops_cli(*args)
    assert code == 2 and out == ""
    assert err == expected + "\n"


def test_bad_values_and_missing_options_name_the_parameter(mfops_cli):
    """The parameter is named in mfops' words; only the offending value comes from click."""
    code, out, err = mfops_cli("lint", "--format", "nope")
    assert code == 2 and out == ""
    assert err.startswith("mfops: invalid value for '--format': ")
    assert err.endswith(" (see `mfops lint --help`)\n") and err.count("\n") == 1
