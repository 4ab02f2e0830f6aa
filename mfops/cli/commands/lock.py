"""`mfops lock [--update] [--pull]`: record the server digest of every external base."""

from __future__ import annotations

import click

from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.pullview import pull_progress
from mfops.cli.render import to_json


@click.command("lock")
@click.option(
    "--update",
    is_flag=True,
    help="Take the server's digest for every base, not only for unlocked ones.",
)
@click.option("--pull", is_flag=True, help="Pull each external base from its registry first.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@server_options
@click.pass_obj
def command(opts, update: bool, pull: bool, fmt: str, host: str | None, timeout: float) -> int:
    """Resolve every external FROM to the server's digest and write mfops.lock.

    Without --update, bases already in the lock keep their entry (a server that has another
    digest is reported as `outdated`); new bases are added and bases no model uses any more
    are removed. With --update every entry becomes the server's digest, which changes the
    digests of all descendants, so `mfops build --changed` rebuilds them in order. --pull
    fetches the bases from their registry first (how an upstream update reaches the repo).
    The file is written atomically, and only when it changes.
    """
    from mfops.errors import ServerError
    from mfops.graph.revision import Revision
    from mfops.repo.lockfile import save
    from mfops.repo.repository import LOCK_FILE
    from mfops.server.bases import check, external_bases, locked

    session = open_session(opts, host, timeout)
    try:
        session.probe()
        rev = Revision(session.repo, None)
        refs = external_bases(rev.graph)
        if pull:
            shown = pull_progress(opts.color)
            try:
                for ref in refs:
                    if fmt == "text":
                        click.echo(f"pulling {ref}", err=True)
                    session.server.pull(ref, shown)
            finally:
                shown.close()
        listing = session.server.models()
    finally:
        session.close()
    statuses = check(rev.graph, rev.lock, listing)
    missing = [s.reference for s in statuses if s.state == "missing"]
    if missing:
        raise ServerError(
            f"not on {session.host.display}: {', '.join(missing)}",
            hint="run `mfops lock --pull` to pull them, or `ollama pull` them yourself",
        )
    unused = set(rev.lock.bases) - set(refs)
    new = locked(rev.lock, statuses, update=update, prune=unused)
    rows = []
    for st in statuses:
        if st.locked is None:
            state = "added"
        elif st.locked == st.server:
            state = "unchanged"
        else:
            state = "updated" if update else "outdated"
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
        for ref in sorted(unused)
    ]
    written = new != rev.lock
    if written:
        save(new, session.repo.root / LOCK_FILE)
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
