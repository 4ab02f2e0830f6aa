"""`mfops lock [BASE]... [--check] [--update] [--pull]`: record the server digest of every
external base, or ask the registries whether a base moved upstream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.pullview import pull_progress
from mfops.cli.render import to_json
from mfops.errors import MfopsError
from mfops.fileio.markdown import code_span
from mfops.graph.revision import Revision
from mfops.language.names import parse_name
from mfops.repo.repository import LOCK_FILE, Repo
from mfops.server.bases import external_bases, refresh_lock
from mfops.server.registry import RegistrySettings, insecure_pull
from mfops.server.upstream import check_upstream

if TYPE_CHECKING:
    from mfops.server.upstream import UpstreamStatus


@click.command("lock")
@click.argument("bases", nargs=-1, metavar="[BASE]...")
@click.option(
    "--check",
    is_flag=True,
    help="Ask each base's registry for its current manifest digest (no pull, no Ollama "
    "server) and compare it with the lock: exit 1 when a base moved upstream, 2 when a "
    "registry cannot say.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Take the server's digest for every base (or each BASE; with --check, each base "
    "that moved), not only for unlocked ones.",
)
@click.option("--pull", is_flag=True, help="Pull those bases from their registry first.")
@click.option(
    "--registry-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="With --check: give up on a registry's answer after this long.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="markdown (with --check): the moved bases as a pull request's body.",
)
@server_options
@click.pass_obj
def command(
    opts,
    bases: tuple[str, ...],
    check: bool,
    update: bool,
    pull: bool,
    registry_timeout: float,
    fmt: str,
    host: str | None,
    timeout: float,
) -> int:
    """Resolve every external FROM to the server's digest and write mfops.lock.

    Without --update, bases already in the lock keep their entry (a server that has another
    digest is reported as `outdated`); new bases are added and bases no model uses any more
    are removed. With --update every entry (or each BASE named) becomes the server's digest,
    which changes the digests of all descendants, so `mfops build --changed` rebuilds them in
    order. --pull fetches the bases from their registry first (how an upstream update
    reaches the repo). The file is written atomically, and only when it changes.

    --check asks the registries instead, without pulling and without a server: a short name
    is looked up at defaults.registry in mfops.yaml, else at Ollama's registry; a name with
    a host at that host (plain http only for hosts in defaults.insecure_registries). Each
    base is `current`, `moved` (naming both digests and the models that depend on it) or
    `unlocked`. Exit 1 when a base moved, 2 when a registry cannot be reached or answers
    wrongly; the lock is not touched. With --update (and --pull) the moved bases are then
    taken into the lock: a scheduled job's one step; the exit code is still the check's.
    """
    refs = _references(bases)
    if fmt == "markdown" and not check:
        raise click.UsageError("--format markdown needs --check")
    if not check:
        return _resolve(opts, refs, update, pull, fmt, host, timeout)
    rev = Revision(Repo.find(explicit=opts.repo), None)
    _known(rev, refs)
    statuses = _upstream(rev, refs, registry_timeout)
    moved = [s.reference for s in statuses if s.state == "moved"]
    result: dict[str, Any] = {"bases": [_upstream_row(s) for s in statuses], "moved": moved}
    if update and moved:
        written = _resolve(opts, tuple(moved), True, pull, "none", host, timeout)
        result["written"] = bool(written)
    if fmt == "json":
        click.echo(to_json(result))
    elif fmt == "markdown":
        click.echo(_markdown(statuses), nl=False)
    else:
        _show_upstream(statuses, updated=update)
    return 1 if moved else 0


def _references(bases: tuple[str, ...]) -> tuple[str, ...]:
    """BASE arguments in the lock's spelling (`llama3.2` -> `llama3.2:latest`)."""
    out = []
    for text in bases:
        try:
            out.append(parse_name(text).display)
        except ValueError as err:
            raise MfopsError(str(err)) from None
    return tuple(dict.fromkeys(out))


def _known(rev: Revision, refs: tuple[str, ...]) -> None:
    used = external_bases(rev.graph)
    for ref in refs:
        if ref not in used:
            known = ", ".join(used) or "none"
            raise MfopsError(
                f"{ref} is not an external base of this repo",
                hint=f"its external bases: {known}",
            )


def _upstream(rev: Revision, refs: tuple[str, ...], deadline: float) -> list[UpstreamStatus]:
    defaults = rev.snapshot.config.defaults
    settings = RegistrySettings(defaults.registry, defaults.insecure_registries, deadline)
    return check_upstream(rev.graph, rev.lock, settings, only=refs or None)


def _upstream_row(s: UpstreamStatus) -> dict[str, Any]:
    return {
        "reference": s.reference,
        "registry": s.registry,
        "state": s.state,
        "locked": s.locked,
        "upstream": s.upstream,
        "used_by": list(s.used_by),
        "affected": list(s.affected),
    }


def _show_upstream(statuses: list[UpstreamStatus], *, updated: bool) -> None:
    for s in statuses:
        if s.state == "moved":
            click.echo(f"moved     {s.reference}  (at {s.registry})")
            click.echo(f"  locked    {s.locked}")
            click.echo(f"  upstream  {s.upstream}")
            click.echo(f"  models    {', '.join(s.affected)}")
        else:
            click.echo(f"{s.state:<9} {s.reference}  {s.upstream}  (at {s.registry})")
    moved = [s for s in statuses if s.state == "moved"]
    if not statuses:
        click.echo("no external bases")
    elif not moved:
        click.echo("no base moved upstream")
    elif updated:
        click.echo(f"{LOCK_FILE} updated; `mfops build --changed` rebuilds the models above")
    else:
        names = " ".join(s.reference for s in moved)
        click.echo(
            f"{len(moved)} base(s) moved upstream: `mfops lock --update --pull {names}` takes "
            "them, then `mfops build --changed` rebuilds the models above"
        )


def _markdown(statuses: list[UpstreamStatus]) -> str:
    """The moved bases as Markdown: what changed upstream and which models it reaches."""
    moved = [s for s in statuses if s.state == "moved"]
    if not moved:
        return "No external base moved upstream.\n"
    lines = [
        "### External bases that moved upstream",
        "",
        "| base | registry | locked digest | upstream digest | models rebuilt |",
        "|---|---|---|---|---|",
    ]
    for s in moved:
        models = ", ".join(code_span(m) for m in s.affected)
        cells = [code_span(s.reference), s.registry, code_span(s.locked or "-")]
        cells += [code_span(s.upstream), models]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _resolve(
    opts: Any,
    targets: tuple[str, ...],
    update: bool,
    pull: bool,
    fmt: str,
    host: str | None,
    timeout: float,
) -> int:
    """The server side: pull, list, write the lock. Returns whether the lock was written
    when `fmt` is 'none' (the caller reports), else the exit code."""
    session = open_session(opts, host, timeout)
    try:
        rev = Revision(session.repo, None)
        _known(rev, targets)
        refs = external_bases(rev.graph)
        insecure = rev.snapshot.config.defaults.insecure_registries
        session.probe()
        if pull:
            shown = pull_progress(opts.color)
            try:
                for ref in targets or tuple(refs):
                    if fmt == "text":
                        click.echo(f"pulling {ref}", err=True)
                    session.server.pull(ref, shown, insecure=insecure_pull(ref, insecure))
            finally:
                shown.close()
        listing = session.server.models()
        refresh = refresh_lock(
            rev.graph,
            rev.lock,
            listing,
            session.repo.root / LOCK_FILE,
            host=session.host.display,
            update=update,
            named=targets or None,
            prune=True,
            read_back=session.server.show,
        )
    finally:
        session.close()
    new = refresh.new
    rows = []
    for st in refresh.statuses:
        if st.locked is None:
            state = "added"
        elif st.server is None or st.locked == st.server:
            state = "unchanged"
        else:
            state = "updated" if new.get(st.reference) == st.server else "outdated"
        rows.append(
            {
                "reference": st.reference,
                "digest": new.get(st.reference),
                "server": st.server,
                "previous": st.locked,
                "state": state,
                "used_by": list(st.used_by),
            }
        )
    rows += [
        {
            "reference": ref,
            "digest": None,
            "server": None,
            "previous": rev.lock.get(ref),
            "state": "removed",
            "used_by": [],
        }
        for ref in refresh.removed
    ]
    written = refresh.written
    if fmt == "none":
        return int(written)
    if fmt == "json":
        click.echo(to_json({"file": LOCK_FILE, "written": written, "bases": rows}))
        return 0
    for row in rows:
        line = f"{row['state']:<9} {row['reference']}  {row['digest'] or row['previous']}"
        if row["state"] == "outdated":
            line += f"  (server has {row['server']}; --update takes it)"
        click.echo(line)
    if not rows:
        click.echo("no external bases")
    click.echo(f"{LOCK_FILE} {'written' if written else 'unchanged'}")
    return 0
