"""A shard whose stdout reader went away (`mfops test --shard 1/2 ... | head -c 1`, a CI log
reader that died): the process and its shard report tell the same story. Like git and
coreutils, mfops stops at the first write that fails with EPIPE and exits 141 (128 +
SIGPIPE); the shard report says the shard did not complete, why, and with that code, so
`mfops report merge` fails naming it instead of passing a shard whose process failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mfops.behave.shard import parse_shard
from mfops.cli.commands.shardopts import shard_guard
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.cli_runner import installed_mfops

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
WHY = "stopped: its output was closed (broken pipe)"


@pytest.fixture(name="built")
def built_fixture(lab: Lab) -> Lab:
    lab.build("cand")
    return lab


def _closed_pipe_run(lab: Lab, *args: str) -> tuple[int, str]:
    """The installed mfops with stdout a pipe whose read end is already closed: every write
    to stdout fails with EPIPE, as after `| head -c 1` once head has exited (without the
    race of when head exits). Returns (exit code, stderr)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [installed_mfops(), "-C", str(lab.root), *args],
            env={**os.environ, "OLLAMA_HOST": lab.double.url},
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


def _block(path: Path) -> dict:
    return json.loads(path.read_text())["shard"]


@pytest.mark.parametrize("command", ["test", "gate"])
def test_a_shard_whose_output_is_closed_fails_in_its_report_and_its_exit_code(
    built: Lab, tmp_path, command
):
    path = tmp_path / "shard-1.json"
    extra = ["--tag", "cand"] if command == "test" else []
    code, err = _closed_pipe_run(
        built, command, *extra, "--shard", "1/2", "--shard-report", str(path)
    )
    assert code == EXIT_BROKEN_PIPE, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    block = _block(path)
    assert (block["failed"], block["exit_code"]) == (WHY, EXIT_BROKEN_PIPE)
    # the merge names it, as any shard that did not complete (the gate's shard 2 stops at
    # build, no mfops.lock here: its report says so too)
    other = tmp_path / "shard-2.json"
    code2, out2, err2 = built.mfops(command, *extra, "--shard", "2/2", "--shard-report", str(other))
    assert code2 in ((0, 1) if command == "test" else (2,)), out2 + err2
    code, out, err = built.mfops("report", "merge", str(path), str(other))
    assert code == 1, out + err
    assert f"did not complete (exit {EXIT_BROKEN_PIPE}): {WHY}" in err


def test_a_command_whose_output_is_closed_exits_141_without_a_traceback(built: Lab):
    """Not only shards: `mfops ls | head -c 1` is git's `git log | head` (exit 141)."""
    code, err = _closed_pipe_run(built, "ls")
    assert code == EXIT_BROKEN_PIPE, err
    assert err == "", err


def test_a_closed_output_after_a_failed_report_keeps_the_first_reason(tmp_path):
    """A gate shard that wrote its failed report (build failed, exit 1) and then could not
    print: the report keeps why and where it failed, and takes the exit code the process
    exits with."""
    path = tmp_path / "shard-1.json"
    spec = parse_shard("1/2")
    with (
        _stdout_reader_gone(),
        pytest.raises(BrokenPipeError),
        shard_guard(spec, path, tmp_path) as guard,
    ):
        assert guard is not None
        guard.failed("build failed: expert", 1, stage="build")
        raise BrokenPipeError(32, "Broken pipe")
    block = _block(path)
    assert block["failed"] == f"build failed: expert; then {WHY}"
    assert (block["exit_code"], block["stage"]) == (EXIT_BROKEN_PIPE, "build")


def test_a_broken_pipe_that_is_not_the_output_stays_an_internal_error(tmp_path):
    """A broken pipe while stdout and stderr are fine (a git subprocess that died, a
    socket) is not the reader going away: the shard report says internal error, exit 3,
    not 'output closed'."""
    path = tmp_path / "shard-1.json"
    spec = parse_shard("1/2")
    with pytest.raises(BrokenPipeError), shard_guard(spec, path, tmp_path):
        raise BrokenPipeError(32, "Broken pipe")
    block = _block(path)
    assert block["exit_code"] == 3
    assert "output was closed" not in block["failed"]


@contextmanager
def _stdout_reader_gone() -> Iterator[None]:
    """fd 1 is, for the block, a pipe whose read end is closed (as after `| head -c 1`)."""
    read, write = os.pipe()
    os.close(read)
    saved = os.dup(1)
    os.dup2(write, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write)


def test_a_failed_shard_whose_stderr_is_closed_exits_with_its_reports_code(built: Lab, tmp_path):
    """The gate's shard 2 stops at build (no mfops.lock here: exit 2) and its report says
    so; the one line main() then prints goes to a closed stderr. The process must still
    exit 2, the code its report names, not 1 from an uncaught BrokenPipeError."""
    path = tmp_path / "shard-2.json"
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [installed_mfops(), "-C", str(built.root), "gate", "--shard", "2/2",
             "--shard-report", str(path)],
            env={**os.environ, "OLLAMA_HOST": built.double.url},
            stdout=subprocess.DEVNULL, stderr=write, timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    block = _block(path)
    assert block["exit_code"] == 2, block
    assert proc.returncode == block["exit_code"]
