"""Lint rules for Modelfiles: what Ollama would reject, and what it would silently get wrong.

`ollama create` stops at the first problem and says little about the quiet ones: a mistyped
path becomes a registry pull, an untagged base moves under you, a repeated SYSTEM drops the
first without a word. Each rule here turns one such case into a `Finding` at the exact line
and column, so that a whole repository can be checked in one pass (every bad PARAMETER, not
only the first) and CI can fail on errors only.

Severities: *error* means Ollama refuses the file or builds something other than what is
written (a missing path pulled as a model name); *warning* means the file builds but
probably not as intended; *info* is style that never changes the built model.

A comment line `# mfops-lint: disable=MF302,MF305` anywhere in a file turns those codes off
for that file. MF001 and MF002 cannot be disabled: a file that does not parse has no
comments to read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mfops.errors import ConfigError, ModelfileError
from mfops.fileio.regular import read_regular
from mfops.language.modelfile import parse

# Importing the rules registers every check in RULES.
from mfops.lint import rules as _rules  # noqa: F401
from mfops.lint.registry import RULES, Finding, LintContext, ModelfileFacts, Rule, Severity
from mfops.repo.conventions import expand_paths, model_name_for, walk_modelfiles
from mfops.repo.repository import CONFIG_FILE, load_config

__all__ = ["RULES", "Finding", "LintContext", "LintReport", "Rule", "Severity"]


# --------------------------------------------------------------------------- entry points


def lint_source(data: bytes | str, path: str, ctx: LintContext) -> list[Finding]:
    """All findings for one Modelfile's content, sorted; a parse error is one MF001 finding."""
    try:
        mf = parse(data, path=path)
    except ModelfileError as err:
        return [
            Finding(path, err.line or 1, err.column or 1, "MF001", "error", err.message, err.hint)
        ]
    f = ModelfileFacts(mf, ctx)
    disabled = f.disabled
    findings = [
        Finding(path, hit.line, hit.column, rule.code, rule.severity, hit.message, hit.hint)
        for rule in RULES.values()
        if rule.check is not None and rule.code not in disabled
        for hit in rule.check(f)
    ]
    return sorted(findings, key=Finding.sort_key)


def lint_file(
    file: Path, *, known_models: frozenset[str] = frozenset(), display: str | None = None
) -> list[Finding]:
    """Lint a file on disk; paths in it resolve from its directory. Unreadable: MF002."""
    shown = display if display is not None else str(file)

    try:
        data = read_regular(file)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        return [Finding(shown, 1, 1, "MF002", "error", f"cannot read Modelfile: {reason}")]
    return lint_source(data, shown, LintContext(known_models, file.parent))


@dataclass(frozen=True)
class LintReport:
    """The findings of a batch, and which files were checked: the CLI renders it."""

    findings: tuple[Finding, ...]
    files: tuple[str, ...]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def failed(self) -> bool:
        """Any error-level finding: `mfops lint` exits 1."""
        return any(f.severity == "error" for f in self.findings)

    def summary(self) -> str:
        """`3 errors, 1 warning in 4 files` (info findings counted only when there are some)."""
        parts = [plural(self.count("error"), "error"), plural(self.count("warning"), "warning")]
        if self.count("info"):
            parts.append(f"{self.count('info')} info")
        return f"{', '.join(parts)} in {plural(len(self.files), 'file')}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def repo_models(root: Path) -> dict[str, Path]:
    """Every model of the repo by name, without parsing: mfops.yaml's names for the files it
    lists, conventional names for the others (a broken Modelfile must still be linted, so
    this cannot go through Snapshot.models, which parses)."""
    models: dict[str, Path] = {}
    config_file = root / CONFIG_FILE
    if config_file.is_file():
        try:
            text = config_file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:  # as Snapshot.read_text reports it
            raise ConfigError(f"not UTF-8 text ({err.reason})", path=CONFIG_FILE) from None
        config = load_config(text, CONFIG_FILE)
        for name, model in config.models.items():
            models[name] = root / model.modelfile
    listed = {p.resolve() for p in models.values()}
    for file in walk_modelfiles(root):
        if file.resolve() not in listed:
            rel = file.relative_to(root).as_posix()
            models.setdefault(model_name_for(rel, root_name=root.resolve().name), file)
    return models


def lint_targets(
    paths: tuple[Path, ...], root: Path | None, *, display: Callable[[Path], str] = str
) -> tuple[list[Path], frozenset[str]]:
    """Files to lint (directories searched by convention, plus the files mfops.yaml lists
    under them) and the model names a FROM may refer to."""
    dirs = paths or (root or Path("."),)
    files = expand_paths(dirs)
    if root is None:
        names = (model_name_for(display(f), root_name=Path.cwd().name) for f in files)
        return files, frozenset(names)
    models = repo_models(root)
    seen = {f.resolve() for f in files}
    for file in models.values():
        resolved = file.resolve()
        if resolved in seen:
            continue
        if any(d.is_dir() and resolved.is_relative_to(d.resolve()) for d in dirs):
            files.append(file)
            seen.add(resolved)
    return files, frozenset(models)


def lint_repo(root: Path, *, display: Callable[[Path], str] | None = None) -> LintReport:
    """What `mfops lint` with no PATH checks: every Modelfile of the repo."""

    def relative(path: Path) -> str:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return str(path)

    show = display or relative
    files, known = lint_targets((), root, display=show)
    return lint_paths(files, known_models=known, display=show)


def lint_paths(
    files: Iterable[Path],
    *,
    known_models: frozenset[str] = frozenset(),
    display: Callable[[Path], str] = str,
) -> LintReport:
    """Lint every file (already expanded: see conventions.expand_paths) into one report."""
    findings: list[Finding] = []
    shown: list[str] = []
    for file in files:
        name = display(file)
        shown.append(name)
        findings.extend(lint_file(file, known_models=known_models, display=name))
    return LintReport(tuple(sorted(findings, key=Finding.sort_key)), tuple(shown))
