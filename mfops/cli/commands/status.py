"""`mfops status [--tag TAG] [--pull] [--upstream] [--format text|json]`: repo versus server
(and, with --upstream, the registries), per model and per base."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mfops.build.status import model_statuses
from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.pullview import pull_progress
from mfops.cli.render import to_json
from mfops.graph.revision import Revision
from mfops.release.deploy import env_status, environment
from mfops.repo.repository import Repo
from mfops.server.bases import check, external_bases
from mfops.server.client import ServerOptions
from mfops.server.registry import RegistrySettings, insecure_pull
from mfops.server.upstream import check_upstream

if TYPE_CHECKING:
    from mfops.server.upstream import UpstreamStatus


@click.command("status")
@click.option("--tag", metavar="TAG", help="Only this tag counts (default: any tag).")
@click.option(
    "--pull",
    is_flag=True,
    help="Pull the external bases first, so they are compared with upstream "
    "(this refreshes the server's copies of the bases, not your models).",
)
@click.option(
    "--upstream",
    is_flag=True,
    help="Also ask each base's registry what it serves now (no pull): locked / on the "
    "server / upstream.",
)
@click.option(
    "--registry-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="With --upstream: give up on a registry's answer after this long.",
)
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 unless every model is up to date, no tag drifted and every base matches the lock.",
)
@click.option(
    "--env",
    "env_name",
    metavar="ENV",
    help="Each host of environment ENV against its newest deploy: which release each model "
    "is at, current / drifted / missing, and behind where the newest rollout did not reach it.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@server_options
@click.pass_obj
def command(
    opts,
    env_name: str | None,
    tag: str | None,
    pull: bool,
    upstream: bool,
    registry_timeout: float,
    exit_code: bool,
    fmt: str,
    host: str | None,
    timeout: float,
) -> int:
    """Show, per model, its digest, its tags on the server and whether the server holds what
    the repo would build now: up to date, stale (only other content on the server), drifted
    (a tag holds a model mfops did not build: changed by hand) or missing. Decided from the
    server's content tags (mf-<digest>) alone, so every clone agrees; `build --dry-run`
    judges a tag the same way. Then the external bases whose server digest differs from
    mfops.lock (with --pull: the upstream digest). With --upstream, each base also shows the
    digest its registry serves now, asked without pulling (as `mfops lock --check` does):
    "is anything stale?" has one answer, and --exit-code counts a base that moved upstream.
    With --env ENV: per host of the environment, the state of each model of its newest
    deploy (the deploy record is the reference; --exit-code fails unless all are current).
    """
    if env_name is not None:
        return env_command(opts, env_name, exit_code, fmt, timeout)
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        rev = Revision(session.repo, None)
        defaults = rev.snapshot.config.defaults
        if pull:
            shown = pull_progress(opts.color)
            try:
                for ref in external_bases(rev.graph):
                    session.server.pull(
                        ref, shown, insecure=insecure_pull(ref, defaults.insecure_registries)
                    )
            finally:
                shown.close()
        listing = session.server.models()
        bases = check(rev.graph, rev.lock, listing, read_back=session.server.show)
    finally:
        session.close()
    rows = model_statuses(rev, listing, tag=tag)
    upstreams: dict[str, UpstreamStatus] = {}
    if upstream:
        settings = RegistrySettings(
            defaults.registry, defaults.insecure_registries, registry_timeout
        )
        upstreams = {u.reference: u for u in check_upstream(rev.graph, rev.lock, settings)}
    bad = (
        any(r.status != "up to date" or r.drifted for r in rows)
        or any(b.state != "ok" for b in bases)
        or any(u.state == "moved" for u in upstreams.values())
    )

    def upstream_fields(ref: str) -> dict[str, object]:
        if not upstream:
            return {}
        u = upstreams[ref]
        return {"upstream": u.upstream, "upstream_state": u.state, "registry": u.registry}

    if fmt == "json":
        click.echo(
            to_json(
                {
                    "host": session.host.display,
                    "tag": tag,
                    "models": [
                        {
                            "model": r.name,
                            "digest": r.digest,
                            "status": r.status,
                            "tags": list(r.tags),
                            "current": list(r.current),
                            "drifted": list(r.drifted),
                        }
                        for r in rows
                    ],
                    "bases": [
                        {
                            "reference": b.reference,
                            "locked": b.locked,
                            "server": b.server,
                            "state": b.state,
                            "same_content": b.same_content,
                            "used_by": list(b.used_by),
                            **upstream_fields(b.reference),
                        }
                        for b in bases
                    ],
                }
            )
        )
        return 1 if exit_code and bad else 0
    click.echo(f"Ollama at {session.host.display}" + (f", tag {tag}" if tag else ""))
    width = max([5, *(len(r.name) for r in rows)])
    click.echo(f"{'model':<{width}}  {'digest':<19}  {'status':<10}  tags on server")
    for r in rows:
        tags = ", ".join(_marked(t, r.current, r.drifted) for t in r.tags) or "-"
        click.echo(f"{r.name:<{width}}  {r.digest[:19]:<19}  {r.status:<10}  {tags}")
    if any(r.current for r in rows):
        click.echo("(* = holds what the repo builds now)")
    if any(r.drifted for r in rows):
        click.echo("(! drifted = changed on the server since mfops built it; rebuild it)")
    if bases:
        click.echo("")
        click.echo("external bases:")
        for b in bases:
            state = {
                "ok": "matches the lock",
                "mismatch": "DIFFERS from the lock",
                "missing": "not on the server",
                "unlocked": "not in mfops.lock",
            }[b.state]
            if b.same_content:
                state = "matches the lock by content (another digest: made there from a file)"
            if not upstream:
                click.echo(
                    f"  {b.reference}: {state} (locked {b.locked or '-'}, server {b.server or '-'})"
                )
                continue
            u = upstreams[b.reference]
            moved = {"current": "current upstream", "moved": "MOVED upstream"}.get(u.state, "")
            click.echo(
                f"  {b.reference}: {state}{'; ' + moved if moved else ''} (locked "
                f"{b.locked or '-'}, server {b.server or '-'}, upstream {u.upstream})"
            )
    return 1 if exit_code and bad else 0


def _marked(tag: str, current: tuple[str, ...], drifted: tuple[str, ...]) -> str:
    if tag in current:
        return f"{tag}*"
    if tag in drifted:
        return f"{tag}! drifted"
    return tag


def env_command(opts: Any, env_name: str, exit_code: bool, fmt: str, timeout: float) -> int:
    """`status --env ENV`: each host against its newest deploy to ENV."""
    repo = Repo.find(explicit=opts.repo)
    env = environment(repo.snapshot(None).config, env_name)
    newest, hosts = env_status(
        repo, env, options=ServerOptions(timeout=timeout, connect_timeout=min(timeout, 10.0))
    )
    bad = any(h.state != "current" for h in hosts)
    if fmt == "json":
        click.echo(
            to_json(
                {
                    "env": env.name,
                    "release": newest.from_tag if newest else None,
                    "aliases": list(newest.aliases) if newest else [],
                    "deploy": newest.id if newest else None,
                    "outcome": newest.outcome if newest else None,
                    "hosts": [
                        {
                            "host": h.host,
                            "state": h.state,
                            "reason": h.reason,
                            "release": h.release,
                            "deploy": h.deploy,
                            "models": [
                                {"name": m.name, "release": m.release, "tags": dict(m.tags)}
                                for m in h.models
                            ],
                        }
                        for h in hosts
                    ],
                }
            )
        )
        return 1 if exit_code and bad else 0
    if newest is None:
        click.echo(
            f"environment {env.name}: nothing deployed yet (mfops deploy TAG --env {env.name})"
        )
    else:
        tags = ", ".join((newest.from_tag, *newest.aliases))
        how = "" if newest.outcome in ("deployed", "rolled back") else f", {newest.outcome}"
        click.echo(f"environment {env.name}: newest deploy {tags} ({newest.id}{how})")
    for h in hosts:
        at = (
            f" at {h.release} ({h.deploy})"
            if h.deploy and h.deploy != (newest and newest.id)
            else ""
        )
        click.echo(f"  {h.host}: {h.state}{at}" + (f" ({h.reason})" if h.reason else ""))
        for m in h.models:
            shown = ", ".join(f"{t} {state}" for t, state in m.tags)
            click.echo(f"      {m.name}: at {m.release or 'an unknown release'}; {shown}")
    return 1 if exit_code and bad else 0
