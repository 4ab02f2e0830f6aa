"""`mfops digest [NAME...] [--ref REF] [--format json]`."""

from __future__ import annotations

import click

from mfops.cli.render import to_json
from mfops.graph.revision import Revision


@click.command("digest")
@click.argument("names", nargs=-1)
@click.option("--ref", help="A git ref (tag, branch, SHA); default: the working tree.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: {name: digest}.",
)
@click.option("--json", "as_json", is_flag=True, hidden=True)  # shipped spelling of --format json
@click.pass_obj
def command(opts, names: tuple[str, ...], ref: str | None, fmt: str, as_json: bool) -> int:
    """Print each model's content digest (changes exactly when the built model would)."""
    rev = Revision.open(repo=opts.repo, ref=ref)
    digests = rev.digests
    # `digests` is in graph order: all of them need no graph (at a commit, maybe not built)
    picked = [rev.graph[n].name for n in names] if names else list(digests)
    if as_json or fmt == "json":
        click.echo(to_json({n: digests[n] for n in picked}))
    elif picked:
        click.echo("\n".join(f"{digests[n]}  {n}" for n in picked))
    return 0
