"""Byte progress for pulls (`lock --pull`, `status --pull`, `build --pull`).

A base is often several gigabytes, so a pull without progress looks hung. On a terminal a
rich bar on stderr shows bytes, speed and time left; in a log (not a terminal) one plain line
is written per layer each time it passes another tenth of its size, so a CI log shows the
download moving without a line per chunk. Status lines without sizes (`pulling manifest`,
`verifying sha256 digest`) are shown once each in the plain form. stdout is never touched:
it carries the command's own output (JSON included).
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

from mfops.cli.render import rich_console

if TYPE_CHECKING:
    from mfops.server.client import Progress

__all__ = ["PlainPullProgress", "human_bytes", "pull_progress"]


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KB' (decimal units, as Ollama and the registries print sizes)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - the loop returns


class PlainPullProgress:
    """Plain lines for logs: a layer's size at every tenth, each status once."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._tenths: dict[tuple[str, str], int] = {}
        self._said: set[tuple[str, str]] = set()

    def __call__(self, p: Progress) -> None:
        if p.total and p.digest:
            done = min(p.completed or 0, p.total)
            tenth = 10 * done // p.total
            key = (p.model, p.digest)
            if tenth <= self._tenths.get(key, -1):
                return
            self._tenths[key] = tenth
            line = (
                f"pull {p.model}: {p.digest.removeprefix('sha256:')[:12]} "
                f"{human_bytes(done)} / {human_bytes(p.total)} ({10 * tenth}%)"
            )
        else:
            if not p.status or (p.model, p.status) in self._said:
                return
            self._said.add((p.model, p.status))
            line = f"pull {p.model}: {p.status}"
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LivePullProgress:
    """A rich bar per layer on stderr: bytes, speed, time left."""

    def __init__(self, color: bool | None) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=rich_console(color),
            transient=False,
        )
        self.tasks: dict[tuple[str, str], Any] = {}
        self.bar.start()

    def __call__(self, p: Progress) -> None:
        if not (p.total and p.digest):
            return
        key = (p.model, p.digest)
        task = self.tasks.get(key)
        if task is None:
            label = f"pull {p.model} {p.digest.removeprefix('sha256:')[:12]}"
            task = self.tasks[key] = self.bar.add_task(label, total=p.total)
        self.bar.update(task, completed=min(p.completed or 0, p.total), total=p.total)

    def close(self) -> None:
        self.bar.stop()


def pull_progress(color: bool | None) -> PlainPullProgress | LivePullProgress:
    """The live bars on a terminal (stderr), plain lines otherwise."""
    if sys.stderr.isatty():
        return LivePullProgress(color)
    return PlainPullProgress()
