"""The CI pipeline in one call: lint -> diff -> build -> test -> promote.

One command, so that a workflow stays a single line and the very same gate runs on a
laptop. Each step returns a typed `Step`; the first that fails stops the pipeline (nothing
is built from files that do not lint, nothing tested that did not build, nothing promoted
that did not pass), and `GateReport.error_line()` names it: `gate failed at build: 1 model
failed`. A step that raises a user error (an unknown ref, an unreachable server, an invalid
suite) fails with that error's exit code (2); a step whose check says no fails with 1. The
lint step also loads and validates every test suite, so a broken suite stops the gate
before anything is built, whichever models changed.

Which models the gate covers (its *scope*), decided once and used by build, test and
promote alike:

- by default the models whose digest differs between REF and the working tree, exactly
  as `build --changed` selects them (an edited model and every descendant of an edited
  base, never a comment-only edit), plus the models whose applicable test cases were
  added or edited since REF (a new case must run before it can be trusted). REF is
  `--since`, else what was actually released: the commit of the newest successful
  promotion on this host per the release records (so a failed release's changes stay in
  scope), else the newest `vX.Y` / `vX.Y.Z` tag reachable from HEAD^, else (release mode)
  every model or (pull-request mode) HEAD~1; the diff step says which base it used;
- with `all`, every model of the repo.

Pull-request mode (no `promote_to`) builds the scope at the candidate tag and tests it;
when the release records know a release, each model is also compared with its current
release (behave/compare.py, release/current.py: a release missing on the server is rebuilt
from its recorded commit, else reported as "no baseline on this server"), and a case whose
pass rate is significantly lower fails the test step. `against` compares with NAME:TAG in
either mode instead.
Release mode (`promote_to`) then promotes the scope to that tag (and aliases),
all-or-nothing, reusing the test step's verdict (the promotion still checks that the
manifests it moves are the ones tested). In release mode every attempt is recorded in git
(history.py): a promotion records itself, and a step that fails with exit 1 before it (lint,
diff, build, test) is recorded as a failed `gate` attempt naming the step; bad input
(exit 2) is never recorded. `dry_run` plans instead: build plan, suites, tag moves. A model
outside the scope keeps its earlier release tags: no tag is ever pointed at content this
run did not build and test. When nothing changed, build, test and promote are skipped and
the gate passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from mfops.behave import load_suites, plan_cases
from mfops.behave.selection import override_samples
from mfops.behave.shard import ShardPlan, ShardSpec, select_shard
from mfops.build.execute import Builder
from mfops.build.plan import Selection, candidate_tag, default_since, select
from mfops.build.session import plan_build
from mfops.diff.revisions import diff_revisions
from mfops.errors import EXIT_CHECK_FAILED, MfopsError
from mfops.graph.revision import Revision
from mfops.graph.revision import Revision as Rev
from mfops.lint.engine import lint_repo, plural
from mfops.release.current import Release, has_releases, release_baselines, restore_release
from mfops.release.poolbuild import build_on_rest
from mfops.release.promote import PromoteRequest, promote, target_of
from mfops.release.signals import held_signals
from mfops.release.verdict import Against, comparing_tester, suite_tester
from mfops.repo import history
from mfops.repo.history import Entry, ModelEntry
from mfops.store.builds import now_utc

if TYPE_CHECKING:
    from mfops.build.execute import BuildEvent
    from mfops.build.session import Session
    from mfops.graph.revision import Revision
    from mfops.release.retag import EventFn
    from mfops.release.verdict import TestSummary

StepName = Literal["lint", "diff", "build", "test", "promote"]
StepStatus = Literal["passed", "failed", "skipped"]
STEPS: tuple[StepName, ...] = ("lint", "diff", "build", "test", "promote")


@dataclass(frozen=True)
class GateOptions:
    since: str | None = None
    candidate_tag: str | None = None
    promote_to: str | None = None
    aliases: tuple[str, ...] = ()
    all: bool = False
    jobs: int | None = None
    use_cache: bool = True
    allow_untested: bool = False
    allow_dirty: bool = False
    dry_run: bool = False
    against: str | None = None  # compare with NAME:TAG (else, in PR mode, the release)
    alpha: float = 0.05
    samples: int | None = None
    shard: ShardSpec | None = None  # run only this shard's units (behave/shard.py)


@dataclass(frozen=True)
class Step:
    """One step's outcome: a one-line `summary`, and `data` for renderers (LintReport,
    DiffResult, BuildReport, TestSummary, promote.Result, or None)."""

    name: StepName
    status: StepStatus
    summary: str
    data: Any = None
    exit_code: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class GateReport:
    steps: tuple[Step, ...]
    tag: str | None = None
    since: str | None = None
    scope: tuple[str, ...] = ()
    since_origin: str | None = None
    record: str | None = None  # id of the gate's failure record, when one was written
    shard: ShardPlan | None = None  # with --shard: what this shard owned

    @property
    def failed(self) -> Step | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def exit_code(self) -> int:
        failed = self.failed
        return 0 if failed is None else failed.exit_code

    def step(self, name: StepName) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def error_line(self) -> str | None:
        failed = self.failed
        return None if failed is None else f"gate failed at {failed.name}: {failed.summary}"


# --------------------------------------------------------------------------- lint


# --------------------------------------------------------------------------- scope


def _cases(rev: Revision) -> dict[str, set[tuple[str, str | None]]]:
    out: dict[str, set[tuple[str, str | None]]] = {}
    for run in plan_cases(load_suites(rev.snapshot, rev.graph), rev.graph):
        out.setdefault(run.model, set()).add((run.case.digest, run.inherited_from))
    return out


def suite_changes(rev: Revision, since: str | None) -> list[str]:
    """Models whose applicable test cases differ between `since` and `rev`: a new or edited
    case must run even when the model itself did not change. When the suites at `since`
    cannot be read, every model with cases counts as changed."""
    now = _cases(rev)
    if since is None:
        return [n for n in rev.graph.order if n in now]
    try:
        old = _cases(Rev(rev.repo, since))
    except MfopsError:
        return [n for n in rev.graph.order if n in now]
    return [n for n in rev.graph.order if now.get(n, set()) != old.get(n, set())]


# --------------------------------------------------------------------------- the pipeline


class Gate:
    """One run of the pipeline; see the module docstring. `run()` once."""

    def __init__(
        self,
        session: Session,
        options: GateOptions,
        *,
        on_step: Callable[[Step], None] | None = None,
        on_build: Callable[[BuildEvent], None] | None = None,
        on_test: Callable[[Any], None] | None = None,
        on_retag: EventFn | None = None,
    ) -> None:
        self.session = session
        self.options = options
        self.on_step = on_step
        self.on_build = on_build
        self.on_test = on_test
        self.on_retag = on_retag
        self.tag: str | None = None
        self.since: str | None = None
        self.since_origin: str | None = None
        self.scope: tuple[str, ...] = ()
        self.rev: Revision | None = None
        self.tests: TestSummary | None = None
        self.shard: ShardPlan | None = None

    def run(self) -> GateReport:
        steps: list[Step] = []
        for name in STEPS:
            began = time.monotonic()
            try:
                step = getattr(self, f"_{name}")()
            except MfopsError as err:
                step = Step(name, "failed", str(err), exit_code=err.exit_code)
            step = replace(step, seconds=round(time.monotonic() - began, 3))
            steps.append(step)
            if self.on_step is not None:
                self.on_step(step)
            if step.status == "failed":
                break
        record = self._record_failure(steps[-1]) if steps else None
        return GateReport(
            tuple(steps), self.tag, self.since, self.scope, self.since_origin, record, self.shard
        )

    def _record_failure(self, step: Step) -> str | None:
        """Record a release gate that failed (exit 1) before its promotion (which records
        itself). Input errors (exit 2) and pull-request runs are not recorded."""
        opts = self.options
        if (
            opts.promote_to is None
            or opts.shard is not None  # one shard is not the release; the merge decides
            or opts.dry_run
            or step.status != "failed"
            or step.name == "promote"
            or step.exit_code != EXIT_CHECK_FAILED
        ):
            return None
        repo = self.session.repo
        tag = self.tag or opts.candidate_tag or "?"
        tests = self.tests
        models = tuple(
            ModelEntry(
                n,
                f"{n}:{tag}",
                tests.models[n].manifest if tests and n in tests.models else None,
                self.rev.digests.get(n) if self.rev is not None else None,
                tests.models[n].status if tests and n in tests.models else "not run",
            )
            for n in self.scope
        )
        at = now_utc()
        entry = Entry(
            id=history.new_id(at),
            kind="gate",
            outcome="failed",
            at=at,
            host=self.session.host.identity,
            from_tag=tag,
            to_tag=opts.promote_to,
            aliases=opts.aliases,
            models=models,
            tests=tests.counts if tests else None,
            failures=tests.failures if tests else (),
            reason=f"gate failed at {step.name}: {step.summary}".splitlines()[0],
            commit=repo.head_commit(),
            dirty=repo.is_dirty(),
            stage=step.name,
        )
        with held_signals():  # a record half-written is no record (signals.py)
            history.append(repo, entry)
        return entry.id

    # -- steps ---------------------------------------------------------------------------

    def _lint(self) -> Step:
        report = lint_repo(self.session.repo.root)
        if report.failed:
            return Step("lint", "failed", report.summary(), report, EXIT_CHECK_FAILED)
        rev = Revision(self.session.repo, None)
        suites = load_suites(rev.snapshot, rev.graph)  # an invalid suite stops the gate here
        self.rev = rev
        return Step(
            "lint",
            "passed",
            f"{report.summary()}; {plural(len(suites), 'test suite')} valid",
            report,
        )

    def _diff(self) -> Step:
        repo = self.session.repo
        if self.options.since:
            repo.resolve_ref(self.options.since)
            self.since, self.since_origin = self.options.since, "--since"
        else:
            self.since, self.since_origin = default_since(
                repo, self.session.host.identity, release=self.options.promote_to is not None
            )
        if self.since is None:
            return Step("diff", "skipped", f"base: {self.since_origin}")
        result = diff_revisions(Revision(repo, self.since), Revision(repo, None))
        label = self.since if self.options.since else self.since_origin
        return Step("diff", "passed", f"since {label}: {result.summary()}", result)

    def _build(self) -> Step:
        opts = self.options
        assert self.rev is not None
        every = opts.all or self.since is None
        sel = Selection(all=every, changed=not every, since=self.since)
        scope = select(self.rev, sel)[0]
        if not every:
            tests = suite_changes(self.rev, self.since)
            if any(n not in scope for n in tests):
                scope = [n for n in self.rev.graph.order if n in scope or n in tests]
                sel = Selection(names=tuple(scope))
        self.scope = tuple(scope)
        if opts.shard is not None and not self.scope:
            self.shard = select_shard([], opts.shard)  # an empty part of an empty plan
        if opts.shard is not None and self.scope:
            # A shard builds only what its units test, with their ancestors (shard.py).
            runs = plan_cases(load_suites(self.rev.snapshot, self.rev.graph), self.rev.graph, scope)
            self.shard = select_shard(override_samples(runs, opts.samples), opts.shard)
            needed = self.rev.graph.closure(self.shard.models, up=True)
            sel = Selection(names=tuple(needed))
            if not needed:
                self.tag = (
                    opts.candidate_tag
                    or candidate_tag(
                        self.session.repo, self.rev.snapshot.config.defaults.candidate_tag
                    )[0]
                )
                return Step("build", "skipped", f"shard {opts.shard}: no work in this shard")
        if not self.scope:  # the server is not even asked: a docs-only change needs none
            self.tag = (
                opts.candidate_tag
                or candidate_tag(
                    self.session.repo, self.rev.snapshot.config.defaults.candidate_tag
                )[0]
            )
            return Step("build", "skipped", "nothing changed: no model to build")
        prepared = plan_build(self.session, sel, tag=opts.candidate_tag, dry_run=opts.dry_run)
        self.rev, plan = prepared.rev, prepared.plan
        self.tag = plan.tag
        if opts.dry_run:
            acts = [i.action for i in plan.items]
            text = (
                f"dry run at {plan.tag}: would create {acts.count('create')}, tag "
                f"{acts.count('tag')}, {len(plan.up_to_date)} up to date"
            )
            return Step("build", "passed", text)
        jobs = opts.jobs or prepared.rev.snapshot.config.defaults.jobs
        report = Builder(
            prepared.rev,
            plan,
            server=self.session.server,
            jobs=jobs,
            on_event=self.on_build,
        ).run()
        counts = [
            f"{report.count(a)} {a}"
            for a in ("created", "tagged", "up to date", "failed", "skipped")
            if report.count(a)
        ]
        if report.failed:
            bad = report.count("failed")
            text = f"{plural(bad, 'model')} failed" if bad else "models were not built"
            skipped = report.count("skipped")
            if skipped:
                text += f", {skipped} skipped"
            return Step("build", "failed", text, report, EXIT_CHECK_FAILED)
        text = f"at {plan.tag}: {', '.join(counts)}"
        if self.session.pool:  # a pool: every host must hold the candidate (poolbuild.py)
            others = build_on_rest(
                self.session, sel, tag=plan.tag, jobs=jobs, on_build=self.on_build
            )
            for other in others:
                if other.report.failed:
                    bad = other.report.count("failed")
                    why = f"{plural(bad, 'model')} failed" if bad else "models were not built"
                    return Step(
                        "build",
                        "failed",
                        f"{why} on {other.host.display} (a host of the pool)",
                        other.report,
                        EXIT_CHECK_FAILED,
                    )
            text += f" on {self.session.host.display}; built on the other " + plural(
                len(others), "host"
            )
        return Step("build", "passed", text, report)

    def _tester(self) -> Callable[[Sequence[str], str], TestSummary]:
        """The suites alone, or compared with a baseline: `--against TAG`, or in
        pull-request mode each model's current release when the records know one."""
        assert self.rev is not None
        opts = self.options
        against: Against | None = opts.against
        if against is None and opts.promote_to is None:
            repo = self.session.repo
            if has_releases(repo):
                jobs = opts.jobs or self.rev.snapshot.config.defaults.jobs

                def restore(model: str, release: Release) -> str | None:
                    return restore_release(self.session, model, release, jobs=jobs)

                against = release_baselines(repo, restore, host=self.session.host.identity)
        shard = self.shard
        only = (lambda runs: list(shard.runs)) if shard is not None else None
        if against is not None:
            return comparing_tester(
                self.session,
                self.rev,
                against,
                alpha=opts.alpha,
                jobs=opts.jobs,
                use_cache=opts.use_cache,
                on_event=self.on_test,
                samples=opts.samples,
                only=only,
            )
        return suite_tester(
            self.session,
            self.rev,
            jobs=opts.jobs,
            use_cache=opts.use_cache,
            on_event=self.on_test,
            samples=opts.samples,
            only=only,
        )

    def _test(self) -> Step:
        if not self.scope:
            return Step("test", "skipped", "nothing changed: no model to test")
        if self.shard is not None and not self.shard.runs:
            return Step("test", "skipped", f"shard {self.shard.spec}: no work in this shard")
        assert self.tag is not None
        if self.options.dry_run:
            assert self.rev is not None
            cases = plan_cases(
                load_suites(self.rev.snapshot, self.rev.graph), self.rev.graph, list(self.scope)
            )
            models = sorted({c.model for c in cases})
            text = (
                f"dry run: {plural(len(cases), 'case')} would run against "
                f"{', '.join(f'{m}:{self.tag}' for m in models) or 'no model'}"
            )
            return Step("test", "passed", text)
        summary = self._tester()(self.scope, self.tag)
        self.tests = summary
        c = summary.counts
        text = (
            f"{plural(c.passed + c.failed + c.errors, 'case')}: {c.passed} passed, "
            f"{c.failed} failed, {c.errors} errors ({c.cached} cached)"
        )
        untested = [n for n, m in summary.models.items() if m.status == "untested"]
        if untested:
            text += f"; no cases for {', '.join(untested)}"
        cmp = summary.comparison
        if cmp is not None:
            text += f"; against the release: {cmp.summary()}"
        bad = [n for n, m in summary.models.items() if m.status in ("failed", "error")]
        if bad:
            text = f"{plural(c.failed, 'case')} failed"
            if c.errors:
                text += f", {plural(c.errors, 'case')} could not run"
            if cmp is not None and cmp.regressions:
                text += f", {plural(len(cmp.regressions), 'case')} regressed"
            return Step("test", "failed", f"{text} ({', '.join(bad)})", summary, EXIT_CHECK_FAILED)
        return Step("test", "passed", text, summary)

    def _promote(self) -> Step:
        opts = self.options
        if opts.promote_to is None:
            return Step("promote", "skipped", "no --promote-to: nothing is promoted")
        if opts.shard is not None:
            return Step(
                "promote",
                "skipped",
                f"shard {opts.shard}: promote after `mfops report merge`, with "
                "`mfops promote --verdict`",
            )
        if not self.scope:
            return Step("promote", "skipped", "nothing changed: no model to promote")
        assert self.rev is not None and self.tag is not None
        session = self.session
        tested = self.tests

        def reuse(names: Sequence[str], tag: str) -> TestSummary:
            """The test step's verdict when it covered these models at this tag."""
            if tested is not None and tag == tested.tag and set(names) <= set(tested.models):
                return tested
            return self._tester()(names, tag)

        if opts.dry_run:
            listing = session.server.models()
            lines = []
            for n in self.scope:
                for t in (opts.promote_to, *opts.aliases):
                    have = listing.get(f"{n}:{t}".casefold())
                    was = have.digest[:12] if have else "absent"
                    lines.append(f"{n}:{t} {was} -> {n}:{self.tag}")
            return Step("promote", "passed", "dry run: would move " + "; ".join(lines))
        target = target_of(session.server, session.repo, session.host.identity)
        req = PromoteRequest(
            self.scope,
            self.tag,
            opts.promote_to,
            opts.aliases,
            allow_untested=opts.allow_untested,
            allow_dirty=opts.allow_dirty,
        )
        result = promote(target, self.rev, req, reuse, on_event=self.on_retag)
        if not result.ok:
            return Step(
                "promote", "failed", result.reason or "promotion refused", result, EXIT_CHECK_FAILED
            )
        tags = ", ".join((opts.promote_to, *opts.aliases))
        return Step(
            "promote",
            "passed",
            f"{plural(len(result.entry.models), 'model')} promoted to {tags}",
            result,
        )


def run_gate(session: Session, options: GateOptions, **hooks: Any) -> GateReport:
    """Run the pipeline (module docstring); `hooks`: on_step, on_build, on_test, on_retag."""
    return Gate(session, options, **hooks).run()
