"""`mfops lint [PATH...] [--format text|json|github] [--list-rules]`: check Modelfiles.

The command only decides *what* to lint and renders the report: the repo root and its
models (so that `FROM engine-bot` is known to be a repo model, not an untagged external base),
the files under each PATH by the naming conventions plus those `mfops.yaml` lists under it,
and paths shown relative to the current directory. The rules live in `mfops.lint.engine`.
"""

from __future__ import annotations

from pathlib import Path

import click

from mfops.behave import load_suites
from mfops.cli.render import github_escape, to_json, use_color
from mfops.errors import EXIT_CHECK_FAILED, RepoError
from mfops.graph.revision import Revision
from mfops.lint.engine import RULES, Finding, lint_paths, lint_targets
from mfops.repo.repository import Repo

_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_COLORS = {"error": "red", "warning": "yellow", "info": "cyan"}


def _display(path: Path) -> str:
    """The path relative to the current directory when it lies below it, else as given."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def _find_root(paths: tuple[Path, ...], explicit: Path | None) -> Path | None:
    """The repo root (mfops.yaml, else git); None outside any repo unless -C was given."""
    start = None
    if paths:
        start = paths[0] if paths[0].is_dir() else paths[0].parent
    try:
        return Repo.find(start, explicit=explicit).root
    except RepoError:
        if explicit is not None:
            raise
        return None


def text_line(f: Finding, *, color: bool = False) -> str:
    """`path:line:col: CODE severity: message (hint)`."""
    severity = click.style(f.severity, fg=_COLORS[f.severity]) if color else f.severity
    hint = f" ({f.hint})" if f.hint else ""
    return f"{f.path}:{f.line}:{f.column}: {f.code} {severity}: {f.message}{hint}"


def github_line(f: Finding) -> str:
    """A workflow command that GitHub Actions shows as an annotation on the line."""
    props = ",".join(
        f"{key}={github_escape(str(value), property_value=True)}"
        for key, value in (("file", f.path), ("line", f.line), ("col", f.column), ("title", f.code))
    )
    text = f.message + (f" ({f.hint})" if f.hint else "")
    return f"::{_GITHUB_LEVEL[f.severity]} {props}::{github_escape(text)}"


def _list_rules(fmt: str) -> None:
    if fmt == "json":
        rules = [
            {"code": r.code, "severity": r.severity, "summary": r.summary} for r in RULES.values()
        ]
        click.echo(to_json(rules))
        return
    for r in RULES.values():
        click.echo(f"{r.code}  {r.severity:<7}  {r.summary}")


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: path:line:col lines; json: an array of findings; github: workflow annotations.",
)
@click.option("--list-rules", is_flag=True, help="Print every rule's code, severity and summary.")
@click.pass_context
def command(ctx: click.Context, paths: tuple[Path, ...], fmt: str, list_rules: bool) -> int:
    """Check Modelfiles for errors Ollama would reject and for risky patterns.

    PATHs default to the repo root. Directories are searched for `Modelfile` and
    `*.Modelfile`, plus the files mfops.yaml lists under them. Each finding reads
    `path:line:col: CODE severity: message`; `--list-rules` explains the codes. A comment
    `# mfops-lint: disable=CODE[,CODE]` in a Modelfile turns codes off for that file.
    Without PATHs the repo's graph and test suites are loaded as every other command loads
    them (a FROM cycle, one model name claimed by two files, a path outside the repository
    or an invalid suite is exit 2 with its file and line). Exit 1 when any error-level
    finding exists, else 0; the summary goes to stderr.
    """
    if list_rules:
        _list_rules(fmt)
        return 0
    explicit = getattr(ctx.obj, "repo", None)
    root = _find_root(paths, explicit)
    files, known = lint_targets(paths, root, display=_display)
    if not files and fmt == "text":
        where = ", ".join(_display(p) for p in paths) if paths else _display(root or Path("."))
        click.echo(
            f"no Modelfiles found in {where} (mfops looks for Modelfile and *.Modelfile, "
            "and the files mfops.yaml lists); nothing to lint",
            err=True,
        )
        return 0
    report = lint_paths(files, known_models=known, display=_display)
    if fmt == "json":
        click.echo(to_json([f.to_dict() for f in report.findings]))
    elif fmt == "github":
        for f in report.findings:
            click.echo(github_line(f))
    else:
        color = use_color(getattr(ctx.obj, "color", None))
        for f in report.findings:
            click.echo(text_line(f, color=color), color=color)
    click.echo(report.summary(), err=True)
    if report.failed:
        return EXIT_CHECK_FAILED
    if root is not None and not paths:
        _check_suites(root)
    return 0


def _check_suites(root: Path) -> None:
    """Load the repo's models and test suites as `mfops test` and the gate would. Called
    only when no finding is an error, so a repo whose graph still does not load has a
    problem no rule names (a FROM cycle, two files claiming one model name, a path outside
    the repository): that error, like an invalid suite (a bad regex, a JSON schema `$ref`
    that leaves the schema), is its `file:line` message, exit 2, as every other command
    would stop on it."""
    rev = Revision(Repo.find(root), None)
    load_suites(rev.snapshot, rev.graph)
