"""What a test run produced: per sample, per case run, and for the whole run, with the
environment it ran in (host, server version, tag, the manifest digests it tested).

These are the values promotion and the gate read: `TestReport.ok`, `.models()` and
`.model_passed(name)`; and what every report writer (report.py) renders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mfops import __version__
from mfops.behave.checks import AssertionResult
from mfops.language.names import parse_name
from mfops.store.builds import now_utc

if TYPE_CHECKING:
    from mfops.behave.selection import CaseRun
    from mfops.server.client import Server

Status = Literal["passed", "failed", "error"]


def display_name(name: str) -> str:
    """How `/api/tags` spells a model name (`judge` -> `judge:latest`), case-folded."""
    try:
        return parse_name(name).display.casefold()
    except ValueError:
        return name.casefold()


@dataclass(frozen=True)
class Environment:
    """Where and against what a run happens; recorded with its results.

    `manifests` maps `/api/tags` names (case-folded) to manifest digests; `digests` maps
    repo models to their mfops content digests (optional: they enrich reports and baselines).
    """

    host: str
    server_version: str
    tag: str
    manifests: Mapping[str, str] = field(default_factory=dict)
    digests: Mapping[str, str] = field(default_factory=dict)
    started_at: str = ""
    mfops_version: str = ""
    #: The servers of a pool run (behave/pool.py), in order; empty for a single host.
    hosts: tuple[str, ...] = ()

    def manifest(self, name: str) -> str | None:
        return self.manifests.get(display_name(name))

    @classmethod
    def probe(
        cls, server: Server, *, tag: str, digests: Mapping[str, str] | None = None
    ) -> Environment:
        """Ask the server for its version and its models (two requests, no inference)."""
        version = server.version()
        listing = {k: m.digest for k, m in server.models().items()}
        return cls(
            server.host.display, version, tag, listing, dict(digests or {}), now_utc(), __version__
        )


@dataclass(frozen=True)
class SampleResult:
    """One sample: the output, its latency and its grades (or why it could not run)."""

    index: int
    options: dict[str, Any]
    output: str = ""
    latency_ms: float = 0.0
    assertions: tuple[AssertionResult, ...] = ()
    cached: bool = False
    error: str | None = None
    #: The pool host that answered this sample (behave/pool.py); "" on a single host or
    #: when the result came from the cache.
    host: str = ""

    @property
    def passed(self) -> bool:
        return self.error is None and all(a.passed for a in self.assertions)

    @property
    def seed(self) -> int | None:
        seed = self.options.get("seed")
        return seed if isinstance(seed, int) else None

    def cache_entry(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "latency_ms": self.latency_ms,
            "assertions": [a.to_json() for a in self.assertions],
        }


@dataclass(frozen=True)
class CaseResult:
    """A case run's outcome. `target` is `model:TAG`; `error` is set when the case could
    not run at all (model not built, judge missing)."""

    run: CaseRun
    target: str
    status: Status
    samples: tuple[SampleResult, ...] = ()
    manifest: str | None = None
    model_digest: str | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def passed_samples(self) -> int:
        return sum(1 for s in self.samples if s.passed)

    @property
    def cached(self) -> bool:
        return bool(self.samples) and all(s.cached for s in self.samples)

    @property
    def notes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.samples:
            for a in s.assertions:
                if a.note:
                    seen.setdefault(a.note, None)
        return tuple(seen)


@dataclass(frozen=True)
class TestReport:
    """Everything a run found, in case-run order, with its environment and call counts."""

    env: Environment
    results: tuple[CaseResult, ...]
    seconds: float = 0.0
    chat_calls: int = 0
    embed_calls: int = 0
    cache_hits: int = 0

    @property
    def failed(self) -> bool:
        return any(r.status != "passed" for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.failed

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    def models(self) -> dict[str, Status]:
        """Per repo model: `passed` when all of its cases passed, else `failed` / `error`."""
        out: dict[str, Status] = {}
        for r in self.results:
            now = out.get(r.run.model, "passed")
            if r.status == "error" or now == "error":
                out[r.run.model] = "error"
            elif r.status == "failed" or now == "failed":
                out[r.run.model] = "failed"
            else:
                out[r.run.model] = "passed"
        return out

    def model_passed(self, model: str) -> bool:
        """True when `model` had cases in this run and every one passed."""
        return self.models().get(model) == "passed"

    @property
    def notes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.results:
            for note in r.notes:
                seen.setdefault(note, None)
        return tuple(seen)


@dataclass(frozen=True)
class TestEvent:
    """For live displays: a sample finished (`sample`), or a whole case did (`result`)."""

    kind: Literal["start", "sample", "case"]
    total: int = 0
    run: CaseRun | None = None
    sample: SampleResult | None = None
    result: CaseResult | None = None


EventFn = Callable[[TestEvent], None]
