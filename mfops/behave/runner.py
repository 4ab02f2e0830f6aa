"""Running cases: samples in parallel, assertions, pass rates, the cache.

The unit of work is one *sample* of one case run: a chat request, then every assertion on
the reply (which may itself ask for embeddings or a judge's verdict). Up to `jobs` samples
run at once on a thread pool, and each worker makes one request at a time, so the server
never sees more than `jobs` requests from a run.

Sample `i` of a case is sent with `seed = base seed + i` (when the options fix a seed), so
samples of a non-greedy case differ from each other but are the same from run to run. A
case passes when at least `ceil(pass_rate x samples)` samples pass every assertion; any
sample that could not run (a server error) makes the case an *error*, never a pass.

Before any request, each case run is checked against the server's listing: a model not
built at the tag, or a judge or embedding model the server lacks, is an error for that case
(nothing is sent). When the server stops answering, nothing new is started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mfops.behave.assertions import KINDS, AssertionResult, Verdict, cosine, grade
from mfops.behave.baseline import BaselineStore, baseline_path
from mfops.behave.cache import ResultCache, cacheable, sample_key
from mfops.behave.judge import ask_judge
from mfops.behave.pool import Pool, pool_targets
from mfops.behave.results import (
    CaseResult,
    Environment,
    EventFn,
    SampleResult,
    Status,
    TestEvent,
    TestReport,
)
from mfops.errors import ConfigError, MfopsError
from mfops.language.suggest import missing_tag_hint
from mfops.server.client import ServerUnreachable

if TYPE_CHECKING:
    from mfops.behave.baseline import Baseline, BaselineStore
    from mfops.behave.cache import ResultCache
    from mfops.behave.client import ModelClient
    from mfops.behave.selection import CaseRun
    from mfops.build.session import Session
    from mfops.graph.revision import Revision
    from mfops.server.client import Server

__all__ = [
    "CaseResult",
    "Environment",
    "Runner",
    "SampleResult",
    "TestEvent",
    "TestReport",
    "run",
    "run_in_session",
    "sample_options",
]


class _Counting:
    """Counts the requests a run makes (reports and tests rely on the numbers)."""

    def __init__(self, client: ModelClient) -> None:
        self.client = client
        self.chats = 0
        self.embeds = 0
        self._lock = threading.Lock()
        self._vectors: dict[tuple[str, str], list[float]] = {}

    def chat(
        self, model: str, messages: list[dict[str, str]], options: dict[str, Any], fmt: Any
    ) -> tuple[str, float]:
        with self._lock:
            self.chats += 1
        return self.client.chat(model, messages, options, fmt, deadline=CASE_DEADLINE)

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """Embeddings, each text embedded once per run (reference texts repeat a lot)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if (model, t) not in self._vectors))
        if missing:
            with self._lock:
                self.embeds += 1
            vectors = self.client.embed(model, missing)
            if len(vectors) != len(missing):
                raise MfopsError(
                    f"embedding model {model} returned {len(vectors)} vectors "
                    f"for {len(missing)} texts"
                )
            with self._lock:
                self._vectors.update(((model, t), v) for t, v in zip(missing, vectors, strict=True))
        with self._lock:
            return [self._vectors[(model, t)] for t in texts]


class _Grader:
    """What the assertions of one case run may ask for (see assertions.Grader)."""

    def __init__(
        self,
        client: _Counting,
        run: CaseRun,
        baselines: BaselineStore | None,
        server_version: str,
        update_baseline: bool,
    ) -> None:
        self.client = client
        self.run = run
        self.baselines = baselines
        self.server_version = server_version
        self.update_baseline = update_baseline

    def similarity(self, model: str, a: str, b: str) -> float:
        va, vb = self.client.embed(model, [a, b])
        return cosine(va, vb)

    def judge(self, model: str, rubric: str, output: str) -> Verdict:
        return ask_judge(self.client, model, rubric, output)  # type: ignore[arg-type]

    def baseline(self) -> Baseline | None:
        return self.baselines.get(self.run) if self.baselines is not None else None

    def baseline_path(self) -> str:
        return baseline_path(self.run)


@dataclass
class _Prepared:
    run: CaseRun
    target: str
    manifest: str | None
    digest: str | None
    error: str | None = None
    keys: list[str | None] = field(default_factory=list)
    samples: list[SampleResult | None] = field(default_factory=list)
    started: float = 0.0
    pending: int = 0
    cap: bool = True
    skipped: set[int] = field(default_factory=set)  # samples another shard owns


#: Tokens a reply may have when neither the suite nor the model itself sets `num_predict`
#: (issue 13 item 12): a real model that rambles would otherwise write until 10 x its context
#: (a tiny one: 2,560 tokens, minutes under load) and stall the gate. A model's own
#: `PARAMETER num_predict` is how it is deployed, so it is never overridden (request options
#: win over Modelfile parameters on the server). Shown in every report.
DEFAULT_NUM_PREDICT = 512

#: Seconds one chat of a case may take, retries included (also bounded by --timeout).
CASE_DEADLINE = 120.0


def sample_options(options: dict[str, Any], index: int, *, cap: bool = True) -> dict[str, Any]:
    """Sample `index`'s options: the base seed + index when a seed is fixed, and (with `cap`:
    the model sets no `num_predict` of its own) the default token cap when the suite sets none."""
    out = dict(options)
    if cap:
        out.setdefault("num_predict", DEFAULT_NUM_PREDICT)
    seed = out.get("seed")
    if isinstance(seed, int) and seed != -1 and index:
        out["seed"] = seed + index
    return out


#: The stored parameters of a server model (`name:tag`), as `/api/show` reports them.
ParametersFn = Callable[[str], Mapping[str, object]]


def server_parameters(server: Server) -> ParametersFn:
    """`ParametersFn` over a server: what it stores for a model, empty when it has none."""

    def parameters(target: str) -> Mapping[str, object]:
        config = server.show(target)
        return config.parameters if config is not None else {}

    return parameters


class Runner:
    """Runs a list of case runs once; see `run()`."""

    def __init__(
        self,
        client: ModelClient,
        env: Environment,
        *,
        jobs: int = 4,
        cache: ResultCache | None = None,
        use_cache: bool = True,
        baselines: BaselineStore | None = None,
        update_baseline: bool = False,
        on_event: EventFn | None = None,
        parameters: ParametersFn | None = None,
        pool: Pool | None = None,
    ) -> None:
        self.client = _Counting(client)
        self.pool = pool  # several hosts: samples are spread by behave/pool.py
        self.parameters = parameters
        self._own_cap: dict[str, bool] = {}
        self.env = env
        self.jobs = max(1, jobs)
        self.cache = cache
        self.use_cache = use_cache
        self.baselines = baselines
        self.update_baseline = update_baseline
        self.on_event = on_event
        self._lock = threading.Lock()
        self._stop: str | None = None
        self.hits = 0

    def _emit(self, event: TestEvent) -> None:
        if self.on_event is not None:
            with self._lock:
                self.on_event(event)

    # -- preparation ---------------------------------------------------------------------

    def _model_sets_num_predict(self, target: str) -> bool:
        """Whether `target` carries its own `num_predict` (asked once per model and tag)."""
        if self.parameters is None:
            return False
        with self._lock:
            known = self._own_cap.get(target)
        if known is None:
            try:
                known = "num_predict" in self.parameters(target)
            except MfopsError:
                known = False  # the chat itself will say what is wrong with the model
            with self._lock:
                self._own_cap[target] = known
        return known

    def _prepare(self, run: CaseRun, tag: str | None = None) -> _Prepared:
        env = self.env
        tag = tag or env.tag
        target = f"{run.model}:{tag}"
        # The mfops digest describes the working tree's model: only the candidate side has it.
        digest = env.digests.get(run.model) if tag == env.tag else None
        prep = _Prepared(run, target, env.manifest(target), digest)
        if prep.manifest is None:
            hint = missing_tag_hint(run.model, tag, env.manifests)
            prep.error = f"{target} is not on the server at {env.host} ({hint})"
            return prep
        aux: dict[str, str] = {}
        for check in run.case.assertions:
            if check.model is None:
                continue
            have = env.manifest(check.model)
            if have is None:
                role = "judge" if KINDS[check.type].needs == "judge" else "embedding"
                prep.error = (
                    f"{role} model {check.model} (line {check.line}) is not on the "
                    f"server at {env.host}; pull it first (ollama pull "
                    f"{check.model})"
                )
                return prep
            aux[check.model] = have
        has_baseline = any(c.type == "baseline" for c in run.case.assertions)
        baseline_sha = None
        if has_baseline and not self.update_baseline and self.baselines is not None:
            try:
                found = self.baselines.get(run)
            except ConfigError as err:
                prep.error = str(err)
                return prep
            baseline_sha = found.sha256 if found is not None else ""
        reuse = self.use_cache and not (has_baseline and self.update_baseline)
        prep.cap = "num_predict" not in run.case.options and not self._model_sets_num_predict(
            target
        )
        owned = set(range(run.case.samples)) if run.indices is None else set(run.indices)
        for i in range(run.case.samples):
            if i not in owned:  # another shard's sample (shard.py): neither run nor cached
                prep.keys.append(None)
                prep.samples.append(None)
                prep.skipped.add(i)
                continue
            opts = sample_options(run.case.options, i, cap=prep.cap)
            key = None
            if self.cache is not None and cacheable(opts) and reuse:
                key = sample_key(
                    manifest=prep.manifest,
                    model_digest=prep.digest or "",
                    case_digest=run.case.digest,
                    options=opts,
                    sample=i,
                    aux=aux,
                    baseline=baseline_sha,
                    server_version=env.server_version,
                )
            prep.keys.append(key)
            prep.samples.append(self._cached(key, i, opts))
        return prep

    def _cached(self, key: str | None, index: int, options: dict[str, Any]) -> SampleResult | None:
        if key is None or self.cache is None:
            return None
        entry = self.cache.get(key)
        if entry is None:
            return None
        try:
            grades = tuple(AssertionResult.from_json(a) for a in entry["assertions"])
            found = SampleResult(
                index,
                options,
                str(entry["output"]),
                float(entry["latency_ms"]),
                grades,
                cached=True,
            )
        except (KeyError, TypeError, ValueError):
            return None
        self.hits += 1
        return found

    # -- one sample ----------------------------------------------------------------------

    def _sample(self, prep: _Prepared, index: int) -> SampleResult:
        run = prep.run
        opts = sample_options(run.case.options, index, cap=prep.cap)
        if self._stop is not None:
            return SampleResult(index, opts, error=f"not run: {self._stop}")
        grader = _Grader(
            self.client, run, self.baselines, self.env.server_version, self.update_baseline
        )
        try:
            output, latency = self.client.chat(
                prep.target, run.case.message_dicts(), opts, run.case.format
            )
            grades = tuple(grade(c, output, latency, grader) for c in run.case.assertions)
        except MfopsError as err:
            host = ""
            if self.pool is not None:
                self.pool.check_lost(err)  # a dead host's sample goes to another host
                host = self.pool.current()
            elif isinstance(err, ServerUnreachable):
                self._stop = err.message
            return SampleResult(index, opts, error=str(err), host=host)
        host = self.pool.current() if self.pool is not None else ""
        result = SampleResult(index, opts, output, round(latency, 1), grades, host=host)
        key = prep.keys[index]
        if key is not None and self.cache is not None:
            self.cache.put(key, result.cache_entry())
        return result

    # -- the whole run -------------------------------------------------------------------

    def _finish(self, prep: _Prepared) -> CaseResult:
        case = prep.run.case
        elapsed = round(time.monotonic() - prep.started, 3)
        if prep.error is not None:
            return CaseResult(
                prep.run, prep.target, "error", (), prep.manifest, prep.digest, 0.0, prep.error
            )
        samples = tuple(s for s in prep.samples if s is not None)
        errors = [s.error for s in samples if s.error]
        failing = sum(not s.passed for s in samples)
        if errors:
            status: Status = "error"
        elif prep.skipped:  # a shard's part: failed only when no other part can save it
            status = "failed" if failing > case.samples - case.required else "passed"
        else:
            status = "passed" if sum(s.passed for s in samples) >= case.required else "failed"
        return CaseResult(
            prep.run,
            prep.target,
            status,
            samples,
            prep.manifest,
            prep.digest,
            elapsed,
            errors[0] if errors else None,
        )

    def run(self, cases: list[CaseRun], tags: list[str] | None = None) -> TestReport:
        """Run every case run once; `tags[i]` (default `env.tag`) is the tag case run `i`
        is sent to, so that both sides of a comparison share one pool of `jobs` workers."""
        began = time.monotonic()
        tags = tags if tags is not None else [self.env.tag] * len(cases)
        preps = [self._prepare(r, t) for r, t in zip(cases, tags, strict=True)]
        todo = [
            (p, i)
            for p in preps
            if p.error is None
            for i, s in enumerate(p.samples)
            if s is None and i not in p.skipped
        ]
        total = sum(r.case.samples if r.indices is None else len(r.indices) for r in cases)
        self._emit(TestEvent("start", total=total))
        finished: dict[int, CaseResult] = {}
        for n, prep in enumerate(preps):
            prep.started = began
            prep.pending = (
                sum(1 for i, s in enumerate(prep.samples) if s is None and i not in prep.skipped)
                if prep.error is None
                else 0
            )
            for s in prep.samples:
                if s is not None:
                    self._emit(TestEvent("sample", run=prep.run, sample=s))
            if prep.pending == 0:
                finished[n] = self._finish(prep)
                self._emit(TestEvent("case", result=finished[n]))
        index = {id(p): n for n, p in enumerate(preps)}

        def work(prep: _Prepared, i: int) -> None:
            result = self._sample(prep, i)
            with self._lock:
                prep.samples[i] = result
                prep.pending -= 1
                last = prep.pending == 0
            self._emit(TestEvent("sample", run=prep.run, sample=result))
            if last:
                done = self._finish(prep)
                with self._lock:
                    finished[index[id(prep)]] = done
                self._emit(TestEvent("case", result=done))

        if todo and self.pool is not None:
            self.pool.dispatch(todo, lambda item: work(*item), self.jobs)
        elif todo:
            with ThreadPoolExecutor(
                max_workers=min(self.jobs, len(todo)), thread_name_prefix="mfops-test"
            ) as pool:
                futures = [pool.submit(work, p, i) for p, i in todo]
                try:
                    for fut in futures:
                        fut.result()
                except BaseException:
                    # an interrupt (a cancelled CI job is killed seconds after its SIGTERM)
                    # or a failure: start no more samples, only the calls in flight end
                    for fut in futures:
                        fut.cancel()
                    raise
        results = tuple(finished[n] for n in range(len(preps)))
        return TestReport(
            self.env,
            results,
            round(time.monotonic() - began, 3),
            self.client.chats,
            self.client.embeds,
            self.hits,
        )


def run(
    cases: list[CaseRun],
    client: ModelClient,
    *,
    env: Environment,
    jobs: int = 4,
    cache: ResultCache | None = None,
    use_cache: bool = True,
    baselines: BaselineStore | None = None,
    update_baseline: bool = False,
    on_event: EventFn | None = None,
    parameters: ParametersFn | None = None,
    pool: Pool | None = None,
) -> TestReport:
    """Run `cases` against `env.tag` through `client`; see the module docstring.

    `cache`: where results are looked up and stored (the caller saves it); `use_cache=False`
    bypasses it entirely (`--no-cache`). `baselines`: the store `baseline` assertions read. With
    `update_baseline`, `baseline` assertions pass and their cases are run afresh, so that
    `write_baselines` can record the new outputs.
    """
    return Runner(
        client,
        env,
        jobs=jobs,
        cache=cache,
        use_cache=use_cache,
        baselines=baselines,
        update_baseline=update_baseline,
        on_event=on_event,
        parameters=parameters,
        pool=pool,
    ).run(cases)


def run_in_session(
    session: Session,
    rev: Revision,
    cases: list[CaseRun],
    *,
    tag: str,
    jobs: int | None = None,
    use_cache: bool = True,
    update_baseline: bool = False,
    on_event: EventFn | None = None,
) -> TestReport:
    """`run` the way `mfops test` does it, for promotion and the gate to reuse: probe the
    session's server, read the host's result cache under `.mfops/`, read baselines from
    `rev`'s snapshot, and save the cache afterwards (unless `use_cache` is False).

    A session with a pool (`session.pool`, several hosts) checks the pool and spreads the
    run over it (behave/pool.py); its cache is the first host's."""
    pool = Pool(session.pool, session.server.options) if len(session.pool) > 1 else None
    if pool is not None:
        try:
            env = pool.environment(pool_targets(cases, tag), tag=tag, digests=dict(rev.digests))
        except BaseException:
            pool.close()
            raise
    else:
        env = Environment.probe(session.server, tag=tag, digests=rev.digests)
    cache = ResultCache.load(session.state_dir, session.host)
    try:
        return run(
            cases,
            pool if pool is not None else session.server,
            env=env,
            cache=cache,
            use_cache=use_cache,
            jobs=jobs or rev.snapshot.config.defaults.jobs,
            baselines=BaselineStore(rev.snapshot),
            update_baseline=update_baseline,
            on_event=on_event,
            parameters=pool.parameters if pool is not None else server_parameters(session.server),
            pool=pool,
        )
    finally:
        if pool is not None:
            pool.close()
        if use_cache:
            cache.save()
