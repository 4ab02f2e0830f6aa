"""Gated promotion and rollback: a release tag only ever points at a model that passed.

`promote` points `name:TO` (a release, e.g. `v1.1`) and any aliases (`latest`, `prod`) at
`name:FROM` (a built candidate) for a set of models, and only when every applicable suite
passed against exactly the manifests being promoted. It runs the tests itself, through a
`Tester` (verdict.py; `suite_tester` runs the real suites, and results may come from the
test cache, which is keyed by the model's manifest digest, so a cached pass is still a pass
of that exact model). Before anything is tested it refuses when:

- `name:FROM` is not on the server;
- `name:FROM` does not hold what the repo builds now (tags.classify: it holds another
  content tag's model, or one no content tag holds, changed by hand); `allow_drift` turns
  both into warnings;
- the candidate is *dirty* (built from uncommitted files: its tag ends in `-dirty`, or the
  repo has uncommitted changes now), unless `allow_dirty` (recorded as dirty);
- `name:TO` already exists holding another model: a release tag names one model for good
  (aliases are what moves), unless `overwrite`.

After the tests it refuses a model that failed, errored, or had no cases at all (untested;
`allow_untested` lets it through with a warning). Then the tags move all-or-nothing in
dependency order (retag.py): parents first, each model's release tag before its aliases; a
failure puts every moved tag back. Every attempt, promoted, refused or failed, is written to
the history (history.py: a commit on `refs/mfops/history`) before `promote` returns.
`preview_promote` / `preview_rollback` say what would happen (`--dry-run`) and record
nothing.

`rollback` points aliases of one model back at an earlier release, all-or-nothing as well,
and is recorded the same way. It runs no tests (the release was tested when promoted) and
does not load the repo's models, so it works while the repo is broken; it warns when the
history has no record of promoting that release on this host.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mfops.build.plan import check_tag
from mfops.build.tags import classify, content_tag, is_content_tag
from mfops.errors import MfopsError
from mfops.language.names import parse_name
from mfops.language.suggest import close_matches, did_you_mean, missing_tag_hint
from mfops.release.retag import BACKUP_PREFIX, Move, key, retag
from mfops.release.signals import Interrupted, held_signals
from mfops.release.verdict import ModelTests, Tester, TestSummary
from mfops.repo import history
from mfops.repo.history import Destination, Entry, ModelEntry
from mfops.store.builds import now_utc

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.release.retag import EventFn, RetagOutcome
    from mfops.repo.repository import Repo
    from mfops.server.client import Server

__all__ = [
    "PromoteInterrupted",
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
    """Where a promotion happens: the server, the repo (its records are in git), the host's
    identity (hosts.host_identity), and, for the record, HEAD and whether it is dirty."""

    server: Server
    repo: Repo
    host: str
    commit: str | None = None
    dirty: bool = False


def target_of(server: Server, repo: Repo, host: str) -> Target:
    """The Target for `repo` as it is now: HEAD and its uncommitted changes."""
    return Target(server, repo, host, repo.head_commit(), repo.is_dirty())


@dataclass(frozen=True)
class PromoteRequest:
    names: tuple[str, ...]
    from_tag: str
    to_tag: str
    aliases: tuple[str, ...] = ()
    allow_untested: bool = False
    allow_drift: bool = False
    overwrite: bool = False
    allow_dirty: bool = False


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


class PromoteInterrupted(Interrupted):
    """A stop signal arrived while the attempt was being recorded: it was recorded (as
    `result` says, the tags as it says), then the signal took effect."""

    def __init__(self, result: Result, signum: int) -> None:
        super().__init__(signum)
        self.result = result


def check_tags(*tags: str) -> None:
    """Every tag valid, none reserved, none an mfops backup tag, no two the same."""
    for tag in tags:
        check_tag(tag)
        if tag.startswith(BACKUP_PREFIX):
            raise MfopsError(f"tag {tag!r} looks like an mfops backup tag; choose another")
        if is_content_tag(tag):
            raise MfopsError(f"tag {tag!r} is a content tag: mfops writes those itself")
    seen: set[str] = set()
    for tag in tags:
        if tag.casefold() in seen:  # Ollama's names are case-insensitive
            raise MfopsError(f"tag {tag!r} is given twice (from, to and aliases must differ)")
        seen.add(tag.casefold())


def _one_line(problems: Sequence[str], prefix: str) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{prefix}: {problems[0]}{more}"


# --------------------------------------------------------------------------- promote


def _dirty(target: Target, req: PromoteRequest) -> str | None:
    """Why the candidate is not a commit (None: it is one)."""
    if req.from_tag.casefold().endswith("-dirty"):
        return f"{req.from_tag} was built from uncommitted changes"
    if target.dirty:
        return "the repository has uncommitted changes, so the candidate is not a commit"
    return None


def _precheck(
    target: Target, rev: Revision, req: PromoteRequest, names: list[str], listing: Mapping[str, Any]
) -> tuple[list[str], list[str]]:
    """(problems, warnings) known before any test runs (module docstring)."""
    problems: list[str] = []
    warnings: list[str] = []
    dirty = _dirty(target, req)
    if dirty is not None:
        text = f"{dirty}: a release must name a commit"
        if req.allow_dirty:
            warnings.append(text + " (--allow-dirty: recorded as dirty)")
        else:
            problems.append(text + " (commit first, or pass --allow-dirty)")
    digests = rev.digests
    for name in names:
        src = f"{name}:{req.from_tag}"
        have = listing.get(key(src))
        if have is None:
            hint = missing_tag_hint(name, req.from_tag, [m.name for m in listing.values()])
            problems.append(f"{src} is not on the server at {target.host} ({hint})")
            continue
        verdict, detail = classify(name, req.from_tag, digests[name], listing)
        found = [] if verdict == "up to date" else [detail]
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
    history.check_writable(target.repo)  # records live in git: no record, no release
    names = rev.graph.closure([rev.graph[n].name for n in req.names])
    tags = (req.to_tag, *req.aliases)
    at = now_utc()
    listing = target.server.models()
    # what each candidate holds, when it is a content tag's model (None: unknown)
    digests = {
        n: (
            d
            if listing.get(f"{n}:{content_tag(d := rev.digests[n])}".casefold()) is not None
            and classify(n, req.from_tag, d, listing)[0] == "up to date"
            else None
        )
        for n in names
    }
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
            dirty=target.dirty or req.from_tag.casefold().endswith("-dirty"),
        )
        result = Result(entry, tuple(problems), tuple(warnings), tests, moves)
        try:
            with held_signals():  # a record half-written is no record (signals.py)
                history.append(target.repo, entry)
        except KeyboardInterrupt as stop:  # arrived during the write: recorded, then stop
            raise PromoteInterrupted(result, getattr(stop, "signum", signal.SIGINT)) from None
        return result

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


# --------------------------------------------------------------------------- rollback


def _check_model_on_server(target: Target, name: str) -> None:
    """A NAME the server has no tag of is a typo, not a refused rollback: raise (exit 2,
    nothing recorded) with the models it does have that are close."""
    models: set[str] = set()
    for entry in target.server.models().values():
        try:
            models.add(parse_name(entry.name).untagged)
        except ValueError:
            continue
    want = parse_name(name).untagged.casefold()
    if any(m.casefold() == want for m in models):
        return
    raise MfopsError(
        f"no model {name!r} on the server at {target.host}",
        hint=did_you_mean(close_matches(name, models)) or "see `mfops status`",
    )


def rollback(
    target: Target,
    *,
    to_tag: str,
    aliases: Sequence[str],
    name: str | None = None,
    names: Sequence[str] | None = None,
    on_event: EventFn | None = None,
) -> Result:
    """Point `name:ALIAS` for each alias back at `name:TO_TAG`, for one model (`name`) or
    several (`names`; `all_at_tag` lists every model holding TO_TAG), all or nothing: one
    retag moves every alias of every model, and a failure puts back all that moved. One
    history entry records the attempt (module docstring)."""
    if not aliases:
        raise MfopsError("no alias to point back", hint="pass --alias")
    check_tags(to_tag, *aliases)
    history.check_writable(target.repo)  # records live in git: no record, no rollback
    wanted = list(names or ()) + ([name] if name is not None else [])
    if not wanted:
        raise MfopsError("no models to roll back", hint="name one, or pass --all")
    for one in wanted:
        try:
            parse_name(f"{one}:{to_tag}")
        except ValueError as err:
            raise MfopsError(f"invalid model name {one!r}: {err}") from None
        _check_model_on_server(target, one)
    at = now_utc()
    warnings: list[str] = []
    entries = history.load(target.repo, host=target.host)
    promoted_of: dict[str, list[Entry]] = {}
    for one in wanted:
        promoted_of[one] = [
            e
            for e in entries
            if e.involves(one)
            and e.kind == "promote"
            and e.outcome == "promoted"
            and e.to_tag == to_tag
        ]
        if not promoted_of[one]:
            warnings.append(f"the history has no promotion of {one}:{to_tag} on this host")
    moves = [Move(f"{one}:{to_tag}", f"{one}:{a}") for one in wanted for a in aliases]
    interrupted: KeyboardInterrupt | None = None
    try:
        outcome = retag(target.server, moves, on_event=on_event)
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
        state, reason = "rolled back", None
    elif outcome.stage == "check":
        state, reason = "refused", f"rollback refused: {outcome.error}"
        missing = next(
            (o for o in wanted if outcome.error == f"{o}:{to_tag} is not on the server"), None
        )
        if missing is not None:  # name the releases there are, or the one meant
            names = [m.name for m in target.server.models().values()]
            reason += f" ({missing_tag_hint(missing, to_tag, names)})"
    else:
        state, reason = "failed", _failed_reason(outcome).replace("moving the tags", "rolling back")
    models = []
    for one in wanted:
        source = f"{one}:{to_tag}"
        mine = [m for m in outcome.moves if m.source == source]
        manifest = mine[0].source_manifest if mine else None
        digest = next(
            (
                m.digest
                for e in reversed(promoted_of[one])
                for m in e.models
                if m.name == one and m.digest
            ),
            None,
        )
        dests = tuple(
            Destination(m.destination.rpartition(":")[2], m.before, m.after) for m in mine
        )
        models.append(ModelEntry(one, source, manifest, digest, "not run", dests))
    entry = Entry(
        id=history.new_id(at),
        kind="rollback",
        outcome=state,  # type: ignore[arg-type]
        at=at,
        host=target.host,
        from_tag=to_tag,
        to_tag=None,
        aliases=tuple(aliases),
        models=tuple(models),
        reason=reason,
        restored=outcome.restored,
        commit=target.commit,
        dirty=target.dirty,
    )
    with held_signals():
        history.append(target.repo, entry)
    if interrupted is not None:
        raise interrupted
    problems = (outcome.error or "",) if state == "refused" else ()
    return Result(entry, problems, tuple(warnings), None, outcome)


# --------------------------------------------------------------------------- dry runs


@dataclass(frozen=True)
class PlannedMove:
    """One tag a promotion or rollback would move: from `before` to `after` (manifests;
    None: absent), copying `source`."""

    destination: str
    source: str
    before: str | None
    after: str | None

    @property
    def moves(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Preview:
    """What `promote` / `rollback` would do (`--dry-run`): the tag moves, the models whose
    suites would run (at `tag`), and what would refuse it. Nothing is tested, moved or
    recorded."""

    kind: str
    tag: str
    moves: tuple[PlannedMove, ...]
    tests: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _planned(
    listing: Mapping[str, Any], pairs: Sequence[tuple[str, str]]
) -> tuple[PlannedMove, ...]:
    def manifest(name: str) -> str | None:
        found = listing.get(key(name))
        return found.digest if found is not None else None

    return tuple(PlannedMove(d, s, manifest(d), manifest(s)) for s, d in pairs)


def preview_promote(target: Target, rev: Revision, req: PromoteRequest) -> Preview:
    """The plan of `promote` without testing, moving or recording anything."""
    check_tags(req.from_tag, req.to_tag, *req.aliases)
    if not req.names:
        raise MfopsError("no models to promote", hint="name them, or pass --all")
    names = rev.graph.closure([rev.graph[n].name for n in req.names])
    listing = target.server.models()
    problems, warnings = _precheck(target, rev, req, names, listing)
    pairs = [(f"{n}:{req.from_tag}", f"{n}:{t}") for n in names for t in (req.to_tag, *req.aliases)]
    return Preview(
        "promote",
        req.from_tag,
        _planned(listing, pairs),
        tuple(names),
        tuple(problems),
        tuple(warnings),
    )


def preview_rollback(
    target: Target, *, names: Sequence[str], to_tag: str, aliases: Sequence[str]
) -> Preview:
    """The plan of `rollback` (one model or several) without moving or recording anything."""
    if not aliases:
        raise MfopsError("no alias to point back", hint="pass --alias")
    check_tags(to_tag, *aliases)
    listing = target.server.models()
    problems = [
        f"{n}:{to_tag} is not on the server"
        for n in names
        if listing.get(key(f"{n}:{to_tag}")) is None
    ]
    entries = history.load(target.repo, host=target.host)
    warnings = [
        f"the history has no promotion of {n}:{to_tag} on this host"
        for n in names
        if not any(
            e.involves(n) and e.kind == "promote" and e.outcome == "promoted" and e.to_tag == to_tag
            for e in entries
        )
    ]
    pairs = [(f"{n}:{to_tag}", f"{n}:{a}") for n in names for a in aliases]
    return Preview(
        "rollback", to_tag, _planned(listing, pairs), (), tuple(problems), tuple(warnings)
    )


def all_at_tag(server: Server, tag: str) -> list[str]:
    """Every model the server holds at `tag` (what `rollback --all --to TAG` covers), sorted;
    the repo is not read, so a rollback works while the repo is broken."""
    out = set()
    for entry in server.models().values():
        try:
            parsed = parse_name(entry.name)
        except ValueError:
            continue
        if parsed.tag.casefold() == tag.casefold():
            out.add(parsed.untagged)
    if not out:
        raise MfopsError(
            f"no model on the server holds the tag {tag!r}", hint="see `mfops history`"
        )
    return sorted(out)
