"""Recording a sharded release gate that failed: what `gate --promote-to` records, for
`mfops report merge`.

An unsharded release gate (`gate --promote-to`) that fails with exit 1 before its
promotion records the attempt in git (refs/mfops/history): `kind: gate, outcome:
failed`, the step it failed at, the models and their test results (gate.py). Sharded, no
single process sees that failure: each shard records nothing (one shard is not the
release) and the release job promotes only after a passing merge. So the merge records
it, when the shards were a release gate's (their `release` block: `to`, `aliases`) and
the merged verdict failed the way the unsharded gate would have recorded: a case failed,
regressed or could not run, or a shard did not complete with exit 1 (a failed build,
lint errors). As in gate.py, input errors (exit 2) and interrupts are not recorded, nor
is a refused merge (exit 2: not one run), nor a pull-request run (no `release`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mfops.behave.merge import Merged
from mfops.errors import EXIT_CHECK_FAILED
from mfops.release.signals import held_signals
from mfops.repo import history
from mfops.repo.history import Entry, ModelEntry, TestCounts
from mfops.repo.repository import Repo
from mfops.store.builds import now_utc


def release_of(merged: Merged) -> Mapping[str, Any] | None:
    """The release the shards were gating (None: a pull-request run)."""
    release = merged.block.get("release")
    if isinstance(release, dict) and isinstance(release.get("to"), str):
        return release
    return None


def record_failed_merge(repo: Repo, merged: Merged) -> str | None:
    """Record the failed sharded release gate (module docstring); its record id, or None
    when there is nothing to record."""
    release = release_of(merged)
    if merged.ok or release is None:
        return None
    bad = merged.incomplete
    if bad and all(b.exit_code != EXIT_CHECK_FAILED for b in bad):
        return None  # the unsharded gate would have stopped with exit 2 (or been stopped)
    block = merged.block
    tag = str(block.get("tag") or "?")
    report = merged.report
    stage: str | None
    if bad:
        # the shard that failed (exit 1) is why this is recorded, not one stopped before it
        first = next(b for b in bad if b.exit_code == EXIT_CHECK_FAILED)
        stage = first.stage  # None: the shard stopped outside a gate step
        reason = f"shard {first.index}/{first.count} did not complete: {first.reason}"
        failures = tuple(b.line for b in bad)
        statuses: dict[str, str] = {}
        names = [str(n) for n in block.get("names") or ()]
    else:
        stage = "test"
        cmp = merged.comparison
        regressed = {c.candidate.run.id for c in cmp.regressions} if cmp is not None else set()
        failing = [r for r in report.results if r.status != "passed" or r.run.id in regressed]
        failures = tuple(
            f"{r.run.id}: {'regressed' if r.run.id in regressed else r.status}" for r in failing
        )
        reason = f"gate failed at test: {len(failing)} of {len(report.results)} cases failed"
        statuses = {n: str(m.get("status")) for n, m in block.get("models", {}).items()}
        names = list(statuses)
    models = tuple(
        ModelEntry(
            n,
            f"{n}:{tag}",
            _manifest(block.get("models", {}).get(n)),
            None,
            statuses.get(n, "not run"),
        )
        for n in names
    )
    at = now_utc()
    entry = Entry(
        id=history.new_id(at),
        kind="gate",
        outcome="failed",
        at=at,
        host=report.env.host or "sharded",
        from_tag=tag,
        to_tag=str(release["to"]),
        aliases=tuple(str(a) for a in release.get("aliases") or ()),
        models=models,
        tests=None
        if bad
        else TestCounts(report.count("passed"), report.count("failed"), report.count("error"), 0),
        failures=failures,
        reason=reason.splitlines()[0],
        commit=block.get("commit"),
        dirty=bool(block.get("dirty")),
        stage=stage,
    )
    with held_signals():  # a record half-written is no record (signals.py)
        history.append(repo, entry)
    return entry.id


def _manifest(seen: Any) -> str | None:
    manifests = seen.get("manifests") if isinstance(seen, dict) else None
    first = manifests[0] if isinstance(manifests, list) and manifests else None
    return first if isinstance(first, str) else None
