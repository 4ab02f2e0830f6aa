"""Behavioural regression tests for the repo's models.

A suite (`*.test.yaml`) says what a model must do: prompts and the assertions its answers
must meet. The pieces, in the order a run uses them:

    suites = load_suites(snapshot, graph)            # spec.py: validated, with file:line
    cases = plan_cases(suites, graph, names)         # selection.py: own + inherited cases
    env = Environment.probe(server, tag=tag)         # results.py: version, manifests
    report = run(cases, server, env=env, jobs=8,     # runner.py: parallel samples
                 cache=ResultCache.load(...), baselines=BaselineStore(snapshot))
    # or, with a Session, all of the above and the cache saved:
    report = run_in_session(session, rev, cases, tag=tag)
    text_report(report) / junit_xml(report) / ...   # report.py
    write_baselines(report, repo.root)               # baseline.py (--update-baseline)

`report.ok`, `report.models()` and `report.model_passed(name)` are what promotion asks.
"""

from __future__ import annotations

from mfops.behave.assertions import KINDS, AssertionResult, Check
from mfops.behave.baseline import Baseline, BaselineStore, baseline_path, write_baselines
from mfops.behave.cache import ResultCache
from mfops.behave.client import ModelClient
from mfops.behave.report import (
    empty_junit_xml,
    json_report,
    junit_xml,
    markdown_report,
    text_report,
)
from mfops.behave.results import (
    CaseResult,
    Environment,
    SampleResult,
    TestEvent,
    TestReport,
)
from mfops.behave.runner import run, run_in_session
from mfops.behave.selection import CaseRun, plan_cases
from mfops.behave.spec import Case, Suite, load_suites

__all__ = [
    "KINDS",
    "AssertionResult",
    "Baseline",
    "BaselineStore",
    "Case",
    "CaseResult",
    "CaseRun",
    "Check",
    "Environment",
    "ModelClient",
    "ResultCache",
    "SampleResult",
    "Suite",
    "TestEvent",
    "TestReport",
    "baseline_path",
    "empty_junit_xml",
    "json_report",
    "junit_xml",
    "load_suites",
    "markdown_report",
    "plan_cases",
    "run",
    "run_in_session",
    "text_report",
    "write_baselines",
]
