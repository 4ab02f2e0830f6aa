"""`mfops graph [--ref REF] [--format tree|dot|mermaid|json]`."""

from __future__ import annotations

import click

from mfops.cli.render import to_json
from mfops.graph import views as graphviews
from mfops.graph.revision import Revision


@click.command("graph")
@click.option("--ref", help="A git ref (tag, branch, SHA); default: the working tree.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tree", "dot", "mermaid", "json"]),
    default="tree",
    help="tree for terminals, dot for Graphviz, mermaid for GitHub Markdown, json for tools.",
)
@click.pass_obj
def command(opts, ref: str | None, fmt: str) -> int:
    """Show the inheritance graph: which model is FROM which."""
    graph = Revision.open(repo=opts.repo, ref=ref).graph
    if fmt == "json":
        click.echo(to_json(graphviews.as_json(graph)))
    else:
        click.echo(
            {"tree": graphviews.tree, "dot": graphviews.dot, "mermaid": graphviews.mermaid}[fmt](
                graph
            )
        )
    return 0
