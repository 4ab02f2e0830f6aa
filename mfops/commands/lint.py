"""`mfops lint [PATH...] [--format text|json|github] [--list-rules]`: check Modelfiles.

The command only decides *what* to lint and renders the report: the repo root and its
models (so that `FROM engine-bot` is known to be a repo model, not an untagged external base),
the files under each PATH by the naming conventions plus those `mfops.yaml` lists under it,
and paths shown relative to the current directory. The rules live in `mfops.lint`.
"""

from __future__ import annotations

from pathlib import Path

import click

from mfops.conventions import expand_paths, model_name_for, walk_modelfiles
from mfops.errors import EXIT_CHECK_FAILED, RepoError
from mfops.lint import RULES, Finding, LintReport, lint_paths
from mfops.render import github_escape, to_json, use_color

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
    from mfops.repo import Repo  # imported here: it loads git, which --list-rules never needs

    start = None
    if paths:
        start = paths[0] if paths[0].is_dir() else paths[0].parent
    try:
        return Repo.find(start, explicit=explicit).root
    except RepoError:
        if explicit is not None:
            raise
        return None


def _repo_models(root: Path) -> dict[str, Path]:
    """Every model of the repo: names from mfops.yaml, conventional names for other files."""
    from mfops.repo import CONFIG_FILE, load_config

    models: dict[str, Path] = {}
    config_file = root / CONFIG_FILE
    if config_file.is_file():
        config = load_config(config_file.read_text(encoding="utf-8"), _display(config_file))
        for name, model in config.models.items():
            models[name] = root / model.modelfile
    listed = {p.resolve() for p in models.values()}
    for file in walk_modelfiles(root):
        if file.resolve() not in listed:
            rel = file.relative_to(root).as_posix()
            models.setdefault(model_name_for(rel, root_name=root.resolve().name), file)
    return models


def _targets(paths: tuple[Path, ...], root: Path | None) -> tuple[list[Path], frozenset[str]]:
    """Files to lint and the model names a FROM may refer to."""
    dirs = paths or (root or Path("."),)
    files = expand_paths(dirs)
    if root is None:
        rel = [_display(f) for f in files]
        return files, frozenset(model_name_for(r, root_name=Path.cwd().name) for r in rel)
    models = _repo_models(root)
    seen = {f.resolve() for f in files}
    for file in models.values():
        resolved = file.resolve()
        if resolved in seen:
            continue
        if any(d.is_dir() and resolved.is_relative_to(d.resolve()) for d in dirs):
            files.append(file)
            seen.add(resolved)
    return files, frozenset(models)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(report: LintReport) -> str:
    """`3 errors, 1 warning in 4 files` (info findings counted only when there are some)."""
    parts = [_plural(report.count("error"), "error"), _plural(report.count("warning"), "warning")]
    if report.count("info"):
        parts.append(f"{report.count('info')} info")
    return f"{', '.join(parts)} in {_plural(len(report.files), 'file')}"


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
    Exit 1 when any error-level finding exists, else 0; the summary goes to stderr.
    """
    if list_rules:
        _list_rules(fmt)
        return 0
    explicit = getattr(ctx.obj, "repo", None)
    root = _find_root(paths, explicit)
    files, known = _targets(paths, root)
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
    click.echo(summary(report), err=True)
    return EXIT_CHECK_FAILED if report.failed else 0
