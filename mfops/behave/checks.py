"""The values assertions work with: a validated `Check`, its `AssertionResult`, a judge's
`Verdict`, and the `Grader` protocol through which grading asks for embeddings, verdicts
and baselines.

They live apart from the registry (assertions.py) so that results, reports and the cache can
use them without the parsing and grading machinery, and so that each file stays one idea.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mfops.behave.baseline import Baseline


@dataclass(frozen=True)
class Check:
    """One validated assertion of a case. `model` is the embedding or judge model it uses
    (resolved from mfops.yaml's defaults at load time); `line` is where it was written."""

    type: str
    value: Any = None
    threshold: float | None = None
    model: str | None = None
    line: int = 0

    def canonical(self) -> dict[str, Any]:
        """What the case digest hashes: everything but the line."""
        out: dict[str, Any] = {"type": self.type}
        for key in ("value", "threshold", "model"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class AssertionResult:
    """The grade of one assertion on one output."""

    type: str
    passed: bool
    message: str
    score: float | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "passed": self.passed,
            "message": self.message,
            "score": self.score,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AssertionResult:
        return cls(
            str(data["type"]),
            bool(data["passed"]),
            str(data["message"]),
            data.get("score"),
            data.get("note"),
        )


@dataclass(frozen=True)
class Verdict:
    """What a judge model said: pass, a score in 0..1 and why."""

    passed: bool
    score: float
    reason: str
    note: str | None = None


class Grader(Protocol):
    """What grading needs beyond the output (provided by the runner, per case run)."""

    server_version: str
    update_baseline: bool

    def similarity(self, model: str, a: str, b: str) -> float: ...

    def judge(self, model: str, rubric: str, output: str) -> Verdict: ...

    def baseline(self) -> Baseline | None: ...

    def baseline_path(self) -> str: ...


@dataclass(frozen=True)
class Models:
    """mfops.yaml's `defaults.embedding_model` and `defaults.judge_model`."""

    embedding: str | None = None
    judge: str | None = None


def show(text: str, limit: int = 120) -> str:
    """A short, quoted excerpt of an output for one-line messages."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(shown)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
