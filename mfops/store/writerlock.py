"""One writer at a time per repository: an advisory lock on `.mfops/lock`.

Build, test (its result cache and baselines), lock, promote, rollback and gate all rewrite
files under the repository (`.mfops/<host>/state.json`, `mfops.lock`, baselines). Each
write is atomic (atomic.py), so a reader never sees half a file; but two writers that both
loaded the state before either saved would each write back its own view, and the second
would silently drop what the first recorded. Package managers solve this with a lock file
that serialises writers, and so does mfops: a command that writes holds an exclusive
advisory lock on `.mfops/lock` from start to finish.

Why an advisory `flock` on a file that stays, rather than a file that exists only while
held (git's `index.lock`): the kernel drops the lock when its holder dies, even by SIGKILL,
so a crashed mfops never leaves a stale lock for a person to delete. The file is never
replaced or removed (that would give a second process a different inode to lock); while
held it carries who holds it, one JSON object (pid, command, machine, start time), so the
process that has to wait can say whom it waits for. The command is the subcommand name
only, never the argument list: `--host` may carry credentials.

A second writer waits, like cargo's "Blocking waiting for file lock", telling its user once
who holds the lock; `timeout` bounds the wait (0: do not wait at all) and then the run
stops with `LockBusy`. On Windows, where `fcntl` is absent, `msvcrt.locking` locks one byte
far past the holder text, which keeps that text readable for the waiting process.

The lock is not reentrant: one process takes it once per command (commands/serveropts.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mfops.errors import LockBusy, MfopsError
from mfops.fileio.jsonfile import loads_json
from mfops.store.builds import ensure_state_dir
from mfops.store.trust import check_state_dir, open_nofollow

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("mfops")

LOCK_NAME = "lock"
#: Subcommands that write state, the lock file, caches or baselines: they take the lock.
WRITERS = frozenset({"build", "test", "lock", "promote", "rollback", "gate", "prune", "deploy"})
#: Environment variable: seconds to wait for the lock (unset: as long as it takes).
TIMEOUT_ENV = "MFOPS_LOCK_TIMEOUT"
_WINDOWS_OFFSET = 1 << 30  # the byte msvcrt locks: far past the holder text
_MAX_HOLDER = 4096


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as it wrote itself into the lock file."""

    pid: int
    command: str
    hostname: str
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command}) on {self.hostname} since {self.started}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "command": self.command,
                "hostname": self.hostname,
                "started": self.started,
            }
        )


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in a lock file; None when there is none or it cannot be read
    (being written this very moment, or locked against reading on Windows)."""
    try:
        with os.fdopen(open_nofollow(path, os.O_RDONLY), "rb") as fh:
            raw = fh.read(_MAX_HOLDER)
        data = loads_json(raw, str(path), what="lock holder")
        return Holder(
            int(data["pid"]), str(data["command"]), str(data["hostname"]), str(data["started"])
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError, MfopsError):
        return None


def timeout_from_env(environ: dict[str, str] | None = None) -> float | None:
    """`MFOPS_LOCK_TIMEOUT` as seconds (None: wait as long as it takes); bad values are a
    usage error rather than silently waiting forever."""
    raw = (environ if environ is not None else os.environ).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise MfopsError(f"{TIMEOUT_ENV} must be a number of seconds (0: do not wait), got {raw!r}")
    return value


def _try_lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # pragma: no cover - Windows

    os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)  # pragma: no cover
    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
    except OSError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    import msvcrt  # pragma: no cover - Windows

    os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)  # pragma: no cover
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]  # pragma: no cover


class WriterLock:
    """The writer lock of one repository's `.mfops` folder; see the module docstring."""

    def __init__(self, state_dir: Path, command: str) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(
        self,
        *,
        timeout: float | None = None,
        on_wait: Callable[[Holder | None], None] | None = None,
        poll: float = 0.05,
    ) -> bool:
        """Take the lock, waiting up to `timeout` seconds (None: without limit).

        `on_wait` is called once, with the holder when it can be read, if the lock is busy.
        Returns False when the lock cannot exist at all (a read-only checkout: nothing can
        be written there either, and the write itself will say so); raises LockBusy when
        the wait runs out.
        """
        try:
            check_state_dir(self.state_dir.parent, writer=True)  # tracked, or holds symlinks
            ensure_state_dir(self.state_dir)
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            log.warning(
                "cannot create the writer lock %s (%s): running without it", self.path, err.strerror
            )
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        told = False
        try:
            while not _try_lock(fd):
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockBusy(self.path, self._holder_soon(), timeout or 0.0)
                if not told:
                    told = True
                    if on_wait is not None:
                        on_wait(self._holder_soon())
                time.sleep(poll)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_holder()
        return True

    def _holder_soon(self) -> Holder | None:
        """The holder; it writes itself right after locking, so give it a moment."""
        for _ in range(10):
            holder = read_holder(self.path)
            if holder is not None:
                return holder
            time.sleep(0.01)
        return None

    def _write_holder(self) -> None:
        assert self._fd is not None
        me = Holder(
            os.getpid(),
            self.command,
            socket.gethostname(),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        data = me.to_json().encode("utf-8") + b"\n"
        try:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, data)
        except OSError as err:  # the lock still holds; only the description is missing
            log.warning("cannot describe the writer lock %s: %s", self.path, err.strerror)

    def release(self) -> None:
        """Let the next writer in (also done by the kernel if this process dies)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
