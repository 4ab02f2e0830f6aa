"""`mfops prune [--dry-run] [--keep N] [--yes] [--env ENV]`: delete candidate tags nothing
needs, on one server or on every host of an environment."""

from __future__ import annotations

import sys
from typing import Any

import click

from mfops.build.plan import candidate_tag
from mfops.build.session import Session
from mfops.build.tags import content_tag
from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.render import to_json
from mfops.errors import EXIT_CHECK_FAILED, MfopsError, RefError, ServerError
from mfops.graph.revision import Revision
from mfops.language.names import parse_name
from mfops.release.deploy import environment
from mfops.release.prune import candidate_pattern, plan_prune, release_tags_of
from mfops.repo import history
from mfops.server.client import Server, ServerOptions
from mfops.server.hosts import Host, normalize_host


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    metavar="N",
    help="Candidates to keep per model, newest by the commit they were built from.",
)
@click.option("-y", "--yes", is_flag=True, help="Delete without asking.")
@click.option(
    "--env",
    "env_name",
    metavar="ENV",
    help="Prune on every host of environment ENV (each planned from its own tags); "
    "instead of --host.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@server_options
@click.pass_obj
def command(
    opts: Any,
    dry_run: bool,
    keep: int,
    yes: bool,
    env_name: str | None,
    fmt: str,
    host: str | None,
    timeout: float,
) -> int:
    """Delete the candidate tags (`sha-<12 hex of the commit>`, as defaults.candidate_tag
    names them) of the repo's models that nothing needs, and the content tags
    (`mf-<12 hex>`) left holding a model no remaining tag holds.

    Kept: HEAD's candidate, every candidate that holds what a release tag or alias of the
    model holds (the tags the release records in git name, `latest`, and version tags such
    as v1.2.3), the newest N others per model by the commit date of the commit they were
    built from, and every content tag another remaining tag shares or that names what the
    repo builds now. Nothing else is touched: release tags, aliases, tags you made with
    `build --tag` and models outside the repo stay. Deleting a tag frees disk only when no
    other tag holds the same model.

    With --env ENV it prunes on every host of the environment (mfops.yaml `environments:`),
    each host planned from its own tags; every host must answer first. On any host, a tag
    holding what a deploy record says that host's release tags hold is kept too.

    Asks before deleting on a terminal; elsewhere pass --yes. Exit codes: 0 done (or nothing
    to do); 1 a delete failed; 2 bad input, no --yes without a terminal, or an unreachable
    server.
    """
    if env_name is not None:
        if host:
            raise click.UsageError("--env prunes every host of the environment: no --host")
        return _prune_env(opts, env_name, dry_run, keep, yes, fmt, timeout)
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        plan = plan_prune(**_inputs(session), keep=keep)
        if fmt == "text":
            click.echo(_plan_text(plan, dry_run=dry_run), nl=False)
        doomed = plan.deletions
        if dry_run or not doomed:
            if fmt == "json":
                click.echo(to_json(_json(plan, dry_run=True, failed={})))
            return 0
        if not yes:
            if not sys.stdin.isatty():
                raise MfopsError("not deleting without confirmation", hint="pass --yes")
            if not click.confirm(f"Delete {len(doomed)} tag(s)?", default=False):
                click.echo("nothing deleted")
                return 0
        failed: dict[str, str] = {}
        for item in doomed:
            try:
                session.server.delete(item.target)
            except ServerError as err:
                failed[item.target] = str(err)
    finally:
        session.close()
    if fmt == "json":
        click.echo(to_json(_json(plan, dry_run=False, failed=failed)))
    else:
        for target, why in failed.items():
            click.echo(f"FAILED {target}: {why}", err=True)
        click.echo(
            f"deleted {len(doomed) - len(failed)} tag(s)"
            + (f", {len(failed)} failed" if failed else "")
        )
    return EXIT_CHECK_FAILED if failed else 0


def _inputs(session: Any) -> dict[str, Any]:
    """The plan's inputs from the repo, the history and one server listing."""

    repo = session.repo
    rev = Revision(repo, None)
    template = rev.snapshot.config.defaults.candidate_tag
    models = {parse_name(n).untagged.casefold(): n for n in rev.graph.order}
    tags: dict[str, dict[str, str]] = {}
    for entry in session.server.models().values():
        try:
            parsed = parse_name(entry.name)
        except ValueError:
            continue
        name = models.get(parsed.untagged.casefold())
        if name is not None:
            tags.setdefault(name, {})[parsed.tag] = entry.digest
    try:
        head_tag: str | None = candidate_tag(repo, template)[0]
    except RefError:
        head_tag = None

    def commit_of(hex_: str) -> tuple[str, int] | None:
        try:
            commit = repo.resolve_ref(hex_)
        except RefError:
            return None
        return commit, repo.store.commit_time(commit)

    deployed: dict[str, set[str]] = {}
    entries = history.load(repo)
    for entry in entries:
        for h in entry.hosts:
            if h.host == session.host.identity and h.models:  # what its tags were moved to
                for m in h.models:
                    if m.manifest:
                        deployed.setdefault(m.name, set()).add(m.manifest)
    return {
        "tags": tags,
        "deployed": deployed,
        "pattern": candidate_pattern(template),
        "release_tags": release_tags_of(entries),
        "head_tag": head_tag,
        "commit_of": commit_of,
        "current": _current_content(rev),
    }


def _current_content(rev: Revision) -> dict[str, str]:
    """Each model's content tag of what the repo builds now (kept by prune); none when the
    digests cannot be computed (e.g. a base not locked yet)."""
    try:
        return {name: content_tag(rev.digests[name]) for name in rev.graph.order}
    except MfopsError:
        return {}


def _plan_text(plan: Any, *, dry_run: bool) -> str:
    if not plan.items:
        return "no candidate tags on the server; nothing to prune\n"
    width = max(len(i.target) for i in plan.items)
    verb = "would delete" if dry_run else "delete"
    lines = [
        f"{(verb if i.delete else 'keep'):<12}  {i.target:<{width}}  {i.why}" for i in plan.items
    ]
    n = len(plan.deletions)
    if not n:
        lines.append("nothing to prune")
    elif dry_run:
        lines.append(f"{n} tag(s) would be deleted (--dry-run: nothing was)")
    return "\n".join(lines) + "\n"


def _json(plan: Any, *, dry_run: bool, failed: dict[str, str]) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "keep": plan.keep,
        "tags": [
            {
                "model": i.name,
                "tag": i.tag,
                "commit": i.commit,
                "action": ("delete" if dry_run else "deleted")
                if i.delete and i.target not in failed
                else ("failed" if i.delete else "keep"),
                "why": i.why,
                "error": failed.get(i.target),
            }
            for i in plan.items
        ],
    }


def _prune_env(
    opts: Any, env_name: str, dry_run: bool, keep: int, yes: bool, fmt: str, timeout: float
) -> int:
    """Prune on every host of an environment: all must answer, then one plan per host."""
    first = open_session(opts, None, timeout)  # the repo and its writer lock
    sessions: list[Session] = []
    try:
        env = environment(first.repo.snapshot(None).config, env_name)
        options = ServerOptions(timeout=timeout, connect_timeout=min(timeout, 10.0))
        for raw in env.hosts:
            one = Host(normalize_host(raw))
            sessions.append(Session(first.repo, one, Server(one, options)))
        for s in sessions:
            s.probe()  # a host down: exit 2 before anything is deleted anywhere
        plans = [(s, plan_prune(**_inputs(s), keep=keep)) for s in sessions]
        doomed = sum(len(p.deletions) for _, p in plans)
        if fmt == "text":
            for s, plan in plans:
                click.echo(f"{s.host.display}:")
                click.echo(_indent(_plan_text(plan, dry_run=dry_run)), nl=False)
        failed: dict[str, dict[str, str]] = {s.host.display: {} for s, _ in plans}
        if not dry_run and doomed:
            if not yes:
                if not sys.stdin.isatty():
                    raise MfopsError("not deleting without confirmation", hint="pass --yes")
                if not click.confirm(
                    f"Delete {doomed} tag(s) on {len(plans)} host(s)?", default=False
                ):
                    click.echo("nothing deleted")
                    return 0
            for s, plan in plans:
                for item in plan.deletions:
                    try:
                        s.server.delete(item.target)
                    except ServerError as err:
                        failed[s.host.display][item.target] = str(err)
    finally:
        for s in sessions:
            s.close()
        first.close()
    done = dry_run or not doomed
    if fmt == "json":
        click.echo(
            to_json(
                {
                    "env": env.name,
                    "hosts": [
                        {
                            "host": s.host.display,
                            **_json(plan, dry_run=done, failed=failed[s.host.display]),
                        }
                        for s, plan in plans
                    ],
                }
            )
        )
    elif not done:
        for where, bad in failed.items():
            for target, why in bad.items():
                click.echo(f"FAILED {where} {target}: {why}", err=True)
        n = sum(len(b) for b in failed.values())
        click.echo(
            f"deleted {doomed - n} tag(s) on {len(plans)} host(s)" + (f", {n} failed" if n else "")
        )
    return EXIT_CHECK_FAILED if any(failed.values()) else 0


def _indent(text: str) -> str:
    return "".join(f"  {line}" for line in text.splitlines(keepends=True))
