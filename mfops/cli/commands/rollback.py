"""`mfops rollback (NAME | --all) --to TAG [--alias A ...]`: point aliases back at an earlier
release."""

from __future__ import annotations

from typing import Any

import click

from mfops.cli.commands.deploy import rollout_options, run_rollout
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
    metavar="TAG",
    help="The earlier release to point back at (NAME:TAG must exist); with --env, the "
    "release deployed there as TAG (default: the one deployed before the newest).",
)
@click.option(
    "--env",
    "env_name",
    metavar="ENV",
    help="Roll environment ENV back by deploying the earlier release to every host "
    "(as `mfops deploy`), instead of NAME or --all on one server.",
)
@rollout_options
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    metavar="TAG",
    help="The alias to re-point; repeatable (default: latest).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print which aliases would move (with --env: what each host would do); move nothing.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@server_options
@click.pass_obj
def command(
    opts: Any,
    name: str | None,
    all_: bool,
    to_tag: str | None,
    env_name: str | None,
    canary: int,
    max_parallel: int,
    jobs: int,
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

    With --env ENV the whole environment goes back: the release deployed there before the
    newest (or the newest deployed there as --to TAG) is deployed to every host exactly as
    `mfops deploy` does, moving its release tag and aliases back. That release is the
    promote record the earlier deploy deployed, with that record's aliases, even if TAG
    was promoted again since; recorded as a deploy with outcome "rolled back".

    Exit codes: 0 rolled back; 1 refused (NAME:TAG is not on the server) or the copy failed
    (the aliases were put back); 2 bad input or an unreachable server.
    """
    if env_name is not None:
        if name or all_ or aliases or host:
            raise click.UsageError(
                "--env rolls back a whole environment: no NAME, --all, --alias or --host with it"
            )
        return run_rollout(
            opts,
            to_tag,
            env_name,
            canary=canary,
            max_parallel=max_parallel,
            jobs=jobs,
            fmt=fmt,
            timeout=timeout,
            rollback=True,
            dry_run=dry_run,
        )
    if to_tag is None:
        raise click.UsageError("missing option '--to' (the earlier release)")
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
