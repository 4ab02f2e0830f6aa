"""`--host` and `--timeout`, the options of every command that talks to Ollama.

Kept apart from serveropts.py (which opens the session: the server client, the build
session and the writer lock) so that a command whose server path is optional (`diff
--server`) can declare the options without loading any of that for its everyday run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def timeout_option(
    help: str = "Give up on a server call after this long, retries included (creates, "
    "pulls and test chats have their own deadlines).",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--timeout SECONDS`: one declaration for every command that has it."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=600.0,
        show_default=True,
        metavar="SECONDS",
        help=help,
    )


def server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--host` and `--timeout` to a command."""
    fn = timeout_option()(fn)
    return click.option(
        "--host",
        metavar="URL",
        help="Ollama server (default: OLLAMA_HOST, then defaults.host in mfops.yaml, then "
        "http://127.0.0.1:11434).",
    )(fn)
