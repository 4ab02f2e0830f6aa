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

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, NamedTuple

from mfops.errors import ModelfileError
from mfops.graph.inheritance import looks_like_path
from mfops.language.modelfile import Comment, Instruction, Modelfile, parse
from mfops.language.names import ModelName, parse_name

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place. `to_dict` gives the stable keys of `mfops lint --format json`."""

    path: str
    line: int
    column: int
    code: str
    severity: Severity
    message: str
    hint: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class LintContext:
    """What a single file cannot tell by itself.

    `known_models` are the repo's model names: an untagged FROM naming one of them is a
    *source* edge built together with it, not a floating external base. `base_dir` is the
    Modelfile's directory, against which Ollama resolves FROM, ADAPTER and DRAFT paths.
    """

    known_models: frozenset[str] = frozenset()
    base_dir: Path = Path(".")


class _Hit(NamedTuple):
    line: int
    column: int
    message: str
    hint: str | None = None


_Check = Callable[["_File"], Iterable[_Hit]]


@dataclass(frozen=True)
class Rule:
    """A rule's stable code, severity and one-line summary (`mfops lint --list-rules`)."""

    code: str
    severity: Severity
    summary: str
    check: _Check | None = field(default=None, repr=False)


RULES: dict[str, Rule] = {}


def _rule(code: str, severity: Severity, summary: str) -> Callable[[_Check], _Check]:
    """Register a check function under a code; the registry is the documentation."""

    def register(fn: _Check) -> _Check:
        RULES[code] = Rule(code, severity, summary, fn)
        return fn

    return register


# Handled by lint_source / lint_file themselves: there is no parsed file to look at.
RULES["MF001"] = Rule("MF001", "error", "Modelfile does not parse: Ollama rejects it")
RULES["MF002"] = Rule("MF002", "error", "Modelfile cannot be read")

_DIRECTIVE = re.compile(r"#\s*mfops-lint\s*:(.*)\Z", re.IGNORECASE)
_DISABLE = re.compile(r"\s*disable\s*=\s*([A-Za-z0-9_,\s]*?)\s*\Z", re.IGNORECASE)
_CODE_SPLIT = re.compile(r"[,\s]+")


class _From(NamedTuple):
    """A FROM decided the way Ollama decides: the filesystem first, then the name grammar."""

    ins: Instruction
    kind: Literal["file", "empty", "missing-path", "invalid", "name"]
    name: ModelName | None = None
    reason: str = ""


def _resolve(value: str, base_dir: Path) -> Path:
    """Ollama's expandPath: absolute as given, `~` is a home directory, else the file's dir."""
    path = Path(os.path.expanduser(value)) if value.startswith("~") else Path(value)
    return path if path.is_absolute() else base_dir / path


def _exists(path: Path) -> bool:
    """os.Stat succeeds; errors other than "not there" count as existing (Ollama aborts then)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True
    return True


class _File:
    """One parsed Modelfile with the facts several rules share, computed once."""

    def __init__(self, mf: Modelfile, ctx: LintContext) -> None:
        self.mf = mf
        self.ctx = ctx

    @cached_property
    def froms(self) -> tuple[_From, ...]:
        out = []
        for ins in self.mf.of("FROM"):
            value = ins.value
            if not value:
                out.append(_From(ins, "empty"))
            elif _exists(_resolve(value, self.ctx.base_dir)):
                out.append(_From(ins, "file"))
            elif looks_like_path(value):
                out.append(_From(ins, "missing-path"))
            else:
                try:
                    out.append(_From(ins, "name", parse_name(value)))
                except ValueError as err:
                    out.append(_From(ins, "invalid", reason=str(err)))
        return tuple(out)

    @cached_property
    def known_untagged(self) -> dict[str, str]:
        """Repo model names by their normalised form, as graph.py matches a FROM to them."""
        out = {}
        for name in sorted(self.ctx.known_models):
            try:
                out[parse_name(name).untagged] = name
            except ValueError:
                out[name] = name
        return out

    @cached_property
    def directives(self) -> tuple[tuple[int, str | None, tuple[str, ...]], ...]:
        """(line, problem or None, codes) for every `# mfops-lint:` comment."""
        out = []
        for comment in (n for n in self.mf.nodes if isinstance(n, Comment)):
            m = _DIRECTIVE.match(comment.text)
            if m is None:
                continue
            body = _DISABLE.match(m.group(1))
            if body is None:
                out.append((comment.line, "expected '# mfops-lint: disable=CODE[,CODE...]'", ()))
                continue
            codes = tuple(c.upper() for c in _CODE_SPLIT.split(body.group(1)) if c)
            out.append((comment.line, None if codes else "no codes after 'disable='", codes))
        return tuple(out)

    @property
    def disabled(self) -> frozenset[str]:
        return frozenset(code for _, _, codes in self.directives for code in codes)


def _at_name(ins: Instruction, message: str, hint: str | None = None) -> _Hit:
    """At the PARAMETER name or MESSAGE role: one blank after the keyword."""
    return _Hit(ins.line, ins.column + len(ins.written) + 1, message, hint)


def _at_value(ins: Instruction, message: str, hint: str | None = None) -> _Hit:
    return _Hit(ins.line, ins.value_column, message, hint)


_DELETE = "delete the line"
_RESOLVED = "paths are resolved from the Modelfile's directory"
_SEE_RULES = "see `mfops lint --list-rules`"
_SEMVER_MESSAGE = "requires must be a valid semver (e.g. 0.14.0)"  # Ollama's own words


# --------------------------------------------------------------------------- entry points


def lint_source(data: bytes | str, path: str, ctx: LintContext) -> list[Finding]:
    """All findings for one Modelfile's content, sorted; a parse error is one MF001 finding."""
    try:
        mf = parse(data, path=path)
    except ModelfileError as err:
        return [
            Finding(path, err.line or 1, err.column or 1, "MF001", "error", err.message, err.hint)
        ]
    f = _File(mf, ctx)
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
    from mfops.repo.sources import read_regular

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
    from mfops.repo.conventions import model_name_for, walk_modelfiles
    from mfops.repo.repository import CONFIG_FILE, load_config

    models: dict[str, Path] = {}
    config_file = root / CONFIG_FILE
    if config_file.is_file():
        from mfops.errors import ConfigError

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
    from mfops.repo.conventions import expand_paths, model_name_for

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


# Registers every rule in RULES; at the end because the rules use the machinery above.
from mfops.lint import rules as lintrules  # noqa: E402,F401
