"""Gated promotion and rollback: a release tag only ever points at a model that passed.

`promote` points `name:TO` (a release, e.g. `v1.1`) and any aliases (`latest`, `prod`) at
`name:FROM` (a built candidate) for a set of models, and only when every applicable suite
passed against exactly the manifests being promoted. It runs the tests itself, through a
`Tester` (verdict.py; `suite_tester` runs the real suites, and results may come from the
test cache, which is keyed by the model's manifest digest, so a cached pass is still a pass
of that exact model). Before anything is tested it refuses when:

- `name:FROM` is not on the server;
- mfops recorded building `name:FROM` from other content than the repo now describes, or
  the server's copy is no longer the one it built (changed by hand); `allow_drift` turns
  both into warnings, and a candidate mfops has no record of (built elsewhere) only warns;
- `name:TO` already exists holding another model: a release tag names one model for good
  (aliases are what moves), unless `overwrite`.

After the tests it refuses a model that failed, errored, or had no cases at all (untested;
`allow_untested` lets it through with a warning). Then the tags move all-or-nothing in
dependency order (retag.py): parents first, each model's release tag before its aliases; a
failure puts every moved tag back. Every attempt, promoted, refused or failed, is written to
the history (history.py) before `promote` returns.

`rollback` points aliases of one model back at an earlier release, all-or-nothing as well,
and is recorded the same way. It runs no tests (the release was tested when promoted) and
does not load the repo's models, so it works while the repo is broken; it warns when the
history has no record of promoting that release on this host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mfops.build.plan import check_tag
from mfops.errors import MfopsError
from mfops.language.names import parse_name
from mfops.release import history
from mfops.release.history import Destination, Entry, ModelEntry
from mfops.release.retag import BACKUP_PREFIX, Move, key, retag
from mfops.release.verdict import ModelTests, Tester, TestSummary
from mfops.store.builds import BuildRecord, now_utc

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.release.retag import EventFn, RetagOutcome
    from mfops.server.client import Server
    from mfops.store.builds import BuildState

__all__ = [
    "PromoteRequest",
    "Result",
    "Target",
    "TestSummary",
    "Tester",
    "check_tags",
    "promote",
    "rollback",
]


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Target:
    """Where a promotion happens: the server, the host's state (build records and history)
    and, for the history, the repo's HEAD commit."""

    server: Server
    state: BuildState
    host: str
    commit: str | None = None


@dataclass(frozen=True)
class PromoteRequest:
    names: tuple[str, ...]
    from_tag: str
    to_tag: str
    aliases: tuple[str, ...] = ()
    allow_untested: bool = False
    allow_drift: bool = False
    overwrite: bool = False


@dataclass(frozen=True)
class Result:
    """A promotion or rollback attempt: the history entry written, why it was refused
    (`problems`), what to know (`warnings`), the tests and the tag moves."""

    entry: Entry
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    tests: TestSummary | None = None
    moves: RetagOutcome | None = None

    @property
    def ok(self) -> bool:
        return self.entry.ok

    @property
    def reason(self) -> str | None:
        return self.entry.reason


def check_tags(*tags: str) -> None:
    """Every tag valid, none reserved, none an mfops backup tag, no two the same."""
    for tag in tags:
        check_tag(tag)
        if tag.startswith(BACKUP_PREFIX):
            raise MfopsError(f"tag {tag!r} looks like an mfops backup tag; choose another")
    seen: set[str] = set()
    for tag in tags:
        if tag.casefold() in seen:  # Ollama's names are case-insensitive
            raise MfopsError(f"tag {tag!r} is given twice (from, to and aliases must differ)")
        seen.add(tag.casefold())


def _one_line(problems: Sequence[str], prefix: str) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{prefix}: {problems[0]}{more}"


# --------------------------------------------------------------------------- promote


def _precheck(
    target: Target, rev: Revision, req: PromoteRequest, names: list[str], listing: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """(problems, warnings) known before any test runs (module docstring)."""
    problems: list[str] = []
    warnings: list[str] = []
    digests = rev.digests
    for name in names:
        src = f"{name}:{req.from_tag}"
        have = listing.get(key(src))
        if have is None:
            problems.append(
                f"{src} is not on the server at {target.host} (build it first: "
                f"mfops build {name} --tag {req.from_tag})"
            )
            continue
        rec = target.state.get(src)
        found: list[str] = []
        if rec is None:
            warnings.append(
                f"mfops has no record of building {src} on this host; promoting "
                "the server's model as tested"
            )
        else:
            if rec.digest != digests[name]:
                found.append(
                    f"{src} was built from {rec.digest[:19]}, but the repo now "
                    f"describes {name} as {digests[name][:19]}"
                )
            if rec.manifest != have.digest:
                found.append(
                    f"{src} was changed on the server since mfops built it (manifest "
                    f"{have.digest[:12]}, built {rec.manifest[:12]})"
                )
        hint = " (rebuild it, or pass --allow-drift)"
        (warnings if req.allow_drift else problems).extend(f + hint for f in found)
        dest = listing.get(key(f"{name}:{req.to_tag}"))
        if dest is not None and dest.digest != have.digest and not req.overwrite:
            problems.append(
                f"{name}:{req.to_tag} already exists and holds another model "
                f"({dest.digest[:12]}); a release tag is not moved (promote to a "
                "new tag, or pass --overwrite)"
            )
    return problems, warnings


def _model_entries(
    names: Sequence[str],
    from_tag: str,
    tags: Sequence[str],
    sources: Mapping[str, str | None],
    before: Mapping[str, str | None],
    after: Mapping[str, str | None],
    tests: TestSummary | None,
    digests: Mapping[str, str | None],
) -> tuple[ModelEntry, ...]:
    out = []
    for name in names:
        verdict = tests.models[name].status if tests and name in tests.models else "not run"
        dests = tuple(
            Destination(t, before.get(f"{name}:{t}"), after.get(f"{name}:{t}")) for t in tags
        )
        out.append(
            ModelEntry(
                name, f"{name}:{from_tag}", sources.get(name), digests.get(name), verdict, dests
            )
        )
    return tuple(out)


def promote(
    target: Target,
    rev: Revision,
    req: PromoteRequest,
    tester: Tester,
    *,
    on_event: EventFn | None = None,
) -> Result:
    """Test, then move the tags, or refuse; always record the attempt (module docstring).

    Raises only for bad input (invalid tags, unknown models: nothing is recorded) and for
    errors the tests raise (an invalid suite, an unreachable server: recorded as refused).
    """
    check_tags(req.from_tag, req.to_tag, *req.aliases)
    if not req.names:
        raise MfopsError("no models to promote", hint="name them, or pass --all")
    names = rev.graph.closure([rev.graph[n].name for n in req.names])
    tags = (req.to_tag, *req.aliases)
    # what each candidate was built from, as recorded (None: built elsewhere, unknown)
    digests = {
        n: (rec.digest if (rec := target.state.get(f"{n}:{req.from_tag}")) else None) for n in names
    }
    at = now_utc()
    listing = target.server.models()
    sources = {
        n: (m.digest if (m := listing.get(key(f"{n}:{req.from_tag}"))) else None) for n in names
    }
    before = {
        f"{n}:{t}": (m.digest if (m := listing.get(key(f"{n}:{t}"))) else None)
        for n in names
        for t in tags
    }

    def finish(
        outcome: str,
        reason: str | None,
        *,
        problems: Sequence[str] = (),
        warnings: Sequence[str] = (),
        tests: TestSummary | None = None,
        moves: RetagOutcome | None = None,
        after: Mapping[str, str | None] | None = None,
        restored: bool | None = None,
    ) -> Result:
        was = dict(before)
        if moves is not None and moves.stage != "check":  # retag's own, later listing
            was.update((m.destination, m.before) for m in moves.moves)
        entry = Entry(
            id=history.new_id(at),
            kind="promote",
            outcome=outcome,  # type: ignore[arg-type]
            at=at,
            host=target.host,
            from_tag=req.from_tag,
            to_tag=req.to_tag,
            aliases=req.aliases,
            models=_model_entries(
                names,
                req.from_tag,
                tags,
                sources,
                was,
                after if after is not None else was,
                tests,
                digests,
            ),
            tests=tests.counts if tests else None,
            failures=tests.failures if tests else (),
            reason=reason,
            restored=restored,
            commit=target.commit,
        )
        history.append(target.state, entry)
        return Result(entry, tuple(problems), tuple(warnings), tests, moves)

    problems, warnings = _precheck(target, rev, req, names, listing)
    if problems:
        return finish(
            "refused",
            _one_line(problems, "promotion refused"),
            problems=problems,
            warnings=warnings,
        )
    try:
        tests = tester(names, req.from_tag)
    except MfopsError as err:
        finish("refused", f"promotion refused: the tests could not run: {err}", warnings=warnings)
        raise
    for name in names:
        verdict = tests.models.get(name, ModelTests("untested"))
        if verdict.status == "untested":
            text = (
                f"{name} has no test cases, so it is untested (add a suite, or pass "
                "--allow-untested)"
            )
            (warnings if req.allow_untested else problems).append(text)
        elif verdict.status != "passed":
            bad = sum(1 for f in tests.failures if f.startswith(f"{name}:{req.from_tag}:"))
            cmp = tests.comparison
            worse = [c for c in cmp.regressions if c.candidate.run.model == name] if cmp else []
            if worse and len(worse) == bad:  # only regressions against the baseline
                tag = cmp.baselines[name].tag if cmp else None
                problems.append(
                    f"{name}:{req.from_tag}: {len(worse)} test case"
                    f"{'s' if len(worse) != 1 else ''} regressed against {name}:{tag}"
                )
                continue
            problems.append(
                f"{name}:{req.from_tag}: {bad or 'some'} test case"
                f"{'s' if bad != 1 else ''} {verdict.status}"
            )
    if problems:
        return finish(
            "refused",
            _one_line(problems, "promotion refused"),
            problems=problems,
            warnings=warnings,
            tests=tests,
        )
    moves = [
        Move(f"{n}:{req.from_tag}", f"{n}:{t}", tests.models[n].manifest or sources[n])
        for n in names
        for t in tags
    ]
    try:
        outcome = retag(target.server, moves, on_event=on_event)
    except KeyboardInterrupt as stop:  # SIGTERM and SIGHUP too (signals.py)
        stopped: RetagOutcome | None = getattr(stop, "outcome", None)
        finish(
            "failed",
            _interrupted_reason(stopped),
            warnings=[*warnings, *(stopped.warnings if stopped else ())],
            tests=tests,
            moves=stopped,
            after={m.destination: m.after for m in stopped.moves} if stopped else None,
            restored=stopped.restored if stopped else None,
        )
        raise
    warnings += outcome.warnings
    after = {m.destination: m.after for m in outcome.moves}
    if outcome.ok:
        _record_builds(target.state, outcome)
        return finish("promoted", None, warnings=warnings, tests=tests, moves=outcome, after=after)
    if outcome.stage == "check":
        return finish(
            "refused",
            f"promotion refused: {outcome.error}",
            problems=[outcome.error or ""],
            warnings=warnings,
            tests=tests,
            moves=outcome,
        )
    return finish(
        "failed",
        _failed_reason(outcome),
        warnings=warnings,
        tests=tests,
        moves=outcome,
        after=after,
        restored=outcome.restored,
    )


def _interrupted_reason(outcome: RetagOutcome | None) -> str:
    """The record's reason for a move stopped by Ctrl-C, SIGTERM or SIGHUP."""
    if outcome is None:
        return (
            "interrupted while moving the tags; the tags moved so far were put "
            "back where possible: check the server's list"
        )
    if outcome.restored is None:
        return f"{outcome.error} before any tag moved; nothing to put back"
    if outcome.restored:
        return f"{outcome.error} while moving the tags; every moved tag was put back"
    kept = ", ".join(outcome.backups_kept) or "none"
    return (
        f"{outcome.error} while moving the tags, and putting them back failed: "
        f"{outcome.restore_errors[0]} (backups kept: {kept})"
    )


def _failed_reason(outcome: RetagOutcome) -> str:
    if outcome.restored is None:
        return f"moving the tags failed before any moved: {outcome.error}"
    if outcome.restored:
        return f"moving the tags failed, every moved tag was put back: {outcome.error}"
    kept = ", ".join(outcome.backups_kept) or "none"
    return (
        f"moving the tags failed and putting them back failed too: "
        f"{outcome.restore_errors[0]} (backups kept: {kept}); first error: {outcome.error}"
    )


def _record_builds(state: BuildState, outcome: RetagOutcome) -> None:
    """Destinations hold the same model as their sources: give them the sources' build
    records, so `status` and later builds know them. Unrecorded sources stay unrecorded."""
    records = {}
    for move in outcome.moves:
        rec = state.get(move.source)
        if rec is not None and move.after is not None and rec.manifest == move.after:
            records[move.destination] = BuildRecord(rec.digest, move.after, "tagged", now_utc())
        elif state.get(move.destination) is not None:
            state.forget(move.destination)
    if records:
        state.record_many(records)


# --------------------------------------------------------------------------- rollback


def rollback(
    target: Target,
    *,
    name: str,
    to_tag: str,
    aliases: Sequence[str],
    on_event: EventFn | None = None,
) -> Result:
    """Point `name:ALIAS` for each alias back at `name:TO_TAG` (module docstring)."""
    if not aliases:
        raise MfopsError("no alias to point back", hint="pass --alias")
    check_tags(to_tag, *aliases)
    try:
        parse_name(f"{name}:{to_tag}")
    except ValueError as err:
        raise MfopsError(f"invalid model name {name!r}: {err}") from None
    at = now_utc()
    warnings: list[str] = []
    promoted = [
        e
        for e in history.load(target.state, name)
        if e.kind == "promote" and e.outcome == "promoted" and e.to_tag == to_tag
    ]
    if not promoted:
        warnings.append(f"the history has no promotion of {name}:{to_tag} on this host")
    source = f"{name}:{to_tag}"
    interrupted: KeyboardInterrupt | None = None
    try:
        outcome = retag(
            target.server, [Move(source, f"{name}:{a}") for a in aliases], on_event=on_event
        )
    except KeyboardInterrupt as stop:  # SIGTERM and SIGHUP too (signals.py)
        if getattr(stop, "outcome", None) is None:
            raise
        outcome, interrupted = stop.outcome, stop  # type: ignore[attr-defined]
    warnings += outcome.warnings
    if interrupted is not None:
        state, reason = (
            "failed",
            _interrupted_reason(outcome).replace("moving the tags", "rolling back"),
        )
    elif outcome.ok:
        _record_builds(target.state, outcome)
        state, reason = "rolled back", None
    elif outcome.stage == "check":
        state, reason = "refused", f"rollback refused: {outcome.error}"
    else:
        state, reason = "failed", _failed_reason(outcome).replace("moving the tags", "rolling back")
    rec = target.state.get(source)
    manifest = outcome.moves[0].source_manifest if outcome.moves else None
    dests = tuple(
        Destination(m.destination.rpartition(":")[2], m.before, m.after) for m in outcome.moves
    )
    entry = Entry(
        id=history.new_id(at),
        kind="rollback",
        outcome=state,  # type: ignore[arg-type]
        at=at,
        host=target.host,
        from_tag=to_tag,
        to_tag=None,
        aliases=tuple(aliases),
        models=(ModelEntry(name, source, manifest, rec.digest if rec else None, "not run", dests),),
        reason=reason,
        restored=outcome.restored,
        commit=target.commit,
    )
    history.append(target.state, entry)
    if interrupted is not None:
        raise interrupted
    problems = (outcome.error or "",) if state == "refused" else ()
    return Result(entry, problems, tuple(warnings), None, outcome)
