"""Options shared by every command that talks to Ollama: `--host` and `--timeout`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mfops.session import Session


def server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--host` and `--timeout` to a command."""
    fn = click.option(
        "--timeout", type=click.FloatRange(min=0.1), default=600.0, show_default=True,
        metavar="SECONDS", help="Give up on a server answer after this long (per chunk).",
    )(fn)  # fmt: skip
    return click.option(
        "--host", metavar="URL",
        help="Ollama server (default: OLLAMA_HOST, then defaults.host in mfops.yaml, then "
        "http://127.0.0.1:11434).",
    )(fn)  # fmt: skip


def open_session(opts: Any, host: str | None, timeout: float) -> Session:
    from mfops.server import ServerOptions
    from mfops.session import Session

    return Session.open(
        repo=opts.repo, host=host,
        options=ServerOptions(read_timeout=timeout, connect_timeout=min(timeout, 10.0)),
    )  # fmt: skip
