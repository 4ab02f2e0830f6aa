"""Usage errors are one line and exit 2, like every other input error."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["diff", "-x"], "mfops: No such option '-x'. (see `mfops diff --help`)"),
        (
            ["diff", "--upload-pack=touch x"],
            "mfops: No such option '--upload-pack'. (see `mfops diff --help`)",
        ),
        (["nosuch"], "mfops: no such command 'nosuch' (see `mfops --help`)"),
        (["show"], "mfops: Missing argument 'NAME'. (see `mfops show --help`)"),
    ],
)
def test_usage_errors_are_one_line(mfops_cli, args, expected):
    code, out, err = mfops_cli(*args)
    assert code == 2 and out == ""
    assert err == expected + "\n"
