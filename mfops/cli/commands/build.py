"""`mfops build [NAME...] [--all] [--changed [--since REF]] ...`: create models on Ollama."""

from __future__ import annotations

import click

from mfops.build.execute import Builder
from mfops.build.plan import Selection
from mfops.build.session import plan_build
from mfops.cli.commands import buildview as out
from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.pullview import pull_progress
from mfops.cli.render import to_json


@click.command("build")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--all", "all_", is_flag=True, help="Every model of the repo.")
@click.option(
    "--changed",
    is_flag=True,
    help="The models whose digest differs between REF and the working tree.",
)
@click.option(
    "--since",
    metavar="REF",
    help="REF for --changed (default: the last release per the records, else the newest "
    "version tag reachable from HEAD^, else HEAD~1).",
)
@click.option(
    "--tag",
    metavar="TAG",
    help="Tag to build at (default: defaults.candidate_tag, `sha-<12 hex of HEAD>`); "
    "never a release tag.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Creates at once (default: defaults.jobs in mfops.yaml, 4).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; create nothing.")
@click.option(
    "--explain", is_flag=True, help="Say per model which fields changed and where they came from."
)
@click.option("--force", is_flag=True, help="Rebuild the selected models even if up to date.")
@click.option(
    "--pull",
    is_flag=True,
    help="Pull the external bases first and update mfops.lock to what was pulled.",
)
@click.option(
    "--keep-going/--fail-fast",
    default=True,
    show_default=True,
    help="After a failure, go on with independent models, or start nothing new.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@server_options
@click.pass_obj
def command(
    opts,
    names: tuple[str, ...],
    all_: bool,
    changed: bool,
    since: str | None,
    tag: str | None,
    jobs: int | None,
    dry_run: bool,
    explain: bool,
    force: bool,
    pull: bool,
    keep_going: bool,
    fmt: str,
    host: str | None,
    timeout: float,
) -> int:
    """Build models on Ollama in dependency order.

    Select NAMEs (with the source ancestors they need at the tag), --all, or --changed: every
    model whose digest differs between REF and the working tree, which includes each
    descendant of a changed base and no comment-only edit. Source parents are built at the
    same tag; children are created FROM the parent's content tag (parent:mf-<digest>), so
    the same content gives the same model at every tag. A model is skipped when NAME:TAG
    holds its content tag's model (NAME:mf-<digest>, kept by every build): decided from the
    server alone, as `status` decides it, so every clone agrees. One changed on the server by
    hand is reported as drifted and rebuilt (or copied back from its content tag). Release
    tags and aliases (latest, vX.Y, vX.Y.Z, any tag a release record names) are refused:
    only promote and rollback move them. Each created model is read back and compared
    with the repo; a dropped or altered field fails it.

    Exit codes: 0 all built or up to date; 1 a model failed (its descendants are skipped)
    or an external base on the server is not the one mfops.lock names (both digests are
    shown; --pull takes the new one); 2 bad input or usage, an unreachable server, a base
    missing from the server or from mfops.lock.
    """
    if since and not changed:
        raise click.UsageError("--since needs --changed")
    if sum(bool(x) for x in (names, all_, changed)) != 1:
        raise click.UsageError("give model NAMEs, --all or --changed (exactly one of them)")
    sel = Selection(
        names=names, all=all_, changed=changed, since=since, force=force, explain=explain
    )
    session = open_session(opts, host, timeout)
    try:
        return _run(
            session,
            sel,
            tag=tag,
            jobs=jobs,
            dry_run=dry_run,
            explain=explain,
            pull=pull,
            fail_fast=not keep_going,
            fmt=fmt,
            color=opts.color,
        )
    finally:
        session.close()


def _run(session, sel, *, tag, jobs, dry_run, explain, pull, fail_fast, fmt, color) -> int:
    import sys

    shown = pull_progress(color) if pull and fmt == "text" else None
    try:
        prepared = plan_build(session, sel, tag=tag, pull=pull, dry_run=dry_run, on_pull=shown)
    finally:
        if shown is not None:
            shown.close()
    plan = prepared.plan
    if dry_run:
        if fmt == "json":
            click.echo(to_json(out.plan_json(plan)))
        else:
            click.echo(out.plan_text(plan, explain=explain), nl=False)
        return 0
    jobs = jobs or prepared.rev.snapshot.config.defaults.jobs
    display = None
    if fmt == "text":
        click.echo(out.header_text(plan), nl=False)  # before the builds, not after them
    if fmt == "text" and plan.items:
        display = out.LiveProgress(color) if sys.stdout.isatty() else out.PlainProgress()
    try:
        report = Builder(
            prepared.rev,
            plan,
            server=session.server,
            jobs=jobs,
            fail_fast=fail_fast,
            on_event=display,
        ).run()
    finally:
        if display is not None:
            display.close()
    if fmt == "json":
        click.echo(to_json(out.report_json(report)))
    else:
        if display is not None:
            click.echo("")
        click.echo(out.report_text(report, explain=explain, header=False), nl=False)
    return 1 if report.failed else 0
