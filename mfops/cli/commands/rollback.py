"""`mfops rollback (NAME | --all) --to TAG [--alias A ...]`: point aliases back at an earlier
release."""

from __future__ import annotations

from typing import Any

import click

from mfops.cli.commands.promote import (
    finish,
    preview_json,
    preview_text,
    result_json,
    result_text,
)
from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.render import to_json
from mfops.release.promote import all_at_tag, preview_rollback, rollback, target_of


@click.command("rollback")
@click.argument("name", required=False)
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Every model the server holds at TAG, all or nothing (instead of NAME).",
)
@click.option(
    "--to",
    "to_tag",
    required=True,
    metavar="TAG",
    help="The earlier release to point back at (NAME:TAG must exist).",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    metavar="TAG",
    help="The alias to re-point; repeatable (default: latest).",
)
@click.option("--dry-run", is_flag=True, help="Print which aliases would move; move nothing.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@server_options
@click.pass_obj
def command(
    opts: Any,
    name: str | None,
    all_: bool,
    to_tag: str,
    aliases: tuple[str, ...],
    dry_run: bool,
    fmt: str,
    host: str | None,
    timeout: float,
) -> int:
    """Point an alias back at an earlier release of NAME (or, with --all, of every model the
    server holds at TAG).

    Each --alias (default: latest) is pointed at NAME:TAG by a server-side copy, all or
    nothing: if one copy fails, the aliases already moved, of every model, are put back. No
    tests run (the release was tested when it was promoted), and the repo's Modelfiles are
    not loaded, so a rollback works while the repo is broken. A warning says when the
    history has no record of promoting NAME:TAG on this host. The rollback is recorded in
    git (refs/mfops/history): see `mfops history`.

    Exit codes: 0 rolled back; 1 refused (NAME:TAG is not on the server) or the copy failed
    (the aliases were put back); 2 bad input or an unreachable server.
    """
    if bool(name) == all_:
        raise click.UsageError("give a model NAME or --all (exactly one of them)")
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        target = target_of(session.server, session.repo, session.host.identity)
        names = all_at_tag(session.server, to_tag) if all_ or name is None else [name]
        if dry_run:
            preview = preview_rollback(
                target, names=names, to_tag=to_tag, aliases=aliases or ("latest",)
            )
            click.echo(
                to_json(preview_json(preview)) if fmt == "json" else preview_text(preview), nl=False
            )
            return 0
        result = rollback(target, names=names, to_tag=to_tag, aliases=aliases or ("latest",))
    finally:
        session.close()
    if fmt == "json":
        click.echo(to_json(result_json(result)))
    else:
        click.echo(result_text(result), nl=False)
    return finish(result)
