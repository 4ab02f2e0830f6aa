"""The lint machinery the rules are written against: findings, the rule registry, and the facts
about one Modelfile that several rules share.

Kept apart from rules.py (the checks) and engine.py (running them over files and repositories)
so that neither imports the other's internals: rules.py registers into `RULES` here, engine.py
imports rules.py once so that every rule is registered before the first file is linted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, NamedTuple

from mfops.graph.inheritance import looks_like_path
from mfops.language.modelfile import Comment, Instruction, Modelfile
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


class Hit(NamedTuple):
    line: int
    column: int
    message: str
    hint: str | None = None


Check = Callable[["ModelfileFacts"], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """A rule's stable code, severity and one-line summary (`mfops lint --list-rules`)."""

    code: str
    severity: Severity
    summary: str
    check: Check | None = field(default=None, repr=False)


RULES: dict[str, Rule] = {}


def rule(code: str, severity: Severity, summary: str) -> Callable[[Check], Check]:
    """Register a check function under a code; the registry is the documentation."""

    def register(fn: Check) -> Check:
        RULES[code] = Rule(code, severity, summary, fn)
        return fn

    return register


# Handled by lint_source / lint_file themselves: there is no parsed file to look at.
RULES["MF001"] = Rule("MF001", "error", "Modelfile does not parse: Ollama rejects it")
RULES["MF002"] = Rule("MF002", "error", "Modelfile cannot be read")

DIRECTIVE = re.compile(r"#\s*mfops-lint\s*:(.*)\Z", re.IGNORECASE)
_DISABLE = re.compile(r"\s*disable\s*=\s*([A-Za-z0-9_,\s]*?)\s*\Z", re.IGNORECASE)
_CODE_SPLIT = re.compile(r"[,\s]+")


class _From(NamedTuple):
    """A FROM decided the way Ollama decides: the filesystem first, then the name grammar."""

    ins: Instruction
    kind: Literal["file", "empty", "missing-path", "invalid", "name"]
    name: ModelName | None = None
    reason: str = ""


def resolve_path(value: str, base_dir: Path) -> Path:
    """Ollama's expandPath: absolute as given, `~` is a home directory, else the file's dir."""
    path = Path(os.path.expanduser(value)) if value.startswith("~") else Path(value)
    return path if path.is_absolute() else base_dir / path


def path_exists(path: Path) -> bool:
    """os.Stat succeeds; errors other than "not there" count as existing (Ollama aborts then)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):
        return True
    return True


class ModelfileFacts:
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
            elif path_exists(resolve_path(value, self.ctx.base_dir)):
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
        out: list[tuple[int, str | None, tuple[str, ...]]] = []
        for comment in (n for n in self.mf.nodes if isinstance(n, Comment)):
            m = DIRECTIVE.match(comment.text)
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


def at_name(ins: Instruction, message: str, hint: str | None = None) -> Hit:
    """At the PARAMETER name or MESSAGE role: one blank after the keyword."""
    return Hit(ins.line, ins.column + len(ins.written) + 1, message, hint)


def at_value(ins: Instruction, message: str, hint: str | None = None) -> Hit:
    return Hit(ins.line, ins.value_column, message, hint)


DELETE = "delete the line"
RESOLVED = "paths are resolved from the Modelfile's directory"
SEE_RULES = "see `mfops lint --list-rules`"
SEMVER_MESSAGE = "requires must be a valid semver (e.g. 0.14.0)"  # Ollama's own words
