"""Which cases run against which models: a suite's own model, plus with `inherit: true`
every descendant of it (a base's company rules must hold for every bot derived from it).

`plan_cases` is the one place that decides applicability, so `mfops test`, promotion and the
gate agree on what "the tests of a model" are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mfops.behave.spec import with_samples

if TYPE_CHECKING:
    from mfops.behave.spec import Case, Suite
    from mfops.graph.inheritance import Graph


@dataclass(frozen=True)
class CaseRun:
    """One case to run against one repo model. `inherited_from` is the suite's model when
    the case reached `model` through `inherit: true` (None for the model's own suites).
    `indices`: the samples to draw when a shard owns only some of them (shard.py; None:
    every sample)."""

    suite: Suite
    case: Case
    model: str
    inherited_from: str | None = None
    indices: tuple[int, ...] | None = None

    @property
    def id(self) -> str:
        """Unique within a run: `model::suite path::case name`."""
        return f"{self.model}::{self.suite.path}::{self.case.name}"

    @property
    def origin(self) -> str:
        """Where the case came from, for reports: `path:line` plus the inheritance."""
        where = f"{self.suite.display}:{self.case.line}"
        if self.inherited_from:
            where += f" (inherited from {self.inherited_from})"
        return where


def plan_cases(
    suites: list[Suite], graph: Graph, names: list[str] | tuple[str, ...] = ()
) -> list[CaseRun]:
    """Every applicable (case, model) pair, for the models `names` (all when empty).

    Unknown names are an UnknownModelError (with suggestions). The result is in dependency
    order of the models, then suite path, then case order, so a base's results come first.
    """
    wanted = {graph[n].name for n in names} if names else None
    per_model: dict[str, list[CaseRun]] = {}
    for suite in suites:
        targets = [suite.model] + (graph.descendants(suite.model) if suite.inherit else [])
        for model in targets:
            if wanted is not None and model not in wanted:
                continue
            inherited = suite.model if model != suite.model else None
            per_model.setdefault(model, []).extend(
                CaseRun(suite, case, model, inherited) for case in suite.cases
            )
    out: list[CaseRun] = []
    for model in graph.order:
        runs = per_model.get(model, [])
        runs.sort(key=lambda r: (r.inherited_from is not None, r.suite.path))
        out.extend(runs)
    return out


def override_samples(runs: list[CaseRun], samples: int | None) -> list[CaseRun]:
    """`--samples N`: every case run draws N samples (a quick run, or a thorough one before a
    release); its digest changes with it, so cached results of other counts are not mixed."""
    if samples is None:
        return runs
    return [replace(r, case=with_samples(r.case, samples)) for r in runs]
