"""mfops killed (SIGKILL) while writing a file: the old file is intact, never a truncated one.

Every file mfops writes (state, mfops.lock, the test cache, baselines, formatted and imported
Modelfiles, reports) goes through `mfops.fileio.atomic.write_atomic`; the first test checks that
no module writes files any other way, the others kill real writer processes at random
moments and look at what is left.
"""

from __future__ import annotations

import ast
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mfops"

#: Modules allowed to open files for writing by themselves, and why.
DIRECT_WRITERS = {
    "fileio/atomic.py": "the atomic writer itself",
    "cli/main.py": "the crash log: a new file of its own (tempfile.mkstemp)",
    "store/writerlock.py": "the lock file: locked in place, never replaced (its inode must stay)",
    "cli/commands/gate.py": "appends to $GITHUB_STEP_SUMMARY, a file the CI runner owns",
    "store/trust.py": "the per-machine key: created once with O_EXCL (never replaced), 0600",
}

_WRITE_CALLS = {"write_text", "write_bytes"}


def _writes_directly(tree: ast.AST) -> list[int]:
    """Lines that open a file for writing: `open`/`fdopen` with a w, a, x or + mode,
    `os.open` (or trust.open_nofollow) with O_WRONLY, O_RDWR or O_CREAT,
    `Path.write_text`/`write_bytes`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = (
            func.value.id
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            else None
        )
        if name in _WRITE_CALLS:
            found.append(node.lineno)
        elif (name == "open" and owner == "os") or name == "open_nofollow":
            flags = {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            if flags & {"O_WRONLY", "O_RDWR", "O_CREAT"}:
                found.append(node.lineno)
        elif name in ("open", "fdopen"):
            modes = list(node.args[1:2]) + [k.value for k in node.keywords if k.arg == "mode"]
            for mode in modes:
                if (
                    isinstance(mode, ast.Constant)
                    and isinstance(mode.value, str)
                    and any(c in mode.value for c in "wax+")
                ):
                    found.append(node.lineno)
    return found


def test_every_file_mfops_writes_goes_through_write_atomic():
    offenders, seen = {}, set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        lines = _writes_directly(ast.parse(path.read_text(), rel))
        if lines:
            seen.add(rel)
        if lines and rel not in DIRECT_WRITERS:
            offenders[rel] = lines
    assert not offenders, f"files written without mfops.fileio.atomic.write_atomic: {offenders}"
    assert seen == set(DIRECT_WRITERS), "the allow-list names a module that writes no more"


CHILD = r"""
import os, sys
sys.path.insert(0, sys.argv[3])
from mfops.fileio.atomic import write_atomic

target, size = sys.argv[1], int(sys.argv[2])
payloads = [b"A" * size, b"B" * size]
i = 0
print("ready", flush=True)
while True:
    write_atomic(target, payloads[i % 2])
    i += 1
"""


def test_sigkill_during_atomic_writes_leaves_the_old_or_the_new_file(tmp_path: Path):
    size = 8 << 20
    target = tmp_path / "state.json"
    target.write_bytes(b"A" * size)
    os.chmod(target, 0o640)
    rng = random.Random(1234)
    kills = 12
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(target), str(size), str(PACKAGE.parent)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        data = target.read_bytes()
        assert len(data) == size and data in (b"A" * size, b"B" * size), (
            f"torn file after SIGKILL: {len(data)} bytes, starts {data[:1]!r}"
        )
        assert (target.stat().st_mode & 0o777) == 0o640
        # a killed writer can leave its temporary file (never the target) behind
        leftovers = [p for p in tmp_path.iterdir() if p.name != target.name]
        assert all(p.name.startswith(".state.json.") and p.name.endswith(".tmp") for p in leftovers)
        for p in leftovers:
            p.unlink()


CHILD_SLOW_REPLACE = r"""
import os, sys, time
sys.path.insert(0, sys.argv[2])
import mfops.fileio.atomic as atomic

real_replace = os.replace
def slow_replace(src, dst):
    print("about to replace", flush=True)
    time.sleep(30)
    real_replace(src, dst)
atomic.os.replace = slow_replace
from mfops.repo.lockfile import Lock, save
save(Lock({"llama3.2:3b": "sha256:" + "b" * 64}), sys.argv[1])
"""


def test_sigkill_between_writing_and_replacing_keeps_the_old_lock(tmp_path: Path):
    from mfops.repo.lockfile import Lock, loads, save

    target = tmp_path / "mfops.lock"
    save(Lock({"llama3.2:3b": "sha256:" + "a" * 64}), target)
    before = target.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SLOW_REPLACE, str(target), str(PACKAGE.parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "about to replace"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    assert target.read_bytes() == before
    assert loads(target.read_text()).get("llama3.2:3b") == "sha256:" + "a" * 64
    [tmp] = [p for p in tmp_path.iterdir() if p.name != "mfops.lock"]
    assert loads(tmp.read_text()).get("llama3.2:3b") == "sha256:" + "b" * 64  # fully written
