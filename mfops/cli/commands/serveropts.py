"""Opening the session of a command that talks to Ollama (its `--host` and `--timeout` are
hostopts.py's, re-exported here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mfops.build.session import Session
from mfops.cli.commands.hostopts import server_options
from mfops.server.client import ServerOptions
from mfops.store.writerlock import TIMEOUT_ENV, WRITERS, WriterLock, timeout_from_env

if TYPE_CHECKING:
    from mfops.build.session import Session

__all__ = ["open_session", "server_options"]


def open_session(
    opts: Any, host: str | None, timeout: float, *, hosts: tuple[str, ...] | None = None
) -> Session:
    """The command's Session; a command that writes (mfops.store.writerlock.WRITERS) also takes the
    repository's writer lock here, held until the command ends (click closes its context).
    `hosts`: every `--host` of a command that runs on a pool (cli/commands/poolopts.py)."""
    session = Session.open(
        repo=opts.repo,
        host=host,
        options=ServerOptions(timeout=timeout, connect_timeout=min(timeout, 10.0)),
        hosts=hosts,
    )
    _lock_for_writers(session)
    return session


def _lock_for_writers(session: Session) -> None:
    """Serialise writers: wait for another mfops writing this repo, saying who it is once."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name not in WRITERS or ctx.params.get("dry_run"):
        return
    lock = WriterLock(session.state_dir, f"mfops {ctx.info_name}")

    def waiting(holder: Any) -> None:
        who = holder.describe() if holder is not None else "another mfops process"
        click.echo(
            f"mfops: waiting for {lock.path}, held by {who} (set {TIMEOUT_ENV} to give up sooner)",
            err=True,
        )

    try:
        lock.acquire(timeout=timeout_from_env(), on_wait=waiting)
    except BaseException:
        session.close()
        raise
    ctx.call_on_close(lock.release)
