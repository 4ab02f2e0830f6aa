"""Promoting after a sharded gate: `mfops promote --verdict merged.json`.

A merged verdict (behave/merge.py, `mfops report merge --json`) is an artefact another job
of the workflow uploaded; like every file mfops did not make on this machine it is never
trusted blindly (architecture.md, "Untrusted repository content"). Promotion uses it only:

- when it is a merged verdict (its `merged` block, format 2) of this very workflow run:
  its GITHUB_RUN_ID and GITHUB_REPOSITORY (every shard's) and GITHUB_RUN_ATTEMPT (the
  merging job's: a shard re-run after a failure has its own) equal the promoting
  process's, which must have them (outside Actions, only when they are set to match);
- for the commit HEAD is (the suites it ran are the ones promotion would run), the
  candidate tag being promoted, and promote's own test: the same --against (none, or
  the same tag) and alpha;
- per model, when the model's content on the promoting server, read back (`/api/show`:
  layer digests and effective config, server/content.py), is the content every shard
  tested, and the verdict covered exactly the cases promotion would plan for it, each
  with the sample count its suite gives (the per-model plan fingerprint: shards run with
  `--samples 1` decide nothing). The manifest digest is not compared: it differs between
  Ollama versions for identical layers.

Anything else (a foreign run, a changed model, a model the verdict does not cover) is
tested again by the ordinary tester, as without `--verdict`; a note says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mfops.behave import load_suites, plan_cases
from mfops.behave.merge import MERGED_FORMAT
from mfops.behave.shard import plan_fingerprint
from mfops.release.verdict import ModelTests, Tester, TestSummary
from mfops.repo.history import TestCounts
from mfops.server.content import content_fingerprint

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.server.client import Server


@dataclass
class VerdictUse:
    """What happened to the verdict: the models it decided and the notes on the rest."""

    used: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def foreign(
    doc: Any,
    run: Mapping[str, str | None],
    commit: str | None,
    tag: str,
    *,
    against: str | None = None,
    alpha: float = 0.05,
) -> str | None:
    """Why the verdict as a whole cannot be used here (None: it can). `against`/`alpha`:
    promote's own; a verdict that compared with something else (or did not compare when
    promote would) decided on another test than promote would run."""
    merged = doc.get("merged") if isinstance(doc, dict) else None
    if not isinstance(merged, dict) or merged.get("format") != MERGED_FORMAT:
        return "it is not a merged verdict of `mfops report merge`"
    if merged.get("incomplete"):
        return "some of its shards did not complete"
    got = merged.get("run")
    theirs: dict[str, Any] = got if isinstance(got, dict) else {}
    mine = (run.get("id"), run.get("attempt"))
    if (
        not mine[0]
        or not mine[1]
        or (theirs.get("id"), theirs.get("attempt")) != mine
        or theirs.get("repository") != run.get("repository")
    ):
        return (
            f"it comes from workflow run {theirs.get('id') or 'none'} attempt "
            f"{theirs.get('attempt') or 'none'}, not this run ({mine[0] or 'none'} attempt "
            f"{mine[1] or 'none'})"
        )
    if merged.get("dirty"):
        return "its shards tested uncommitted changes"
    if merged.get("commit") != commit:
        return f"it tested commit {merged.get('commit')}, not HEAD ({commit})"
    if merged.get("tag") != tag:
        return f"it tested tag {merged.get('tag')}, not {tag}"
    if merged.get("against") != against:
        return (
            f"its shards compared with {merged.get('against') or 'no baseline'}, "
            f"promote with {against or 'none'} (--against)"
        )
    if against is not None and merged.get("alpha") != alpha:
        return f"its shards compared at alpha {merged.get('alpha')}, promote at {alpha}"
    return None


def verdict_tester(
    server: Server,
    rev: Revision,
    doc: Any,
    fallback: Tester,
    *,
    run: Mapping[str, str | None],
    commit: str | None,
    label: str,
    use: VerdictUse,
    against: str | None = None,
    alpha: float = 0.05,
) -> Tester:
    """A Tester that takes each model's verdict from the merged verdict `doc` where the
    module docstring's rules allow, and runs `fallback` for every other model."""

    def test(names: Sequence[str], tag: str) -> TestSummary:
        why = foreign(doc, run, commit, tag, against=against, alpha=alpha)
        if why is not None:
            use.notes.append(f"verdict {label} not used: {why}; testing again")
            return fallback(names, tag)
        merged = doc["merged"]
        # promote's own plan, with the suites' sample counts: a verdict of shards run with
        # another --samples (fewer samples, a weaker test) decides nothing
        planned = plan_cases(load_suites(rev.snapshot, rev.graph), rev.graph, list(names))
        listing = server.models()
        decided: dict[str, ModelTests] = {}
        failures: list[str] = []
        for name in names:
            entry = (merged.get("models") or {}).get(name)
            if not isinstance(entry, dict):
                use.notes.append(f"{name}: not in verdict {label}; testing it")
                continue
            want = [r for r in planned if r.model == name]
            if entry.get("plan") != plan_fingerprint(want):
                use.notes.append(
                    f"{name}: verdict {label} ran other cases or sample counts than its "
                    "suites give; testing it"
                )
                continue
            config = server.show(f"{name}:{tag}")
            content = content_fingerprint(config) if config is not None else None
            if content is None or content != entry.get("content"):
                use.notes.append(
                    f"{name}:{tag} on this server is not the content the shards tested; testing it"
                )
                continue
            status = str(entry.get("status"))
            have = listing.get(f"{name}:{tag}".casefold())
            decided[name] = ModelTests(status, len(want), have.digest if have else None)
            if status != "passed" and status != "untested":
                failures.append(f"{name}:{tag}: {status} in the merged verdict {label}")
            use.used.append(name)
        rest = [n for n in names if n not in decided]
        counts = [0, 0, 0, 0]
        for case in _cases(doc):
            if case.get("model") in decided:
                kinds = ("passed", "failed", "error")
                state = case.get("status")
                counts[kinds.index(state) if state in kinds else 2] += 1
        if not rest:
            return TestSummary(tag, decided, TestCounts(*counts), tuple(failures))
        other = fallback(rest, tag)
        c = other.counts
        return TestSummary(
            tag,
            {**decided, **other.models},
            TestCounts(counts[0] + c.passed, counts[1] + c.failed, counts[2] + c.errors, c.cached),
            tuple(failures) + other.failures,
            other.report,
            other.comparison,
        )

    return test


def _cases(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    report = doc.get("candidate") if "candidate" in doc else doc
    cases = report.get("cases") if isinstance(report, dict) else None
    return [c for c in cases or () if isinstance(c, dict)]
