"""Options shared by every command that talks to Ollama: `--host` and `--timeout`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from mfops.build.session import Session
from mfops.server.client import ServerOptions
from mfops.store.writerlock import TIMEOUT_ENV, WRITERS, WriterLock, timeout_from_env

if TYPE_CHECKING:
    from mfops.build.session import Session


def server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--host` and `--timeout` to a command."""
    fn = click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=600.0,
        show_default=True,
        metavar="SECONDS",
        help="Give up on a server call after this long, retries included (creates, pulls "
        "and test chats have their own deadlines).",
    )(fn)
    return click.option(
        "--host",
        metavar="URL",
        help="Ollama server (default: OLLAMA_HOST, then defaults.host in mfops.yaml, then "
        "http://127.0.0.1:11434).",
    )(fn)


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
