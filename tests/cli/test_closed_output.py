"""What mfops exits with when its own stdout or stderr has no reader any more, outside a
command's work: its eager options (--help, --version) and the one line main() prints for an
error. The command's own writes are covered in tests/behave/test_shard_broken_pipe.py.

The installed console script runs with the stream a pipe whose read end is already closed,
so every write to it fails with EPIPE (as after `| head -c 1` once head has exited)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.cli_runner import installed_mfops

EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE


def _run(*args: str, closed: str, cwd: str) -> tuple[int, str]:
    """(exit code, what the other stream got): `closed` is "stdout" or "stderr"."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [installed_mfops(), *args],
            stdout=write if closed == "stdout" else subprocess.PIPE,
            stderr=write if closed == "stderr" else subprocess.PIPE,
            cwd=cwd, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    other = proc.stderr if closed == "stdout" else proc.stdout
    return proc.returncode, other or ""


@pytest.mark.parametrize("args", [["--version"], ["--help"], []])
def test_an_eager_option_to_a_closed_stdout_exits_141_not_1(tmp_path, args):
    """click answers EPIPE outside a command with exit 1 of its own, the code of a check
    that said no; mfops' answer is 141, as for a command's own output."""
    code, err = _run(*args, closed="stdout", cwd=str(tmp_path))
    assert code == EXIT_OUTPUT_CLOSED, err
    assert err == "", err


def test_a_usage_error_whose_stderr_is_closed_keeps_its_exit_code(tmp_path):
    """The line main() prints for an error cannot be shown: the exit code still says what
    happened (2, an input error), not 1 from an uncaught BrokenPipeError."""
    code, out = _run("no-such-command", closed="stderr", cwd=str(tmp_path))
    assert code == 2
    assert out == ""


def test_an_mfops_error_whose_stderr_is_closed_keeps_its_exit_code(tmp_path):
    """`mfops show` outside a repository is an input error (2) whatever became of stderr."""
    code, _ = _run("show", "nothing", closed="stdout", cwd=str(tmp_path))
    assert code == 2
    code, out = _run("show", "nothing", closed="stderr", cwd=str(tmp_path))
    assert code == 2, out
