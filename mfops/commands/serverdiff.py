"""`mfops diff --server A B` / `mfops diff --server [REF]`: differences as the server sees them.

`run` does the work so that `mfops diff` can hand over to it when `--server` is given; the
`command` below is the same thing as a standalone click command (used by the tests, and
usable as `diff --server` until it is wired into `mfops/commands/diff.py`).
"""

from __future__ import annotations

from typing import Any

import click

from mfops.commands.serveropts import open_session, server_options
from mfops.render import to_json


def run(opts: Any, args: tuple[str, ...], *, tag: str | None, names: tuple[str, ...],
        host: str | None, timeout: float, fmt: str, exit_code: bool) -> int:  # fmt: skip
    """Two arguments: two server models. One (or none, meaning HEAD): the repo at that REF
    against the server's build of it."""
    from mfops import serverdiff
    from mfops.revision import Revision

    if len(args) > 2:
        raise click.UsageError("diff --server takes two model names, or one REF")
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


@click.command("diff-server")
@click.argument("args", nargs=-1, metavar="[A B | REF]")
@click.option("--tag", metavar="TAG", help="The tag REF was built at (default: REF when the "
              "server has it, else its candidate tag).")
@click.option("-m", "--model", "names", multiple=True, metavar="NAME", help="Only this model.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 1 when something differs.")
@server_options
@click.pass_obj
def command(opts, args: tuple[str, ...], tag: str | None, names: tuple[str, ...], fmt: str,
            exit_code: bool, host: str | None, timeout: float) -> int:  # fmt: skip
    """Compare two models as they are on the server, or the repo at REF with the server."""
    return run(opts, args, tag=tag, names=names, host=host, timeout=timeout, fmt=fmt,
               exit_code=exit_code)
