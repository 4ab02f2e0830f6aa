"""Two mfops processes on one repository: the writer lock serialises them (mfops/flock.py).

Real subprocesses of the installed `mfops` script, against the Ollama double running in
this test process; the first one is slowed down by a delay on the double's create stream
so that the second certainly arrives while the first holds the lock, and the delay is
lifted as soon as the second says it waits. Nothing of mfops is patched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mfops.errors import LockBusy
from mfops.store.writerlock import Holder, WriterLock, read_holder, timeout_from_env
from tests.buildkit import Workspace, make_workspace
from tests.buildkit import ollama_double_fixture as ollama_double  # noqa: F401
from tests.cli_runner import installed_mfops

MODELS = ("base", "mid", "leaf", "other")


def spawn_mfops(ws_root: Path, url: str, *args: str, env: dict[str, str] | None = None,
                preexec_fn: Callable[[], object] | None = None) -> subprocess.Popen[str]:  # fmt: skip
    """The installed `mfops -C ROOT ARGS` in a new process, talking to the double at `url`
    (`preexec_fn`: run in the child before mfops starts, e.g. to ignore a signal)."""
    child_env = {**os.environ, "OLLAMA_HOST": url, **(env or {})}
    return subprocess.Popen(
        [installed_mfops(), "-C", str(ws_root), *args], env=child_env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn,
    )  # fmt: skip


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def lock_path(ws: Workspace) -> Path:
    return ws.root / ".mfops" / "lock"


def holder_pid(ws: Workspace) -> int | None:
    holder = read_holder(lock_path(ws))
    return holder.pid if holder is not None else None


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


#: A create stream this slow keeps the first writer busy for seconds: long enough for the
#: second process to start and meet the lock on any machine. Once the second says it waits,
#: the delay is lifted (`unblock_when_waiting`), so no test waits for it in vain.
SLOW_LINE = 0.3


def unblock_when_waiting(proc: subprocess.Popen[str], double) -> tuple[threading.Thread, list[str]]:
    """Read `proc`'s stderr in a thread; when it says it waits for the lock, lift the double's
    create delay. Returns the thread and the lines read (complete once the thread ends)."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "waiting for" in line:
                double.faults.stream_delay.clear()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, lines


def finish_watched(proc: subprocess.Popen[str], reader: threading.Thread, lines: list[str],
                   timeout: float = 60) -> tuple[int, str, str]:  # fmt: skip
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=timeout)
    reader.join(timeout)
    return proc.returncode, out, "".join(lines)


@pytest.fixture
def ws(tmp_path: Path, ollama_double) -> Workspace:  # noqa: F811
    return make_workspace(tmp_path, ollama_double)


def test_second_build_waits_says_who_holds_the_lock_and_then_finds_everything_built(
        ws: Workspace):  # fmt: skip
    ws.double.faults.stream_delay["/api/create"] = SLOW_LINE
    first = spawn_mfops(ws.root, ws.double.url, "build", "--all")
    wait_for(lambda: holder_pid(ws) == first.pid, what="the first build to take the lock")
    second = spawn_mfops(ws.root, ws.double.url, "build", "--all", "--format", "json")
    reader, lines = unblock_when_waiting(second, ws.double)
    code1, _out1, err1 = finish(first)
    code2, out2, err2 = finish_watched(second, reader, lines)
    assert (code1, code2) == (0, 0), err1 + err2
    [waiting] = [line for line in err2.splitlines() if "waiting for" in line]
    assert f"held by pid {first.pid} (mfops build) on " in waiting
    assert ".mfops/lock" in waiting and "MFOPS_LOCK_TIMEOUT" in waiting
    # the second build loaded the state only once the first had written it: nothing twice
    assert sorted(ws.creates()) == sorted(f"{m}:{ws.tag()}" for m in MODELS)
    report = json.loads(out2)
    assert {m["action"] for m in report["models"]} == {"up to date"}
    state = ws.state()
    assert sorted(state["builds"]) == sorted(f"{m}:{ws.tag()}" for m in MODELS)
    assert read_holder(lock_path(ws)) is None  # released, and the description removed


def test_no_wait_fails_at_once_naming_the_holder_and_writes_nothing(ws: Workspace):
    ws.double.faults.stream_delay["/api/create"] = SLOW_LINE
    first = spawn_mfops(ws.root, ws.double.url, "build", "--all")
    wait_for(lambda: holder_pid(ws) == first.pid, what="the first build to take the lock")
    second = spawn_mfops(ws.root, ws.double.url, "lock", "--update",
                         env={"MFOPS_LOCK_TIMEOUT": "0"})  # fmt: skip
    code2, out2, err2 = finish(second)  # while the first still holds the lock
    ws.double.faults.stream_delay.clear()
    assert code2 == 2 and out2 == ""
    [line] = err2.strip().splitlines()
    assert f"is held by pid {first.pid} (mfops build)" in line
    assert "another mfops is writing this repository" in line
    assert finish(first)[0] == 0


def test_the_lock_dies_with_a_killed_holder(ws: Workspace):
    """SIGKILL leaves no stale lock: the kernel releases a flock with its process."""
    ws.double.faults.stream_delay["/api/create"] = 0.2
    first = spawn_mfops(ws.root, ws.double.url, "build", "--all")
    wait_for(lambda: holder_pid(ws) == first.pid, what="the first build to take the lock")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    ws.double.faults.stream_delay.clear()
    code, _out, err = finish(spawn_mfops(ws.root, ws.double.url, "build", "--all",
                                        env={"MFOPS_LOCK_TIMEOUT": "5"}))  # fmt: skip
    assert code == 0, err
    assert "waiting for" not in err
    assert sorted(ws.state()["builds"]) == sorted(f"{m}:{ws.tag()}" for m in MODELS)


def test_readers_and_dry_runs_do_not_wait(ws: Workspace):
    lock = WriterLock(ws.root / ".mfops", "mfops build")
    assert lock.acquire(timeout=0)
    try:
        for args in (("status",), ("build", "--all", "--dry-run"), ("ls",), ("diff", "HEAD")):
            proc = spawn_mfops(ws.root, ws.double.url, *args, env={"MFOPS_LOCK_TIMEOUT": "0"})
            code, _out, err = finish(proc)
            assert code in (0, 1), (args, err)
            assert "held by" not in err and "waiting" not in err, args
    finally:
        lock.release()


def test_every_writing_command_takes_the_lock(ws: Workspace, monkeypatch):
    monkeypatch.setenv("MFOPS_LOCK_TIMEOUT", "0")
    lock = WriterLock(ws.root / ".mfops", "mfops gate")
    assert lock.acquire(timeout=0)
    try:
        for args in (("build", "--all"), ("lock",), ("test",),
                     ("promote", "--all", "--from", "x", "--to", "v1"),
                     ("rollback", "base", "--to", "v1"), ("gate",)):  # fmt: skip
            code, out, err = ws.mfops(*args)
            assert code == 2, (args, out, err)
            assert f"held by pid {os.getpid()} (mfops gate)" in err, (args, err)
        assert ws.double.calls.count("/api/create") == 0
        assert ws.double.calls.count("/api/copy") == 0
    finally:
        lock.release()


def test_in_process_commands_release_the_lock_when_they_end(ws: Workspace):
    ws.ok("build", "--all")
    code, _out, _err = ws.mfops("build", "--all", "--tag", "no:such")  # fails: bad tag
    assert code == 2
    lock = WriterLock(ws.root / ".mfops", "check")
    assert lock.acquire(timeout=0), "a finished or failed command left the lock held"
    lock.release()


def test_lock_wait_times_out_with_lockbusy_naming_the_holder(tmp_path: Path):
    first = WriterLock(tmp_path / ".mfops", "mfops build")
    second = WriterLock(tmp_path / ".mfops", "mfops promote")
    assert first.acquire()
    seen: list[Holder | None] = []
    try:
        with pytest.raises(LockBusy) as info:  # the deadline fires while the lock is held
            second.acquire(timeout=0.3, on_wait=seen.append)
    finally:
        first.release()
    assert [h.command for h in seen if h] == ["mfops build"]
    text = str(info.value)
    assert f"held by pid {os.getpid()} (mfops build) on " in text and "gave up after 0.3s" in text
    assert "\n" not in text
    # once released, the waiter gets in
    assert second.acquire(timeout=0)
    second.release()
    assert (tmp_path / ".mfops" / ".gitignore").read_text().strip().endswith("*")


def test_waiter_gets_the_lock_as_soon_as_it_is_released(tmp_path: Path):
    first = WriterLock(tmp_path / ".mfops", "one")
    assert first.acquire()
    threading.Timer(0.2, first.release).start()
    second = WriterLock(tmp_path / ".mfops", "two")
    assert second.acquire(timeout=60)  # a generous deadline: it only catches a hang
    assert read_holder(second.path) is not None and read_holder(second.path).command == "two"
    second.release()


@pytest.mark.parametrize(("raw", "value"), [("", None), ("0", 0.0), ("2.5", 2.5)])
def test_lock_timeout_from_the_environment(raw: str, value: float | None):
    assert timeout_from_env({"MFOPS_LOCK_TIMEOUT": raw}) == value


@pytest.mark.parametrize("raw", ["soon", "-1", "nan"])
def test_bad_lock_timeout_is_a_usage_error(raw: str):
    from mfops.errors import MfopsError

    with pytest.raises(MfopsError, match="MFOPS_LOCK_TIMEOUT must be a number"):
        timeout_from_env({"MFOPS_LOCK_TIMEOUT": raw})


def test_a_lock_that_cannot_be_created_is_skipped_not_fatal(tmp_path: Path):
    """A checkout where .mfops cannot exist (here: a file in the way) runs unlocked; any
    write there fails on its own with a clear error."""
    (tmp_path / "blocked").write_text("a file, not a directory")
    assert WriterLock(tmp_path / "blocked" / ".mfops", "x").acquire(timeout=0) is False


def test_lock_file_holds_no_arguments(ws: Workspace):
    """The holder names the subcommand only: `--host` may carry a password."""
    ws.double.faults.stream_delay["/api/create"] = SLOW_LINE
    url = ws.double.url.replace("http://", "http://user:s3cret-pw@")
    first = spawn_mfops(ws.root, url, "build", "--all", "--host", url)
    wait_for(lambda: holder_pid(ws) == first.pid, what="the build to take the lock")
    text = lock_path(ws).read_text()
    ws.double.faults.stream_delay.clear()
    assert finish(first)[0] == 0
    assert "s3cret" not in text and json.loads(text)["command"] == "mfops build"


def test_a_promote_waits_for_the_build_of_its_candidate_and_both_land_in_the_state(
        tmp_path: Path):  # fmt: skip
    """`mfops build` and `mfops promote` of the candidate it is building, started together:
    without the lock the promotion would find no candidate (or a half-built chain); with it,
    the promotion waits, then tests and promotes what the build recorded. The state ends up
    with both the builds and the promotion (no lost update)."""
    from tests.behavekit import seeded_double
    from tests.promotekit import make_release

    double = seeded_double()
    try:
        rel = make_release(tmp_path, double, build=False)
        candidate = rel.tag()
        double.faults.stream_delay["/api/create"] = SLOW_LINE
        build = spawn_mfops(rel.root, double.url, "build", "--all")
        wait_for(lambda: (h := read_holder(rel.root / ".mfops" / "lock")) is not None
                 and h.pid == build.pid, what="the build to take the lock")  # fmt: skip
        promote = spawn_mfops(rel.root, double.url, "promote", "--all", "--from", candidate,
                              "--to", "v1")  # fmt: skip
        reader, lines = unblock_when_waiting(promote, double)
        code_b, _, err_b = finish(build)
        code_p, out_p, err_p = finish_watched(promote, reader, lines)
        assert (code_b, code_p) == (0, 0), err_b + out_p + err_p
        assert f"held by pid {build.pid} (mfops build)" in err_p
        state = rel.state()
        assert sorted(state["builds"]) == sorted(
            f"{m}:{t}" for m in ("base", "expert") for t in (candidate, "v1")
        )
        [entry] = rel.history()
        assert entry["outcome"] == "promoted" and entry["from"] == candidate
        # the promotion began only after the build had finished (its own copies, to the
        # content tags, are part of the build)
        creates = double.calls["/api/create"]
        copies = [c for c in double.calls["/api/copy"] if ":mf-" not in c.body["destination"]]
        assert creates and copies and max(c.ended for c in creates) < min(c.started for c in copies)
    finally:
        double.stop()
