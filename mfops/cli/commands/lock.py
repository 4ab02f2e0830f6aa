"""`mfops lock [--update] [--pull]`: record the server digest of every external base."""

from __future__ import annotations

import click

from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.render import to_json
from mfops.graph.revision import Revision
from mfops.repo.repository import LOCK_FILE
from mfops.server.bases import external_bases, refresh_lock


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
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        rev = Revision(session.repo, None)
        refs = external_bases(rev.graph)
        if pull:
            for ref in refs:
                if fmt == "text":
                    click.echo(f"pulling {ref}", err=True)
                session.server.pull(ref)
        listing = session.server.models()
    finally:
        session.close()
    refresh = refresh_lock(
        rev.graph,
        rev.lock,
        listing,
        session.repo.root / LOCK_FILE,
        host=session.host.display,
        update=update,
        prune=True,
    )
    new = refresh.new
    rows = []
    for st in refresh.statuses:
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
        for ref in refresh.removed
    ]
    written = refresh.written
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
