"""Sharding a test run over N runners: which (model, case, sample) units shard K runs.

A real suite on one Ollama takes an hour; CI runners are cheap and parallel. The work of a
run is a list of *units*, one per sample of one case run (`model::suite::case`, sample i),
so even a repository with a single model and one big suite splits. Shard K of N runs the
units `partition` gives it and nothing else; `mfops report merge` (merge.py) pools the
shards' samples back into the cases they belong to, so the merged verdict is the one an
unsharded run gives (pass/fail per case from all its samples, and with `--against` the
Fisher tests and the Holm correction over every case, computed once after pooling).

The partition is deterministic (it depends only on the planned case runs, their sample
counts and N, never on timing or the machine) and balanced by expected cost: units keep the
plan's order (models in dependency order, then suite, case, sample), each weighs
`unit_cost` (one chat, plus one per judge assertion, a little per embedding assertion,
doubled when both sides of a comparison run it), and the ordered list is cut into N
contiguous runs of nearly equal total weight: unit u goes to the shard whose share of the
total cost holds u's midpoint. Every shard's load is then within one unit's cost of the
ideal, and a shard touches few models, so it builds (gate) only those and their ancestors.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mfops.behave.assertions import KINDS
from mfops.behave.selection import CaseRun
from mfops.errors import MfopsError
from mfops.server.content import content_fingerprint

if TYPE_CHECKING:
    from mfops.behave.results import CaseResult
    from mfops.server.client import Server

#: Version of the `shard` block a shard report carries (merge refuses others).
SHARD_FORMAT = 1

_SPEC = re.compile(r"(\d+)/(\d+)", re.ASCII)
#: Shards at most: a matrix wider than this is a typo, not a plan.
MAX_SHARDS = 256


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """`K/N` with 1 <= K <= N <= MAX_SHARDS, else an MfopsError (exit 2) saying so."""
    found = _SPEC.fullmatch(text)
    if found is None:
        raise MfopsError(f"--shard must be K/N (e.g. 2/4), got {text!r}")
    index, count = int(found.group(1)), int(found.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise MfopsError(f"--shard {text}: N must be between 1 and {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise MfopsError(f"--shard {text}: K must be between 1 and N ({count})")
    return ShardSpec(index, count)


#: One unit of work: (case run id, sample index).
Unit = tuple[str, int]


def unit_cost(run: CaseRun, *, comparing: bool = False) -> float:
    """The expected cost of one sample of `run`, in chats: its own chat, one more per judge
    assertion, a quarter per embedding assertion (vectors are cached per run); doubled when
    the baseline side runs the same sample (`--against`)."""
    cost = 1.0
    for check in run.case.assertions:
        needs = KINDS[check.type].needs
        if needs == "judge":
            cost += 1.0
        elif needs == "embed":
            cost += 0.25
    return cost * (2 if comparing else 1)


def units(runs: Sequence[CaseRun]) -> list[Unit]:
    """Every unit of a plan, in plan order."""
    return [(r.id, i) for r in runs for i in range(r.case.samples)]


def partition(runs: Sequence[CaseRun], count: int, *, comparing: bool = False) -> list[list[Unit]]:
    """The units of `runs` cut into `count` contiguous shards of nearly equal cost (module
    docstring); shard K is `partition(...)[K - 1]`. Every unit is in exactly one shard."""
    weighted = [(u, unit_cost(r, comparing=comparing)) for r in runs for u in units([r])]
    total = sum(w for _, w in weighted)
    out: list[list[Unit]] = [[] for _ in range(count)]
    done = 0.0
    for unit, weight in weighted:
        middle = done + weight / 2
        out[min(count - 1, int(middle * count / total))].append(unit)
        done += weight
    return out


def plan_fingerprint(runs: Sequence[CaseRun]) -> str:
    """sha256 over the whole plan (case run ids, case digests, sample counts): shards of one
    run agree on it, and merge recomputes it from the commit's suites."""
    rows = [[r.id, r.case.digest, r.case.samples] for r in runs]
    return "sha256:" + hashlib.sha256(json.dumps(rows).encode()).hexdigest()


@dataclass(frozen=True)
class ShardPlan:
    """What shard `spec` runs: `runs` (each with the sample indices it owns), its `units`,
    their cost, and the whole plan's size and fingerprint (for the merge's completeness
    check)."""

    spec: ShardSpec
    runs: tuple[CaseRun, ...]
    units: tuple[Unit, ...]
    cost: float
    total_units: int
    total_cost: float
    fingerprint: str

    @property
    def models(self) -> list[str]:
        """The models this shard's work needs, in plan (dependency) order."""
        return list(dict.fromkeys(r.model for r in self.runs))


def select_shard(runs: Sequence[CaseRun], spec: ShardSpec, *, comparing: bool = False) -> ShardPlan:
    """Shard `spec` of the plan `runs`: the case runs it touches, each restricted to the
    samples it owns (`CaseRun.indices`)."""
    parts = partition(runs, spec.count, comparing=comparing)
    mine = parts[spec.index - 1]
    owned: dict[str, list[int]] = {}
    for case_id, index in mine:
        owned.setdefault(case_id, []).append(index)
    selected = tuple(replace(r, indices=tuple(owned[r.id])) for r in runs if r.id in owned)
    cost = {r.id: unit_cost(r, comparing=comparing) for r in runs}
    return ShardPlan(
        spec,
        selected,
        tuple(mine),
        round(sum(cost[c] for c, _ in mine), 3),
        sum(r.case.samples for r in runs),
        round(sum(cost[r.id] * r.case.samples for r in runs), 3),
        plan_fingerprint(runs),
    )


def shard_block(
    plan: ShardPlan,
    *,
    commit: str | None,
    dirty: bool,
    tag: str,
    names: Sequence[str],
    samples: int | None,
    against: str | None,
    alpha: float,
    run: dict[str, str | None],
    contents: dict[str, dict[str, Any]],
    baselines: dict[str, dict[str, Any]] | None = None,
    release: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `shard` block of a shard's JSON report: who it is (K, N), what it tested
    (commit, candidate tag, the models' content as the server showed it), how the plan was
    made (names, --samples, --against), the units it owned and the whole plan's size and
    fingerprint, the CI run it belongs to (GITHUB_RUN_ID / GITHUB_RUN_ATTEMPT /
    GITHUB_REPOSITORY) and, with `--against`, each baseline's content as the server showed
    it (`baselines`: shards that compared with different content do not merge) and, for
    a release gate's shard (`gate --shard --promote-to`), the release it is part of
    (`release`: `to` and `aliases`; a failing merge records the failed release)."""
    return {
        "format": SHARD_FORMAT,
        "index": plan.spec.index,
        "count": plan.spec.count,
        "commit": commit,
        "dirty": dirty,
        "tag": tag,
        "names": list(names),
        "samples": samples,
        "against": against,
        "alpha": alpha,
        "run": run,
        "plan": {
            "units": plan.total_units,
            "cost": plan.total_cost,
            "fingerprint": plan.fingerprint,
        },
        "cost": plan.cost,
        "units": [[c, i] for c, i in plan.units],
        "models": contents,
        "baselines": baselines or {},
        "release": release,
    }


def failed_block(
    spec: ShardSpec,
    why: str,
    *,
    exit_code: int,
    commit: str | None,
    dirty: bool | None,
    tag: str | None,
    run: dict[str, str | None],
    stage: str | None = None,
    release: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `shard` block of a shard that did not complete: its gate failed before testing
    (a build that failed, a suite that does not load), or the command stopped (an input
    error, the server down, an interrupt). `failed` is the one-line reason and `exit_code`
    the code the shard exited with; `mfops report merge` fails (exit 1) naming it rather
    than calling the shard missing. What the shard could not learn (no git repository: no
    commit; stopped before the candidate tag was known) is None, and the merge compares
    only what is known (merge.py)."""
    return {
        "format": SHARD_FORMAT,
        "index": spec.index,
        "count": spec.count,
        "commit": commit,
        "dirty": dirty,
        "tag": tag,
        "run": run,
        "release": release,
        "failed": why,
        "exit_code": exit_code,
        "stage": stage,
    }


def shard_contents(server: Server, results: Sequence[CaseResult]) -> dict[str, dict[str, Any]]:
    """Per model of `results`: the target, its manifest and its content fingerprint as
    this shard's server shows it (server/content.py), for merge and promote to compare."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.run.model in out:
            continue
        config = server.show(r.target)
        out[r.run.model] = {
            "target": r.target,
            "manifest": r.manifest,
            "content": content_fingerprint(config) if config is not None else None,
        }
    return out
