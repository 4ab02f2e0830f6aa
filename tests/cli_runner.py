"""Running mfops from a test: the installed console script's path, and the CLI in-process.

Shared by conftest.py's fixtures (`run_mfops`, `mfops_cli`) and by test modules and kits that
call them directly; test modules import these from here, never from conftest.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mfops.cli.main import main


def installed_mfops() -> str:
    """The `mfops` console script installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "mfops"
    if beside.exists():
        return str(beside)
    found = shutil.which("mfops")
    if found is None:  # pragma: no cover - the package is installed for the tests
        pytest.fail("the mfops console script is not installed (pip install -e '.[test]')")
    return found


def invoke_mfops(*args: str) -> tuple[int | None, str, str]:
    """Run `mfops ARGS` in-process through `mfops.cli.main.main` (which owns the exit codes);
    return (exit code, stdout, stderr). click's `CliRunner.invoke` would drop the code a
    command returns, so the runner is used only for its stream isolation."""
    try:  # click < 8.2 mixes stderr into stdout unless told not to (8.2 removed the option)
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        runner = CliRunner()
    # click < 8.2 yields (stdout, stderr); 8.2 adds the mixed output as a third stream.
    with runner.isolation() as streams:
        out, err = streams[0], streams[1]
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
        else:  # pragma: no cover - main always exits
            code = None
        return code, out.getvalue().decode(), err.getvalue().decode()  # click 8.1 closes them
