"""`mfops history [NAME] [--format text|json]`: promotions and rollbacks, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mfops.cli.render import to_json
from mfops.release import history
from mfops.repo.repository import STATE_DIR, Repo
from mfops.server.client import resolve_host
from mfops.store.builds import BuildState

if TYPE_CHECKING:
    from mfops.release.history import Entry


@click.command("history")
@click.argument("name", required=False)
@click.option(
    "--host",
    metavar="URL",
    help="Whose history (default: OLLAMA_HOST, then defaults.host in mfops.yaml, "
    "then http://127.0.0.1:11434).",
)
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), metavar="N", help="Only the N newest entries."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def command(opts: Any, name: str | None, host: str | None, limit: int | None, fmt: str) -> int:
    """Show promotions and rollbacks, newest first, with refused and failed attempts.

    The history is kept per server host in .mfops/ (never committed), so it shows what
    this checkout did to that server. Give NAME to see only entries involving that model.
    Each entry lists what each tag pointed at before and after (manifest digests) and the
    test results the promotion was based on. Reading it does not contact the server.
    """
    repo = Repo.find(explicit=opts.repo)
    configured = repo.snapshot(None).config.defaults.host
    the_host = resolve_host(host, configured)
    state = BuildState.load(repo.root / STATE_DIR, the_host)
    entries = list(reversed(history.load(state, name)))
    if limit is not None:
        entries = entries[:limit]
    if fmt == "json":
        click.echo(to_json([e.to_json() for e in entries]))
    elif not entries:
        what = f" for {name}" if name else ""
        click.echo(f"no promotions{what} recorded for {the_host.display}")
    else:
        click.echo("\n".join(entry_text(e) for e in entries), nl=False)
    return 0


_VERB = {
    "promoted": "promoted",
    "rolled back": "rolled back",
    "refused": "REFUSED",
    "failed": "FAILED",
}


def entry_text(e: Entry) -> str:
    """A headline, one line per destination, the failures and the reason."""
    if e.kind == "promote":
        tags = ", ".join([e.to_tag or "", *e.aliases])
        head = f"{e.at}  {_VERB[e.outcome]:<11} {e.from_tag} -> {tags}"
    else:
        head = f"{e.at}  {_VERB[e.outcome]:<11} {', '.join(e.aliases)} -> {e.from_tag} (rollback)"
    lines = [head + f"  [{e.id}]"]
    if e.tests is not None:
        t = e.tests
        lines.append(
            f"    tests: {t.passed} passed, {t.failed} failed, {t.errors} errors "
            f"({t.cached} cached)"
        )
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
