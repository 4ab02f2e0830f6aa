"""`mfops diff --server A B` / `mfops diff --server [REF]`: differences as the server sees them.

`mfops diff` hands over to `run` when `--server` is given.
"""

from __future__ import annotations

from typing import Any

import click

from mfops.cli.commands.serveropts import open_session
from mfops.cli.render import to_json
from mfops.errors import MfopsError
from mfops.graph.revision import Revision
from mfops.language.names import parse_name
from mfops.server import compare as serverdiff


def run(
    opts: Any,
    args: tuple[str, ...],
    *,
    tag: str | None,
    names: tuple[str, ...],
    host: str | None,
    timeout: float,
    fmt: str,
    exit_code: bool,
) -> int:
    """Two arguments: two server models. One (or none, meaning HEAD): the repo at that REF
    against the server's build of it."""
    if len(args) > 2:
        raise click.UsageError("diff --server takes two model names, or one REF")
    if len(args) == 2:  # refuse what Ollama would refuse before asking it (`-x`, `a b`)
        for name in args:
            try:
                parse_name(name)
            except ValueError as err:
                raise MfopsError(str(err)) from None
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        if len(args) == 2:
            result = serverdiff.diff_models(session.server, args[0], args[1])
        else:
            ref = args[0] if args else "HEAD"
            session.repo.resolve_ref(ref)
            rev = Revision(session.repo, ref)
            result = serverdiff.diff_repo(rev, session.server, tag=tag, names=names)
    finally:
        session.close()
    if fmt == "json":
        click.echo(to_json(serverdiff.to_json(result)))
    else:
        click.echo(serverdiff.render_text(result), nl=False)
    return 1 if exit_code and result.differs else 0
