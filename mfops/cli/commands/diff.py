"""`mfops diff [A [B]] [-m NAME ...]`: what changed between two versions, model by model."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import click

from mfops.cli.commands.hostopts import server_options
from mfops.cli.render import to_json, use_color
from mfops.diff import changes as diff
from mfops.diff.jsonview import to_dict
from mfops.diff.render import render_markdown, render_text
from mfops.diff.revisions import diff_revisions
from mfops.errors import RefError
from mfops.graph.revision import Revision
from mfops.repo.repository import Repo

if TYPE_CHECKING:
    from mfops.cli.main import GlobalOptions

#: Where `--server` runs, imported only when it is given, as main.py's LazyGroup imports a
#: command: it brings the server client, the build session and the writer lock (~40 ms of
#: imports) that comparing two refs never uses.
SERVER_DIFF = "mfops.cli.commands.serverdiff"


@click.command("diff")
@click.argument("old_ref", metavar="[A]", required=False)
@click.argument("new_ref", metavar="[B]", required=False)
@click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only this model (its name at A or B); repeat for more.",
)
@click.option(
    "--declared",
    is_flag=True,
    help="Compare what each Modelfile says instead of the effective configs.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for terminals, json for tools (stable schema), markdown for PRs.",
)
@click.option("--stat", is_flag=True, help="One line per model: what kinds of things changed.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are differences.")
@click.option(
    "--suggest-version",
    is_flag=True,
    help="Classify the change (major/minor/patch) and propose the next version tag.",
)
@click.option(
    "--server",
    "on_server",
    is_flag=True,
    help="Compare on the server: A B are two server models; one A is a REF "
    "compared with what the server holds for it.",
)
@click.option("--tag", metavar="TAG", help="With --server REF: the tag REF was built at.")
@server_options
@click.pass_obj
def command(
    opts: GlobalOptions,
    old_ref: str | None,
    new_ref: str | None,
    models: tuple[str, ...],
    declared: bool,
    fmt: str,
    stat: bool,
    exit_code: bool,
    suggest_version: bool,
    on_server: bool,
    tag: str | None,
    host: str | None,
    timeout: float,
) -> int:
    """Show what changed between two versions, model by model.

    A and B are git refs (tags, branches, SHAs); B defaults to the working tree and A to
    HEAD, as with `git diff` (`A..B` works too). A model is listed when its digest differs:
    comment-only edits and moved files are not changes, and a base's change shows on every
    descendant that inherits it ("inherited from engine-bot"); --declared compares only what
    each Modelfile says. Exit codes: 0; 1 with --exit-code when something differs; 2 for an
    unknown ref or a repo that does not load at a ref.
    """
    if on_server:
        return importlib.import_module(SERVER_DIFF).run(
            opts,
            tuple(a for a in (old_ref, new_ref) if a),
            tag=tag,
            names=models,
            host=host,
            timeout=timeout,
            fmt="json" if fmt == "json" else "text",
            exit_code=exit_code,
        )

    repo = Repo.find(explicit=opts.repo)
    if old_ref and new_ref is None and ".." in old_ref and "..." not in old_ref:
        old_ref, new_ref = old_ref.split("..", 1)  # `A..B` means `A B`, as in git diff
        old_ref, new_ref = old_ref or "HEAD", new_ref or "HEAD"
    defaulted = old_ref is None
    old_ref = old_ref or "HEAD"
    refs = [ref for ref in (old_ref, new_ref) if ref is not None]
    try:
        # an unknown ref fails here, before any loading (both refs: one git process)
        resolved = iter(repo.resolve_refs(refs))
    except RefError as err:
        if defaulted and "'HEAD'" in err.message and not err.hint:
            err.hint = "no commit yet? give the version to compare with: mfops diff REF"
        raise
    commits = [next(resolved) if ref is not None else None for ref in (old_ref, new_ref)]
    result = diff_revisions(
        Revision(repo, old_ref, commit=commits[0]),
        Revision(repo, new_ref, commit=commits[1]),
        mode="declared" if declared else "effective",
        names=models,
    )
    suggestion = None
    if suggest_version:
        tags = repo.version_tags(reachable_from=new_ref or "HEAD")
        suggestion = diff.suggest_version(result, tags)
    if fmt == "json":
        click.echo(to_json(to_dict(result, suggestion)))
    elif fmt == "markdown":
        click.echo(render_markdown(result, stat=stat, suggestion=suggestion), nl=False)
    else:
        color = use_color(opts.color)
        click.echo(
            render_text(result, color=color, stat=stat, suggestion=suggestion),
            nl=False,
            color=color,
        )
    return 1 if exit_code and result.models else 0
