"""One command invocation: what it has found once and need not find again.

A command asks some questions several times (is `.mfops/` trusted? — asked by the cache, the
writer lock and the build records) whose answer cannot change while the command runs unless
something else changes the repository under it, which mfops does not guard against anyway.
Answers are kept for the invocation, never for the process: commands run in one process
(the tests, through click's runner) must each ask again, since a test may change the
repository between two of them. The command line opens one `command_invocation()` per
command (cli/main.py); outside one (a library caller), nothing is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["Invocation", "command_invocation", "current_invocation"]

T = TypeVar("T")


class Invocation:
    """The answers of one command, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._answers: dict[Hashable, Any] = {}

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` the first time `key` is asked, its answer afterwards. Threads asking
        at once wait for the first (the lock is held while computing)."""
        with self._lock:
            if key not in self._answers:
                self._answers[key] = compute()
            return self._answers[key]  # type: ignore[no-any-return]

    def first(self, key: Hashable) -> bool:
        """True only the first time `key` is asked (say something once per command)."""
        with self._lock:
            if key in self._answers:
                return False
            self._answers[key] = True
            return True


#: The invocations open, innermost last (one in a CLI process).
_open: list[Invocation] = []


@contextmanager
def command_invocation() -> Iterator[Invocation]:
    """One command's scope: `current_invocation()` is this one until the block ends."""
    invocation = Invocation()
    _open.append(invocation)
    try:
        yield invocation
    finally:
        _open.remove(invocation)


def current_invocation() -> Invocation | None:
    """The command running (the innermost one open); None outside a command."""
    return _open[-1] if _open else None
