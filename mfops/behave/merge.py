"""Joining shard reports (shard.py) into one verdict: `mfops report merge FILE...`.

A shard report is an artefact: a file a CI job uploaded, which a later job downloads. It
decides nothing until it has been checked, so the merge refuses (exit 2, one line naming
the problem) unless the files are shards 1..N of one N, each exactly once, from one commit,
one candidate tag, one plan and one CI run, and every unit the plan has is owned by exactly
the shard the partition gives it and reported by it. A missing, duplicated or foreign shard
therefore never passes. A shard that did not complete (its gate stopped before testing,
an input error, the server down, an interrupt) writes a report saying so (`failed`, its
exit code); the merge then fails (exit 1, never a pass), naming each such shard and its
reason in every output (merge_report.py), after the same identity checks on what that
shard knew.

The plan is not taken from the files either: the merge loads the suites of the shards'
commit (the working tree when HEAD is that commit and clean, else the commit from git),
plans the cases with the shards' names and `--samples`, and requires the plan's fingerprint
to be the one every shard recorded. The case runs of the merged report are then mfops' own
objects, and every writer (text, JSON, Markdown, JUnit, HTML, and their comparison forms)
renders the merged verdict exactly as it renders an unsharded run.

Samples are pooled per case (a case's samples may come from several shards): the case is
an error when any sample or any shard's attempt errored, else it passes when at least
`required` of its samples passed. With `--against` both sides are pooled the same way and
`compare.decide` runs once over the whole plan, so each case's Fisher test and the Holm
correction across all cases are those of the unsharded run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mfops.behave.checks import AssertionResult
from mfops.behave.compare import Baseline, Comparison, decide, seeded
from mfops.behave.results import CaseResult, Environment, SampleResult, Status, TestReport
from mfops.behave.selection import CaseRun, override_samples, plan_cases
from mfops.behave.shard import SHARD_FORMAT, partition, plan_fingerprint
from mfops.behave.spec import load_suites
from mfops.errors import MfopsError
from mfops.graph.revision import Revision
from mfops.repo.repository import Repo

#: Version of the `merged` block of a merged verdict (promote refuses others).
MERGED_FORMAT = 2


class MergeRefused(MfopsError):
    """The shard reports do not make one complete run (exit 2)."""


@dataclass(frozen=True)
class ShardFile:
    """One shard report as read: its path (for messages) and its JSON."""

    path: str
    data: Mapping[str, Any]

    @property
    def block(self) -> Mapping[str, Any]:
        return self.data["shard"]  # type: ignore[no-any-return]

    @property
    def label(self) -> str:
        return f"{self.path} (shard {self.block['index']}/{self.block['count']})"


@dataclass(frozen=True)
class Merged:
    """The merged verdict: the pooled report, the comparison when the shards compared, and
    the `merged` block (who merged what) that promote reads."""

    report: TestReport
    comparison: Comparison | None
    block: dict[str, Any]
    incomplete: tuple[Incomplete, ...] = ()  # shards that did not complete: never a pass

    @property
    def ok(self) -> bool:
        if self.incomplete:
            return False
        return self.comparison.ok if self.comparison is not None else self.report.ok


# --------------------------------------------------------------------------- checks


_SAME = ("commit", "dirty", "tag", "names", "samples", "against", "alpha")


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _optional(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _report_shape(path: str, doc: Any, what: str) -> None:
    """The fields of one side's report that the merge reads have the types it reads them
    as (a malformed one is MergeRefused, one line, never a crash)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise MergeRefused(f"{path}: no `cases` list{what}: not an mfops test report")
    env = doc.get("environment")
    if env is not None and (not isinstance(env, dict) or not _optional(env.get("models"), dict)):
        raise MergeRefused(f"{path}: the report's `environment`{what} is not an object")
    summary = doc.get("summary")
    if summary is not None and not isinstance(summary, dict):
        raise MergeRefused(f"{path}: the report's `summary`{what} is not an object")
    for key in ("chat_calls", "embed_calls", "cache_hits", "seconds"):
        value = (summary or {}).get(key)
        if not (_optional(value, int) if key != "seconds" else _number(value)):
            raise MergeRefused(f"{path}: the report's `summary.{key}`{what} is not a number")
    for case in doc["cases"]:
        if not isinstance(case, dict) or not isinstance(case.get("id"), str):
            raise MergeRefused(f"{path}: a case entry{what} is malformed")
        bad = [
            key
            for key, good in (
                ("seconds", _number(case.get("seconds"))),
                ("samples", _optional(case.get("samples"), list)),
                ("status", _optional(case.get("status"), str)),
                *((k, _optional(case.get(k), str)) for k in ("target", "manifest", "error")),
                ("model_digest", _optional(case.get("model_digest"), str)),
            )
            if not good
        ]
        if bad:
            raise MergeRefused(f"{path}: the `{bad[0]}` of case {case['id']}{what} is malformed")


def _shape(path: str, data: Any) -> ShardFile:
    """A JSON document that is an mfops shard report, else MergeRefused naming the file."""
    if not isinstance(data, dict):
        raise MergeRefused(f"{path} is not an mfops shard report (not a JSON object)")
    block = data.get("shard")
    if not isinstance(block, dict):
        raise MergeRefused(
            f"{path} is not an mfops shard report (no `shard` block)",
            hint="write shard reports with `mfops test --shard K/N --shard-report PATH`",
        )
    if block.get("format") != SHARD_FORMAT:
        raise MergeRefused(
            f"{path}: shard report format {block.get('format')!r} is not {SHARD_FORMAT}"
        )
    for key in ("index", "count"):
        if not _optional(block.get(key), int) or block.get(key) is None:
            raise MergeRefused(f"{path}: the shard block's `{key}` is missing or malformed")
    if "failed" in block:  # a shard that did not complete: merge names its failure (exit 1)
        run = block.get("run")
        fields = {
            "failed": isinstance(block["failed"], str),
            "exit_code": _optional(block.get("exit_code"), int),
            "commit": _optional(block.get("commit"), str),
            "dirty": block.get("dirty") is None or isinstance(block.get("dirty"), bool),
            "tag": _optional(block.get("tag"), str),
            "stage": _optional(block.get("stage"), str),
            "release": _optional(block.get("release"), dict),
            "run": run is None
            or (isinstance(run, dict) and all(_optional(v, str) for v in run.values())),
        }
        for key, ok in fields.items():
            if not ok:
                raise MergeRefused(f"{path}: the shard block's `{key}` is malformed")
        return ShardFile(path, data)
    kinds = {
        "tag": str,
        "names": list,
        "units": list,
        "models": dict,
        "plan": dict,
        "run": dict,
    }
    for key, kind in kinds.items():
        if not isinstance(block.get(key), kind):
            raise MergeRefused(f"{path}: the shard block's `{key}` is missing or malformed")
    optional = {
        "commit": _optional(block.get("commit"), str),
        "dirty": _optional(block.get("dirty"), bool) or isinstance(block.get("dirty"), bool),
        "samples": _optional(block.get("samples"), int),
        "against": _optional(block.get("against"), str),
        "alpha": _number(block.get("alpha")),
        "baselines": _optional(block.get("baselines"), dict),
        "release": _optional(block.get("release"), dict),
        "names": all(isinstance(n, str) for n in block["names"]),
        "plan": isinstance(block["plan"].get("fingerprint"), str),
        "run": all(_optional(v, str) for v in block["run"].values()),
    }
    for key, good in optional.items():
        if not good:
            raise MergeRefused(f"{path}: the shard block's `{key}` is malformed")
    comparing = "candidate" in data
    _report_shape(path, data.get("candidate", data), "")
    if comparing or "baseline" in data:
        _report_shape(path, data.get("baseline"), " (baseline)")
    return ShardFile(path, data)


def check_complete(files: Sequence[ShardFile]) -> int:
    """Shards 1..N of one N, each exactly once; returns N. Anything else is MergeRefused,
    naming the problem."""
    if not files:
        raise MergeRefused("no shard reports given")
    first = files[0]
    count = first.block["count"]
    for f in files[1:]:
        if f.block["count"] != count:
            raise MergeRefused(
                f"shards of different runs: {first.label} is one of {count}, "
                f"{f.label} is one of {f.block['count']}"
            )
    seen: dict[int, str] = {}
    for f in files:
        index = f.block["index"]
        if not 1 <= index <= count:
            raise MergeRefused(f"{f.label}: index outside 1..{count}")
        if index in seen:
            raise MergeRefused(f"shard {index}/{count} given twice: {seen[index]} and {f.path}")
        seen[index] = f.path
    missing = [str(i) for i in range(1, count + 1) if i not in seen]
    if missing:
        raise MergeRefused(
            f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {count} "
            f"missing: a verdict needs every shard",
            hint="pass every shard's report",
        )
    return int(count)


def _failed(f: ShardFile) -> bool:
    return "failed" in f.block


def _known(f: ShardFile, key: str) -> bool:
    """Whether the shard knows `key`: a completed shard knows every field (None is a
    value there: no --against), a shard that did not complete only what it recorded."""
    if not _failed(f):
        return True
    if key == "run":
        return isinstance(f.block.get("run"), dict)
    return f.block.get(key) is not None


def _value(f: ShardFile, key: str) -> Any:
    return _run_of(f) if key == "run" else f.block.get(key)


def check_same(files: Sequence[ShardFile]) -> None:
    """The shards agree on commit, candidate, selection, options, release, plan and CI run
    (its id and repository: a shard job re-run after a failure has another attempt, which
    is recorded per shard). A shard that did not complete is compared on what it knows
    (a shard outside a git repository knows no commit): an unknown field neither matches
    nor contradicts, and such a shard fails the merge anyway."""
    what = {"tag": "candidate tag", "names": "model selection", "run": "CI run"}
    for key in (*_SAME, "release", "run"):
        knowing = [f for f in files if _known(f, key)]
        if key == "release":  # older completed shards carry no `release`: unknown too
            knowing = [f for f in knowing if "release" in f.block]
        for f in knowing[1:]:
            first = knowing[0]
            if _value(f, key) != _value(first, key):
                raise MergeRefused(
                    f"shards disagree on the {what.get(key, key)}: {first.label} has "
                    f"{_value(first, key)!r}, {f.label} has {_value(f, key)!r}"
                )
    done = [f for f in files if not _failed(f)]
    for f in done[1:]:
        if f.block["plan"] != done[0].block["plan"]:
            raise MergeRefused(
                f"shards planned different work: {done[0].label} and {f.label} disagree on "
                "the plan's fingerprint"
            )


def _run_of(f: ShardFile) -> tuple[Any, Any]:
    run = f.block.get("run") or {}
    return run.get("id"), run.get("repository")


@dataclass(frozen=True)
class Incomplete:
    """A shard that did not complete, as its report says: the reason, the exit code it
    exited with (None when an older mfops wrote the report) and the gate step it stopped
    at (None outside a gate, or when it stopped before one)."""

    index: int
    count: int
    path: str
    reason: str
    exit_code: int | None
    stage: str | None

    @property
    def line(self) -> str:
        code = f" (exit {self.exit_code})" if self.exit_code is not None else ""
        return (
            f"{self.path} (shard {self.index}/{self.count}) did not complete{code}: {self.reason}"
        )


def incomplete(files: Sequence[ShardFile]) -> list[Incomplete]:
    """The shards that did not complete, in shard order."""
    return [
        Incomplete(
            int(f.block["index"]),
            int(f.block["count"]),
            f.path,
            str(f.block["failed"]),
            f.block.get("exit_code"),
            f.block.get("stage"),
        )
        for f in files
        if _failed(f)
    ]


def _failed_merge(shards: Sequence[ShardFile], count: int, run: Mapping[str, Any]) -> Merged:
    """The verdict when some shards did not complete: it fails (never a pass), naming each
    such shard with its reason and exit code; the completed shards' results are not pooled
    (the run's plan is not whole). What it records of the run is what the shards knew."""

    def known(key: str) -> Any:
        return next((_value(f, key) for f in shards if _known(f, key)), None)

    done = [f for f in shards if not _failed(f)]
    theirs_id, theirs_repo = known("run") or (None, None)
    mine = run or {}
    same = theirs_id is not None and (mine.get("id"), mine.get("repository")) == (
        theirs_id,
        theirs_repo,
    )
    bad = incomplete(shards)
    tag = known("tag")
    info = {
        "format": MERGED_FORMAT,
        "count": count,
        "commit": known("commit"),
        "dirty": bool(known("dirty")),
        "tag": tag,
        "run": {
            "id": theirs_id,
            "repository": theirs_repo,
            "attempt": mine.get("attempt") if same else None,
        },
        "against": done[0].block.get("against") if done else None,
        "alpha": done[0].block.get("alpha") if done else None,
        "names": done[0].block["names"] if done else [],
        "samples": done[0].block.get("samples") if done else None,
        "release": next((f.block["release"] for f in shards if f.block.get("release")), None),
        "shards": [
            {
                "index": f.block["index"],
                "file": f.path,
                "state": "failed" if _failed(f) else "completed",
                "units": len(f.block.get("units") or ()),
                "attempt": (f.block.get("run") or {}).get("attempt"),
                **(
                    {
                        "reason": f.block["failed"],
                        "exit_code": f.block.get("exit_code"),
                        "stage": f.block.get("stage"),
                    }
                    if _failed(f)
                    else {}
                ),
            }
            for f in shards
        ],
        "incomplete": [
            {"index": b.index, "file": b.path, "reason": b.reason, "exit_code": b.exit_code}
            for b in bad
        ],
        "models": {},
    }
    empty = TestReport(Environment("", "", str(tag or "")), ())
    return Merged(empty, None, info, tuple(bad))


# --------------------------------------------------------------------------- the plan


def shard_revision(repo: Repo, commit: str | None, dirty: bool) -> Revision:
    """The version the shards tested: the working tree when it is that commit and clean,
    else the commit from git. A dirty run can only be merged in its own working tree."""
    head = repo.head_commit()
    if commit is None or (head == commit and not repo.is_dirty()) or dirty:
        if dirty and (head != commit or commit is None):
            raise MergeRefused(
                f"the shards tested uncommitted changes on {commit or 'no commit'}; merge "
                "them in that working tree"
            )
        return Revision(repo, None)
    try:
        repo.resolve_ref(commit)
    except MfopsError:
        raise MergeRefused(
            f"the shards tested commit {commit}, which this repository does not have",
            hint="fetch it, or merge in a checkout of that commit",
        ) from None
    return Revision(repo, commit)


def plan_of(rev: Revision, block: Mapping[str, Any]) -> list[CaseRun]:
    """The whole plan, as each shard made it (names, --samples)."""
    suites = load_suites(rev.snapshot, rev.graph)
    if rev.ref is not None:  # name suites as the working tree does, as the shards did
        suites = [replace(s, display=s.path) for s in suites]
    runs = plan_cases(suites, rev.graph, list(block["names"]))
    samples = block.get("samples")
    return override_samples(runs, samples if isinstance(samples, int) else None)


def _check_units(files: Sequence[ShardFile], runs: Sequence[CaseRun], comparing: bool) -> None:
    """Each shard owned exactly what the partition gives it, so together they own every
    unit once."""
    count = files[0].block["count"]
    parts = partition(runs, count, comparing=comparing)
    for f in files:
        want = parts[f.block["index"] - 1]
        try:
            have = [(str(c), int(i)) for c, i in f.block["units"]]
        except (TypeError, ValueError):
            raise MergeRefused(f"{f.label}: the shard block's `units` are malformed") from None
        if have != want:
            raise MergeRefused(
                f"{f.label} owned {len(have)} units, not the {len(want)} the partition gives it"
            )


# --------------------------------------------------------------------------- pooling


def _sample(data: Mapping[str, Any]) -> SampleResult:
    """One sample as a shard reported it; TypeError/ValueError/... when malformed."""
    checks = tuple(AssertionResult.from_json(a) for a in data.get("assertions") or ())
    for a in checks:
        if not (_number(a.score) and _optional(a.note, str)):
            raise ValueError("an assertion's score or note is malformed")
    if not _optional(data.get("error"), str):
        raise ValueError("the sample's error is malformed")
    return SampleResult(
        int(data["index"]),
        dict(data["options"]),
        str(data.get("output") or ""),
        float(data.get("latency_ms") or 0.0),
        checks,
        bool(data.get("cached")),
        data.get("error"),
    )


#: Per case id: the shards owning some of its samples (by their place in the list of
#: files) and the sample indices each owns.
Owned = Mapping[str, Mapping[int, set[int]]]


def _owned(files: Sequence[ShardFile]) -> dict[str, dict[int, set[int]]]:
    out: dict[str, dict[int, set[int]]] = {}
    for n, f in enumerate(files):
        for c, i in f.block["units"]:
            out.setdefault(str(c), {}).setdefault(n, set()).add(int(i))
    return out


def _pool(
    run: CaseRun,
    parts: Sequence[tuple[int, ShardFile, Mapping[str, Any]]],
    owned: Owned,
    side: str,
) -> CaseResult:
    """One case from its shards' parts (module docstring); `_reported` has checked that
    its owners, and only they, report it once each."""
    samples: dict[int, SampleResult] = {}
    whole_error: str | None = None
    for n, f, part in parts:
        mine = owned.get(run.id, {}).get(n, set())
        try:
            got = [_sample(s) for s in part.get("samples") or ()]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MergeRefused(f"{f.label}: a sample of {run.id}{side} is malformed") from None
        if not got and part.get("status") == "error":
            whole_error = whole_error or str(part.get("error") or "could not run")
            continue
        for s in got:
            if s.index not in mine:
                raise MergeRefused(
                    f"{f.label} reports sample {s.index} of {run.id}{side}, not its own"
                )
            if s.index in samples:
                raise MergeRefused(f"{f.label} reports sample {s.index} of {run.id}{side} twice")
            samples[s.index] = s
        if {s.index for s in got} != mine:
            raise MergeRefused(f"{f.label} does not report every sample it owned of {run.id}{side}")
    first = parts[0][2]
    pooled = tuple(samples[i] for i in sorted(samples))
    errors = [s.error for s in pooled if s.error]
    status: Status
    if whole_error is not None:
        status, error, pooled = "error", whole_error, ()
    elif errors:
        status, error = "error", errors[0]
    else:
        passes = sum(s.passed for s in pooled)
        status, error = ("passed" if passes >= run.case.required else "failed"), None
    return CaseResult(
        run,
        str(first.get("target") or ""),
        status,
        pooled,
        first.get("manifest"),
        first.get("model_digest"),
        max(float(p.get("seconds") or 0.0) for _, _, p in parts),
        error,
    )


def _reported(
    runs: Sequence[CaseRun],
    parts: Mapping[str, Sequence[tuple[int, ShardFile, Mapping[str, Any]]]],
    owned: Owned,
    files: Sequence[ShardFile],
    covered: set[str],
    side: str,
) -> None:
    """Every case of the plan whose model this side covers is reported by exactly the
    shards that own some of its samples, once each; no shard reports a case it owns none
    of, or one outside the plan. Without this a shard leaving out a case would have it
    judged on fewer samples (or the baseline side compared with fewer)."""
    ids = {r.id for r in runs}
    for case_id, got in parts.items():
        if case_id not in ids:
            raise MergeRefused(f"{got[0][1].label} reports case {case_id}{side}, not in the plan")
    for run in runs:
        owners = set(owned.get(run.id, {})) if run.model in covered else set()
        reporters = [n for n, _, _ in parts.get(run.id, ())]
        for n in reporters:
            if reporters.count(n) > 1:
                raise MergeRefused(f"{files[n].label} reports case {run.id}{side} twice")
            if n not in owners:
                why = (
                    "none of whose samples it owned"
                    if run.model in covered
                    else f"but {run.model} has no baseline"
                )
                raise MergeRefused(f"{files[n].label} reports case {run.id}{side}, {why}")
        for n in sorted(owners - set(reporters)):
            raise MergeRefused(
                f"{files[n].label} does not report case {run.id}{side}, whose samples it owned"
            )


def _side(
    files: Sequence[ShardFile],
    runs: Sequence[CaseRun],
    key: str | None,
    comparing: bool,
    covered: set[str],
) -> tuple[TestReport, dict[str, CaseResult]]:
    """One side (candidate, or `key` = "baseline") pooled over the shards; `covered`: the
    models this side runs (all on the candidate side, those with a baseline tag on the
    baseline side)."""
    side = f" ({key})" if key else ""
    parts: dict[str, list[tuple[int, ShardFile, Mapping[str, Any]]]] = {}
    envs: list[Mapping[str, Any]] = []
    summaries: list[Mapping[str, Any]] = []
    for n, f in enumerate(files):
        empty: dict[str, Any] = {"cases": []}  # a shard with nothing to test: plain, empty
        doc: Mapping[str, Any]
        if key:
            doc = f.data.get(key) or empty
        else:
            doc = f.data.get("candidate", f.data) if comparing else f.data
        envs.append(doc.get("environment") or {})
        summaries.append(doc.get("summary") or {})
        for case in doc["cases"]:
            parts.setdefault(case["id"], []).append((n, f, case))
    owned = _owned(files)
    _reported(runs, parts, owned, files, covered, side)
    results: dict[str, CaseResult] = {}
    for run in runs:
        if run.id in parts:
            results[run.id] = _pool(run, parts[run.id], owned, side)
    manifests: dict[str, str] = {}
    for env in envs:
        for name, digest in (env.get("models") or {}).items():
            if isinstance(digest, str):
                manifests[str(name)] = digest
    merged_env = Environment(
        "; ".join(dict.fromkeys(str(e.get("host") or "?") for e in envs)),
        "; ".join(dict.fromkeys(str(e.get("server_version") or "") for e in envs)),
        str(envs[0].get("tag") or ""),
        {k.casefold(): v for k, v in manifests.items()},
        {},
        min((str(e.get("started_at") or "") for e in envs), default=""),
        str(envs[0].get("mfops_version") or ""),
    )

    def total(name: str) -> int:
        return sum(int(s.get(name) or 0) for s in summaries)

    ordered = tuple(results[r.id] for r in runs if r.id in results)
    report = TestReport(
        merged_env,
        ordered,
        max((float(s.get("seconds") or 0.0) for s in summaries), default=0.0),
        total("chat_calls"),
        total("embed_calls"),
        total("cache_hits"),
    )
    return report, results


def _baselines(files: Sequence[ShardFile]) -> dict[str, Baseline]:
    """Per model, the baseline every shard that tested it compared with: the same tag, and
    (when the tag exists) the same content as the shard's server showed it. In
    pull-request mode each shard resolves the release from the records it fetched, so
    shards started around a release could compare with different ones: refused."""
    out: dict[str, Baseline] = {}
    seen: dict[str, tuple[ShardFile, Any]] = {}
    for f in files:
        against = f.data.get("against") or {}
        if not isinstance(against, dict):
            raise MergeRefused(f"{f.label}: the `against` block is malformed")
        contents = f.block.get("baselines") or {}
        for model, b in against.items():
            if not isinstance(b, dict) or not _optional(b.get("tag"), str):
                raise MergeRefused(f"{f.label}: the `against` entry of {model} is malformed")
            line = Baseline(
                b.get("tag"), b.get("reason"), bool(b.get("new")), str(b.get("source") or "")
            )
            entry = contents.get(model)
            content = entry.get("content") if isinstance(entry, dict) else None
            if line.tag is not None and not isinstance(content, str):
                raise MergeRefused(
                    f"{f.label}: no content recorded for the baseline {model}:{line.tag}"
                )
            have = out.get(str(model))
            if have is None:
                out[str(model)] = line
                seen[str(model)] = (f, content)
                continue
            other, before = seen[str(model)]
            if (have.tag, have.new) != (line.tag, line.new):
                raise MergeRefused(
                    f"shards compared {model} with different baselines: {other.label} with "
                    f"{have.tag or 'none'}, {f.label} with {line.tag or 'none'}"
                )
            if content != before:
                raise MergeRefused(
                    f"shards compared {model} with different content of {model}:{line.tag}: "
                    f"{other.label} saw {str(before)[:19]}, {f.label} {str(content)[:19]}"
                )
    return out


def _models(files: Sequence[ShardFile]) -> dict[str, Any]:
    """Per model: the content every shard saw on its server (they must agree)."""
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        for name, seen in f.block["models"].items():
            if not isinstance(seen, dict) or not isinstance(seen.get("content"), (str, type(None))):
                raise MergeRefused(f"{f.label}: the content of {name} is missing or malformed")
            have = out.get(name)
            if have is None:
                out[name] = {"content": seen.get("content"), "manifests": [seen.get("manifest")]}
                continue
            if have["content"] != seen.get("content"):
                raise MergeRefused(
                    f"shards tested different content of {name}: {f.label} saw "
                    f"{str(seen.get('content'))[:19]}, another shard {str(have['content'])[:19]}"
                )
            if seen.get("manifest") not in have["manifests"]:
                have["manifests"].append(seen.get("manifest"))
    return out


def merge(
    repo: Repo, files: Sequence[tuple[str, Any]], run: Mapping[str, str | None] | None = None
) -> Merged:
    """Check the shard reports (`(path, parsed JSON)` each) and pool them into one verdict;
    see the module docstring. MergeRefused (exit 2) when they are not one complete run;
    a failed verdict naming them (`Merged.incomplete`) when some shards did not complete.
    `run`: the CI run of the merging process (ci_run); its attempt is the merged
    verdict's when it is the shards' run."""
    shards = [_shape(path, data) for path, data in files]
    count = check_complete(shards)
    shards.sort(key=lambda f: int(f.block["index"]))
    check_same(shards)
    if any(_failed(f) for f in shards):
        return _failed_merge(shards, count, run or {})
    block = shards[0].block
    comparing = block.get("against") is not None
    rev = shard_revision(repo, block.get("commit"), bool(block.get("dirty")))
    runs = plan_of(rev, block)
    if plan_fingerprint(runs) != block["plan"].get("fingerprint"):
        raise MergeRefused(
            f"the shards planned other cases than the suites of "
            f"{block.get('commit') or 'the working tree'} give",
            hint="merge in a checkout of the commit the shards tested",
        )
    _check_units(shards, runs, comparing)
    contents = _models(shards)
    plans = {
        name: plan_fingerprint([r for r in runs if r.model == name])
        for name in dict.fromkeys(r.model for r in runs)
    }
    if comparing:
        runs = [seeded(r) for r in runs]
    every = {r.model for r in runs}
    candidate, _ = _side(shards, runs, None, comparing, every)
    comparison = None
    if comparing:
        baselines = _baselines(shards)
        with_tag = {m for m, b in baselines.items() if b.tag is not None}
        base, by_id = _side(shards, runs, "baseline", comparing, with_tag)
        tags = sorted({str(b.tag) for b in baselines.values() if b.tag is not None})
        base = replace(base, env=replace(candidate.env, tag=", ".join(tags) or "-"))
        pairs = [by_id.get(r.run.id) for r in candidate.results]
        alpha = float(block.get("alpha") or 0.05)
        comparison = decide(candidate, base, pairs, baselines, alpha)
    statuses = candidate.models()
    models: dict[str, Any] = {}
    for name, seen in contents.items():
        status: str = statuses.get(name, "untested")
        if comparison is not None and status == "passed" and comparison.model_regressed(name):
            status = "failed"
        cases = [r.run.id for r in candidate.results if r.run.model == name]
        models[name] = {**seen, "status": status, "cases": cases, "plan": plans.get(name)}
    theirs = block["run"]
    mine = run or {}
    same = theirs.get("id") is not None and (mine.get("id"), mine.get("repository")) == (
        theirs.get("id"),
        theirs.get("repository"),
    )
    info = {
        "format": MERGED_FORMAT,
        "count": count,
        "commit": block.get("commit"),
        "dirty": bool(block.get("dirty")),
        "tag": block["tag"],
        # the shards' run; the attempt is the merging job's (None when it is another run)
        "run": {
            "id": theirs.get("id"),
            "repository": theirs.get("repository"),
            "attempt": mine.get("attempt") if same else None,
        },
        "against": block.get("against"),
        "alpha": block.get("alpha"),
        "release": block.get("release"),
        "names": block["names"],
        "samples": block.get("samples"),
        "plan": block["plan"],
        "shards": [
            {
                "index": f.block["index"],
                "file": f.path,
                "units": len(f.block["units"]),
                "cost": f.block.get("cost"),
                "attempt": f.block["run"].get("attempt"),
            }
            for f in shards
        ],
        "models": models,
    }
    return Merged(candidate, comparison, info)
