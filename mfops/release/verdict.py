"""What the tests say about the models a promotion wants to move: one verdict per model.

Promotion (promote.py) and the gate need less than a full behave TestReport: for each model,
did every applicable case pass, how many cases were there (none: the model is *untested*),
and which manifest did they run against, so that the tags can be moved to exactly that
manifest. A `Tester` is anything that produces such a `TestSummary` for some models at a tag;
`suite_tester` is the real one (the repo's suites on the session's server, through the same
cache and baselines as `mfops test`), and the gate hands promotion the verdict of its own
test step instead of running the suites twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mfops.behave import load_suites, plan_cases, run_in_session
from mfops.behave.compare import Baseline, Comparison, compare_in_session
from mfops.behave.compare_report import detail
from mfops.behave.selection import override_samples
from mfops.repo.history import TestCounts

if TYPE_CHECKING:
    from mfops.behave import TestEvent, TestReport
    from mfops.behave.results import Environment
    from mfops.behave.selection import CaseRun
    from mfops.build.session import Session
    from mfops.graph.revision import Revision


@dataclass(frozen=True)
class ModelTests:
    """The verdict on one model: `passed`, `failed`, `error` or `untested` (no cases), the
    number of cases, and the manifest digest the cases ran against."""

    status: str
    cases: int = 0
    manifest: str | None = None


@dataclass(frozen=True)
class TestSummary:
    """What a test run says about the models a promotion wants to move."""

    __test__ = False  # not a pytest class, despite the name

    tag: str
    models: Mapping[str, ModelTests]
    counts: TestCounts = field(default_factory=TestCounts)
    failures: tuple[str, ...] = ()
    report: TestReport | None = None
    comparison: Comparison | None = None  # when compared with a release (compare.py)

    @property
    def ok(self) -> bool:
        return all(m.status == "passed" for m in self.models.values())


#: Runs every applicable suite against `name:TAG` for each name; returns the summary.
Tester = Callable[[Sequence[str], str], TestSummary]

#: Narrows a plan of case runs (a shard's part).
Only = Callable[[list["CaseRun"]], list["CaseRun"]]


def _failure_line(result: Any) -> str:
    reason = result.error
    if reason is None:
        for sample in result.samples:
            bad = [a for a in sample.assertions if not a.passed]
            if sample.error or bad:
                reason = sample.error or f"{bad[0].type}: {bad[0].message}"
                break
    first = (reason or result.status).splitlines()[0]
    return f"{result.target}: {result.run.origin} {result.run.case.name!r}: {first}"


def summarize(report: TestReport, names: Sequence[str], tag: str) -> TestSummary:
    """Reduce a behave TestReport to per-model verdicts for `names` (others are ignored)."""
    wanted = set(names)
    statuses = report.models()
    models: dict[str, ModelTests] = {}
    for name in names:
        results = [r for r in report.results if r.run.model == name]
        manifests = {r.manifest for r in results if r.manifest}
        manifest = manifests.pop() if len(manifests) == 1 else None
        models[name] = ModelTests(statuses.get(name, "untested"), len(results), manifest)
    mine = [r for r in report.results if r.run.model in wanted]
    counts = TestCounts(
        sum(r.status == "passed" for r in mine),
        sum(r.status == "failed" for r in mine),
        sum(r.status == "error" for r in mine),
        sum(r.cached for r in mine),
    )
    failures = tuple(_failure_line(r) for r in mine if r.status != "passed")
    return TestSummary(tag, models, counts, failures, report)


def suite_tester(
    session: Session,
    rev: Revision,
    *,
    jobs: int | None = None,
    use_cache: bool = True,
    on_event: Callable[[TestEvent], None] | None = None,
    samples: int | None = None,
    only: Only | None = None,
) -> Tester:
    """A Tester that runs the repo's suites (mfops.behave) on the session's server, exactly
    as `mfops test` does (same cache, same baselines). `only` narrows the planned case runs
    (a shard's part: gate --shard)."""

    def test(names: Sequence[str], tag: str) -> TestSummary:
        suites = load_suites(rev.snapshot, rev.graph)
        cases = plan_cases(suites, rev.graph, list(names)) if names else []
        cases = override_samples(cases, samples)
        if only is not None:
            cases = only(cases)
        report = run_in_session(
            session, rev, cases, tag=tag, jobs=jobs, use_cache=use_cache, on_event=on_event
        )
        return summarize(report, names, tag)

    return test


Against = str | Callable[["Environment", list[str]], Mapping[str, Baseline]]


def comparing_tester(
    session: Session,
    rev: Revision,
    against: Against,
    *,
    alpha: float,
    jobs: int | None = None,
    use_cache: bool = True,
    on_event: Callable[[TestEvent], None] | None = None,
    samples: int | None = None,
    only: Only | None = None,
) -> Tester:
    """A Tester that also compares each model with its baseline (`--against TAG`, or the
    gate's current release): a model with a regressed case is `failed` even when every case
    meets its own pass rate, and each regression is a failure line."""

    def test(names: Sequence[str], tag: str) -> TestSummary:

        suites = load_suites(rev.snapshot, rev.graph)
        cases = plan_cases(suites, rev.graph, list(names)) if names else []
        cases = override_samples(cases, samples)
        if only is not None:
            cases = only(cases)
        cmp = compare_in_session(
            session,
            rev,
            cases,
            tag=tag,
            against=against,
            alpha=alpha,
            jobs=jobs,
            use_cache=use_cache,
            on_event=on_event,
        )
        summary = summarize(cmp.candidate, names, tag)
        models = dict(summary.models)
        for name, verdict in models.items():
            if verdict.status == "passed" and cmp.model_regressed(name):
                models[name] = replace(verdict, status="failed")
        lines = tuple(
            f"{c.candidate.target}: {c.candidate.run.origin} {c.candidate.run.case.name!r}: "
            f"regressed against the baseline: {detail(c)}"
            for c in cmp.regressions
        )
        return replace(summary, models=models, failures=summary.failures + lines, comparison=cmp)

    return test
