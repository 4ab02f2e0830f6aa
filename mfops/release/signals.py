"""SIGTERM and SIGHUP stop mfops like Ctrl-C, and never in the middle of a tag move.

`timeout`, docker, Kubernetes and systemd stop a process with SIGTERM, a closed terminal
sends SIGHUP; Python's default for both is to die on the spot, with no `finally` run. A
promotion killed that way leaves some aliases on the new release and others on the old,
backup tags on the server and no record. So:

- `terminate_like_interrupt` (the CLI wraps every command in it) turns SIGTERM and SIGHUP
  into `Interrupted`, a KeyboardInterrupt that remembers its signal, so every path that
  cleans up after Ctrl-C cleans up after them too, and the exit code is 128 + the signal.
  It counts the stop signals it raised (`stops_raised`): the first lets the server calls in
  flight end (a sample's result, a create the next run need not repeat), a second means
  "now", and the CLI then exits without waiting for them (cli/main.py). A signal that was
  ignored when mfops started (`nohup`, a shell's background job) stays ignored.
- `deferred_signals` (around retag.py's moves) only *notes* SIGINT, SIGTERM and SIGHUP;
  the mover asks `checkpoint()` between server calls. A call already sent is never
  abandoned: if it were, the server could still carry out a copy after the restore
  deleted its destination. The restore then runs with the signals still deferred. A
  third signal while deferred stops at once (the escape hatch for a server that hangs;
  `--timeout` bounds each call anyway).
- `held_signals` (around every write of a release record) holds them back until the record
  is written, then delivers them as if they had just arrived. Raised in the middle of the
  write, the interrupt killed git (subprocess kills its child on the way out) after the
  tags had moved: a deploy done on every host left no record, so `status --env` called
  every host drifted, and the killed `git update-ref` left its lock file behind, which
  failed every later record of the clone.

Signal handlers can only be set from the main thread; elsewhere both are no-ops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: The signals that mean "stop": Ctrl-C, a terminating supervisor, a closed terminal.
STOP_SIGNALS = tuple(
    s
    for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
    if s is not None
)
_FORCE_AFTER = 3


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal; `signum` says which (exit code 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _install(handler: Any, signums: tuple[int, ...]) -> dict[int, Any]:
    previous = {}
    for signum in signums:
        try:
            previous[signum] = signal.signal(signum, handler)
        except (OSError, ValueError):  # not settable here
            continue
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


class _Stops:
    """The stop signals `terminate_like_interrupt` raised in this process."""

    raised = 0


def stops_raised() -> int:
    """How many stop signals have interrupted this process so far (see the docstring)."""
    return _Stops.raised


@contextmanager
def terminate_like_interrupt(first: Callable[[], None] | None = None) -> Iterator[None]:
    """Within: SIGTERM and SIGHUP raise `Interrupted`, SIGINT a KeyboardInterrupt (as
    Python's own handler does: exit 130, no signal named), each counted; `first` is called
    at the first (the CLI says there what the stop waits for)."""
    if not _main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        _Stops.raised += 1
        if _Stops.raised == 1 and first is not None:
            first()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signum)

    # Not a signal ignored at start: `nohup` ignores SIGHUP, a non-interactive shell
    # starts a background job with SIGINT ignored, and both mean "do not stop me".
    wanted = tuple(s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN)
    _Stops.raised = 0  # per command (tests run several in one process)
    previous = _install(stop, wanted)
    try:
        yield
    finally:
        _restore(previous)


class Pending:
    """The stop signals noted while deferred; see `deferred_signals`."""

    def __init__(self) -> None:
        self.signums: list[int] = []

    @property
    def first(self) -> int | None:
        return self.signums[0] if self.signums else None

    def note(self, signum: int, frame: FrameType | None) -> None:
        self.signums.append(signum)
        if len(self.signums) >= _FORCE_AFTER:
            raise Interrupted(signum)

    def checkpoint(self) -> None:
        """Raise `Interrupted` when a stop signal arrived since the section began."""
        if self.signums:
            raise Interrupted(self.signums[0])


@contextmanager
def deferred_signals() -> Iterator[Pending]:
    """Within: SIGINT, SIGTERM and SIGHUP are noted, not raised; see the module docstring."""
    pending = Pending()
    if not _main_thread():
        yield pending
        return
    previous = _install(pending.note, STOP_SIGNALS)
    try:
        yield pending
    finally:
        _restore(previous)


@contextmanager
def held_signals() -> Iterator[None]:
    """Within: SIGINT, SIGTERM and SIGHUP wait; when the section ends, the first one that
    arrived is raised again, to the handler that was in place before (the CLI's: an
    interrupt after the write; an enclosing `deferred_signals`: noted there). A third
    signal stops at once, as in `deferred_signals`."""
    if not _main_thread():
        yield
        return
    pending = Pending()
    previous = _install(pending.note, STOP_SIGNALS)
    try:
        yield
    finally:
        _restore(previous)
        if pending.first is not None and len(pending.signums) < _FORCE_AFTER:
            signal.raise_signal(pending.first)
