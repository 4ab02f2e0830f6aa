"""`mfops init [DIR] [--ci github] [--force]`: scaffold a model repository from the templates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from mfops.install import install_line
from mfops.scaffold import INSTALL_TOKEN, next_steps, scaffold

_VERBS = {
    "create": "created",
    "overwrite": "overwrote",
    "merge": "updated",
    "unchanged": "unchanged",
    "kept": "kept",
}
#: Commands longer than this do not set the column where the comments start.
_ALIGN = 24


@click.command("init")
@click.argument(
    "directory", required=False, metavar="[DIR]", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--ci",
    type=click.Choice(["github"]),
    help="Also write the CI promotion gate (.github/workflows/mfops.yml).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
@click.pass_obj
def command(opts: Any, directory: Path | None, ci: str | None, force: bool) -> int:
    """Create a model repository in DIR (default: the current directory) from mfops'
    templates: mfops.yaml, a base Modelfile with the company rules, an expert derived from
    it, behaviour suites for both and a .gitignore for mfops' state; with --ci github, the
    GitHub Actions workflow that gates pull requests and promotes version tags. The
    workflow installs the mfops running init, as it was installed: `mfops==X.Y.Z` for a
    release, `mfops @ git+URL@COMMIT` for a git install; from a local checkout it gets a
    marked placeholder (and a note says so), which the workflow refuses until it is set.

    An existing file with other content is never overwritten without --force: init then
    writes nothing and names the files. Files already identical to the template are left
    as they are, and an existing .gitignore only gets the missing lines. In a directory
    that already holds mfops.yaml, `--ci github` adds just the workflow.
    """
    base = opts.repo if opts is not None and opts.repo is not None else Path(".")
    target = base / directory if directory is not None else base
    install = install_line() if ci is not None else None
    subs = {}
    if install is not None:  # into a double-quoted YAML string
        subs[INSTALL_TOKEN] = install.requirement.replace("\\", "\\\\").replace('"', '\\"')
    done = scaffold(target, ci=ci, force=force, substitutions=subs)
    for item in done.files:
        if item.action == "kept":
            continue
        click.echo(f"{_VERBS[item.action]:<10} {_display(target, item.path)}")
    if not done.written:
        click.echo("nothing to write: everything is in place")
    if install is not None and done.written:
        if install.kind == "local":
            click.echo("the workflow installs: nothing yet (MFOPS_INSTALL is a placeholder)")
        else:
            click.echo(f"the workflow installs: {install.requirement}")
        if install.note:
            click.echo(f"note: {install.note}", err=True)
    kept = done.with_action("kept")
    if kept:
        click.echo(f"kept the existing models and mfops.yaml in {_shown(target)}")
    click.echo("\nnext steps:")
    steps = next_steps(done, shown_root=_shown(target), in_git=_in_git(target))
    width = max(len(cmd) for cmd, why in steps if why and len(cmd) <= _ALIGN)
    for cmd, why in steps:
        click.echo(f"  {cmd:<{width}}  # {why}" if why else f"  {cmd}")
    return 0


def _shown(target: Path) -> str:
    """How to name the target in `cd` advice: relative to here when it is below here."""
    try:
        rel = os.path.relpath(target.resolve(), Path.cwd().resolve())
    except ValueError:  # another drive on Windows
        return str(target)
    return rel if not rel.startswith("..") else str(target.resolve())


def _display(target: Path, rel: str) -> str:
    shown = _shown(target)
    return rel if shown == "." else f"{shown}/{rel}"


def _in_git(target: Path) -> bool:
    """Whether `target` is inside a git work tree (looked up without running git)."""
    here = target.resolve()
    return any((p / ".git").exists() for p in (here, *here.parents))
