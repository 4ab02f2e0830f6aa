"""Candidate against release: is the candidate *worse* than what it replaces?

An absolute threshold (`pass_rate`) cannot answer that for a model sampled at temperature
> 0: a candidate refusing in 70% of samples meets 0.5 even when the release refused in
100%. A comparison runs every case on both sides, `NAME:CANDIDATE` and `NAME:BASELINE`,
with the same options and the same seeds (base seed + sample index; a case that fixes no
seed gets `DEFAULT_SEED`, so both sides draw alike and the results cache), in one pool of
`jobs` workers. Per case it counts the passing samples of each side and asks the one-sided
Fisher exact test (stats.py) whether the candidate passes less often; the p-values of all
testable cases are Holm-corrected together, so an indistinguishable candidate does not fail
by chance across 200 cases. A case regresses when its corrected p is at most `alpha`;
improvements are found the same way, the other way round.

Every case gets one verdict:

- `regressed` / `improved` / `unchanged`: the test could say something;
- `underpowered`: even the most extreme outcome (release n/n, candidate 0/n) could not reach
  `alpha` with these sample counts; `needed` says how many samples per side could;
- `new`: the model has no release to compare with (added since the release);
- `no baseline`: the release is not on this server (`reason` says why);
- `error`: the candidate side could not run (that fails the run anyway).

`ok` is False when any case regressed or when the candidate fails its own cases: a
comparison never excuses a failure, it only adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from mfops.behave import stats
from mfops.behave.baseline import BaselineStore
from mfops.behave.cache import ResultCache
from mfops.behave.pool import Pool, pool_targets
from mfops.behave.results import CaseResult, Environment, EventFn, TestReport
from mfops.behave.runner import ParametersFn, Runner, server_parameters
from mfops.behave.spec import case_digest
from mfops.errors import MfopsError

if TYPE_CHECKING:
    from mfops.behave.baseline import BaselineStore
    from mfops.behave.cache import ResultCache
    from mfops.behave.client import ModelClient
    from mfops.behave.selection import CaseRun
    from mfops.build.session import Session
    from mfops.graph.revision import Revision

DEFAULT_ALPHA = 0.05
DEFAULT_SEED = 42

Verdict = Literal[
    "regressed", "improved", "unchanged", "underpowered", "new", "no baseline", "error"
]
VERDICTS: tuple[Verdict, ...] = (
    "regressed",
    "error",
    "improved",
    "underpowered",
    "unchanged",
    "new",
    "no baseline",
)


class BaselineMissing(MfopsError):
    """`--against TAG` names a tag a model does not have on the server (exit 2)."""


@dataclass(frozen=True)
class Baseline:
    """What one model is compared with: `tag`, or None with the reason (`new`: no release
    yet; otherwise why the release cannot be used, e.g. not on this server)."""

    tag: str | None
    reason: str | None = None
    new: bool = False
    source: str = ""  # how the tag was chosen, for reports ("--against", "release v1.2")
    rebuilt: bool = False  # built on this server just now (the listing must be read again)


@dataclass(frozen=True)
class CaseComparison:
    """One case on both sides, with its statistics and verdict (module docstring)."""

    candidate: CaseResult
    baseline: CaseResult | None
    verdict: Verdict
    p_worse: float | None = None
    p_better: float | None = None
    adjusted_worse: float | None = None
    adjusted_better: float | None = None
    needed: int | None = None
    reason: str | None = None

    @property
    def id(self) -> str:
        return self.candidate.run.id

    @property
    def changed(self) -> bool:
        """A verdict a reviewer must see first."""
        return self.verdict in ("regressed", "improved", "error")


@dataclass(frozen=True)
class Comparison:
    """A whole comparison: both sides' reports and a verdict per case, in case order."""

    candidate: TestReport
    baseline: TestReport
    cases: tuple[CaseComparison, ...]
    alpha: float
    baselines: Mapping[str, Baseline]

    @property
    def regressions(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.verdict == "regressed"]

    @property
    def ok(self) -> bool:
        return self.candidate.ok and not self.regressions

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.cases if c.verdict == verdict)

    def tested(self) -> int:
        """How many cases entered the Holm family (both sides ran, enough samples)."""
        return sum(1 for c in self.cases if c.p_worse is not None)

    def holm_samples(self) -> int | None:
        """Samples per side a total collapse needs to stay significant after correcting for
        every tested case (None when nothing was tested)."""
        m = self.tested()
        return stats.samples_needed(self.alpha / m) if m else None

    def model_regressed(self, model: str) -> bool:
        return any(c.candidate.run.model == model for c in self.regressions)

    def summary(self) -> str:
        parts = [f"{self.count(v)} {v}" for v in VERDICTS if self.count(v)]
        return f"{len(self.cases)} cases compared: {', '.join(parts) or 'none'}"


def check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise MfopsError(f"--alpha must be between 0 and 1 (exclusive), got {alpha:g}")


def seeded(run: CaseRun) -> CaseRun:
    """`run` with a fixed seed, so that both sides draw the same seeds (and cache)."""
    seed = run.case.options.get("seed")
    if isinstance(seed, int) and seed != -1:
        return run
    case = replace(run.case, options={**run.case.options, "seed": DEFAULT_SEED})
    return replace(run, case=replace(case, digest=case_digest(case)))


def compare(
    cases: list[CaseRun],
    client: ModelClient,
    *,
    env: Environment,
    baselines: Mapping[str, Baseline],
    alpha: float = DEFAULT_ALPHA,
    jobs: int = 4,
    cache: ResultCache | None = None,
    use_cache: bool = True,
    stores: BaselineStore | None = None,
    on_event: EventFn | None = None,
    parameters: ParametersFn | None = None,
    pool: Pool | None = None,
) -> Comparison:
    """Run `cases` at `env.tag` and at each model's baseline tag; see the module docstring.

    `baselines` maps each model to its `Baseline`; a model missing from it has none. With
    `pool` (then also the `client`), both sides are spread over its hosts (behave/pool.py).
    """
    check_alpha(alpha)
    runs = [seeded(r) for r in cases]
    base_runs = [
        (i, r, baselines[r.model].tag)
        for i, r in enumerate(runs)
        if r.model in baselines and baselines[r.model].tag is not None
    ]
    runner = Runner(
        client,
        env,
        jobs=jobs,
        cache=cache,
        use_cache=use_cache,
        baselines=stores,
        on_event=on_event,
        parameters=parameters,
        pool=pool,
    )
    all_runs = runs + [r for _, r, _ in base_runs]
    tags = [env.tag] * len(runs) + [str(t) for _, _, t in base_runs]
    both = runner.run(all_runs, tags)
    cand = replace(both, results=both.results[: len(runs)])
    base_results = dict(zip((i for i, _, _ in base_runs), both.results[len(runs) :], strict=True))
    base_tags = sorted({str(t) for _, _, t in base_runs})
    base = replace(
        both,
        env=replace(env, tag=", ".join(base_tags) or "-"),
        results=tuple(base_results[i] for i, _, _ in base_runs),
        seconds=both.seconds,
    )
    return decide(cand, base, [base_results.get(i) for i in range(len(runs))], baselines, alpha)


def decide(
    candidate: TestReport,
    baseline: TestReport,
    pairs: list[CaseResult | None],
    baselines: Mapping[str, Baseline],
    alpha: float,
) -> Comparison:
    """The verdicts, given both sides' results (`pairs[i]` is the baseline of case i)."""
    pending: list[dict[str, object]] = []
    for result, other in zip(candidate.results, pairs, strict=True):
        pending.append(_one(result, other, baselines.get(result.run.model), alpha))
    family = [i for i, p in enumerate(pending) if p.get("p_worse") is not None]
    worse = stats.holm([float(pending[i]["p_worse"]) for i in family])  # type: ignore[arg-type]
    better = stats.holm([float(pending[i]["p_better"]) for i in family])  # type: ignore[arg-type]
    for n, i in enumerate(family):
        pending[i]["adjusted_worse"] = worse[n]
        pending[i]["adjusted_better"] = better[n]
        if worse[n] <= alpha:
            pending[i]["verdict"] = "regressed"
        elif better[n] <= alpha:
            pending[i]["verdict"] = "improved"
    out = tuple(
        CaseComparison(candidate=result, baseline=other, **fields)  # type: ignore[arg-type]
        for result, other, fields in zip(candidate.results, pairs, pending, strict=True)
    )
    return Comparison(candidate, baseline, out, alpha, dict(baselines))


def _one(
    result: CaseResult, other: CaseResult | None, line: Baseline | None, alpha: float
) -> dict[str, object]:
    if result.status == "error" or not result.samples:
        return {"verdict": "error", "reason": result.error}
    if line is None or line.tag is None or other is None:
        if line is None or line.new:
            return {"verdict": "new", "reason": "new, no baseline"}
        return {"verdict": "no baseline", "reason": line.reason or "no baseline"}
    if other.status == "error" or not other.samples:
        return {"verdict": "no baseline", "reason": f"the baseline could not run: {other.error}"}
    n1, n0 = len(result.samples), len(other.samples)
    k1, k0 = result.passed_samples, other.passed_samples
    if stats.min_p(n1, n0) > alpha:
        return {
            "verdict": "underpowered",
            "needed": stats.samples_needed(alpha),
            "reason": (
                f"{n1} and {n0} samples cannot show a difference at alpha {alpha:g}; "
                f"use at least {stats.samples_needed(alpha)} per side"
            ),
        }
    return {
        "verdict": "unchanged",
        "p_worse": stats.fisher_less(k1, n1, k0, n0),
        "p_better": stats.fisher_greater(k1, n1, k0, n0),
    }


def against_tag(env: Environment, models: list[str], tag: str) -> dict[str, Baseline]:
    """`--against TAG`: every model compared with `NAME:TAG`, which must be on the server
    (a missing one is a BaselineMissing naming the model and the tag, exit 2)."""
    out: dict[str, Baseline] = {}
    for model in dict.fromkeys(models):
        if env.manifest(f"{model}:{tag}") is None:
            raise BaselineMissing(
                f"{model}:{tag} is not on the server at {env.host}: nothing to compare "
                f"{model} with",
                hint=f"build or pull {model}:{tag}, or choose another --against tag",
            )
        out[model] = Baseline(tag, source=f"--against {tag}")
    return out


def compare_in_session(
    session: Session,
    rev: Revision,
    cases: list[CaseRun],
    *,
    tag: str,
    against: str | Callable[[Environment, list[str]], Mapping[str, Baseline]],
    alpha: float = DEFAULT_ALPHA,
    jobs: int | None = None,
    use_cache: bool = True,
    on_event: EventFn | None = None,
) -> Comparison:
    """`compare` the way `mfops test --against` does it (see `run_in_session`): `against`
    is a tag for every model, or a function choosing each model's baseline from the
    server's listing (the gate's "current release").

    On a pool (`session.pool`) with `against` a tag, the pool is checked for both tags and
    both sides are spread over it; a function `against` (which may rebuild a release on the
    session's server) runs on the pool's first host only."""

    check_alpha(alpha)
    pool = None
    if len(session.pool) > 1 and isinstance(against, str):
        pool = Pool(session.pool, session.server.options)
        try:
            targets = pool_targets(cases, tag) + pool_targets(cases, against)
            env = pool.environment(targets, tag=tag, digests=dict(rev.digests))
        except BaseException:
            pool.close()
            raise
    else:
        env = Environment.probe(session.server, tag=tag, digests=rev.digests)
    models = [r.model for r in cases]
    if isinstance(against, str):
        baselines: Mapping[str, Baseline] = against_tag(env, models, against)
    else:
        baselines = against(env, models)
        if any(b.rebuilt for b in baselines.values()):
            env = Environment.probe(session.server, tag=tag, digests=rev.digests)
    cache = ResultCache.load(session.state_dir, session.host)
    try:
        return compare(
            cases,
            pool if pool is not None else session.server,
            env=env,
            baselines=baselines,
            alpha=alpha,
            cache=cache,
            use_cache=use_cache,
            jobs=jobs or rev.snapshot.config.defaults.jobs,
            stores=BaselineStore(rev.snapshot),
            on_event=on_event,
            parameters=pool.parameters if pool is not None else server_parameters(session.server),
            pool=pool,
        )
    finally:
        if pool is not None:
            pool.close()
        if use_cache:
            cache.save()
