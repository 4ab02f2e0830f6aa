"""`mfops history [NAME] [--format text|json]`: promotions and rollbacks, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mfops.cli.render import to_json
from mfops.repo import history
from mfops.repo.records import RecordStore
from mfops.repo.repository import Repo
from mfops.server.hosts import host_identity

if TYPE_CHECKING:
    from mfops.repo.history import Entry


@click.command("history")
@click.argument("name", required=False)
@click.option(
    "--host",
    metavar="URL",
    help="Only records of this server (any spelling: localhost, 127.0.0.1 and [::1] are one).",
)
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), metavar="N", help="Only the N newest entries."
)
@click.option(
    "--sync",
    "sync_remote",
    metavar="REMOTE",
    help="First fetch REMOTE's records, merge them with this clone's and push the result "
    "(e.g. origin); retried when someone else pushed meanwhile.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Leave out records this mfops cannot read, instead of stopping at the first.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def command(
    opts: Any,
    name: str | None,
    host: str | None,
    limit: int | None,
    sync_remote: str | None,
    skip_invalid: bool,
    fmt: str,
) -> int:
    """Show promotions, rollbacks and failed release gates, newest first, with refused and
    failed attempts.

    Records are commits on the git ref refs/mfops/history (and the copies fetched into
    refs/mfops/remotes/*), never files of the working tree, so every clone shows the same
    history after `git fetch origin '+refs/mfops/history:refs/mfops/remotes/origin'`;
    publish yours with `git push origin refs/mfops/history`. Give NAME to see only entries
    involving that model, --host for one server. Each entry lists the exact commit (and
    whether it was dirty), what each tag pointed at before and after (manifest digests) and
    the test results the promotion was based on. Reading it does not contact the server.
    """
    repo = Repo.find(explicit=opts.repo)
    if sync_remote is not None:
        pushed, _ = RecordStore(repo.store).sync(sync_remote)
        if fmt == "text":
            click.echo(
                f"records synced with {sync_remote}"
                if pushed
                else f"no records here or on {sync_remote} yet",
                err=True,
            )
    wanted = host_identity(host) if host else None
    entries = list(reversed(history.load(repo, name, host=wanted, skip_invalid=skip_invalid)))
    if limit is not None:
        entries = entries[:limit]
    if fmt == "json":
        click.echo(to_json([e.to_json() for e in entries]))
    elif not entries:
        what = f" for {name}" if name else ""
        where = f" for {wanted}" if wanted else ""
        click.echo(f"no releases{what} recorded{where} (refs/mfops/history)")
    else:
        click.echo("\n".join(entry_text(e) for e in entries), nl=False)
    return 0


_VERB = {
    "promoted": "promoted",
    "rolled back": "rolled back",
    "refused": "REFUSED",
    "failed": "FAILED",
    "deployed": "deployed",
}


def entry_text(e: Entry) -> str:
    """A headline, one line per destination, the failures and the reason."""
    if e.kind == "promote":
        tags = ", ".join([e.to_tag or "", *e.aliases])
        head = f"{e.at}  {_VERB[e.outcome]:<11} {e.from_tag} -> {tags}"
    elif e.kind == "deploy":
        tags = ", ".join([e.from_tag, *e.aliases])
        how = " (rollback)" if e.outcome == "rolled back" else ""
        head = f"{e.at}  {_VERB[e.outcome]:<11} {tags} to env {e.env}{how}"
    elif e.kind == "gate":
        head = f"{e.at}  {_VERB[e.outcome]:<11} gate at {e.stage} ({e.from_tag} -> {e.to_tag})"
    else:
        head = f"{e.at}  {_VERB[e.outcome]:<11} {', '.join(e.aliases)} -> {e.from_tag} (rollback)"
    lines = [head + f"  [{e.id}]"]
    commit = e.commit[:12] if e.commit else "no commit"
    lines.append(f"    on {e.host}, commit {commit}" + (" (dirty)" if e.dirty else ""))
    if e.tests is not None:
        t = e.tests
        lines.append(
            f"    tests: {t.passed} passed, {t.failed} failed, {t.errors} errors "
            f"({t.cached} cached)"
        )
    for h in e.hosts:
        why = f" ({h.reason.splitlines()[0]})" if h.reason else ""
        lines.append(f"    {h.host}: {h.state}{why}")
    for m in e.models:
        for d in m.destinations:
            was = d.before[:12] if d.before else "absent"
            now = d.after[:12] if d.after else "absent"
            change = f"{was} -> {now}" if d.moved else f"{now} (unchanged)"
            lines.append(f"    {m.name}:{d.tag}  {change}  [{m.tests}]")
    lines += [f"    failed: {f}" for f in e.failures]
    if e.reason:
        lines.append(f"    reason: {e.reason}")
    return "\n".join(lines) + "\n"
