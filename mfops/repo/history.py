"""The release history: every promotion, rollback and release-gate attempt, kept in git.

A release tag that moved is an event people need to reconstruct later ("what did `latest`
point at on Tuesday, and were its tests green?"), and so is an attempt that was refused or
failed: all are recorded, each as one commit on `refs/mfops/history` (repo/records.py), so a
push and a fetch carry them to every clone and CI runner. Records say what happened, never
what is true now: nothing skips a test because of them.

One record (`record.json`; `format` is bumped for changes an older mfops cannot read, and
an mfops refuses a format newer than its own):

    {
      "format": 1,
      "id": "20260131T120000Z-1a2b3c",
      "kind": "promote",                       # "rollback", or "gate" (a release gate
                                               #  that failed before promoting)
      "outcome": "promoted",                   # "rolled back", "refused", "failed"
      "at": "2026-01-31T12:00:00Z",
      "host": "http://127.0.0.1:11434",        # hosts.host_identity: one spelling per server
      "commit": "<40 hex>" | null,             # HEAD of the repo at the time
      "dirty": false,                          # uncommitted changes in the models?
      "stage": null | "lint" | "diff" | "build" | "test" | "promote",   # gate: where it stopped
      "from": "sha-1a2b3c4d5e6f",              # promote: the candidate; rollback: the release
      "to": "v1.1" | null,                     # rollback: null
      "aliases": ["latest"],
      "models": [
        {"name": "base", "source": "base:sha-1a2b3c4d5e6f",
         "manifest": "<64 hex>" | null,        # what the source held (was tested)
         "digest": "sha256:<64 hex>" | null,   # mfops content digest, when known
         "tests": "passed",                    # passed/failed/error/untested/not run
         "destinations": [{"tag": "v1.1", "before": null, "after": "<64 hex>"}]}
      ],
      "tests": {"passed": 3, "failed": 0, "errors": 0, "cached": 1} | null,
      "failures": ["expert: expert/expert.test.yaml:3 refuses javascript: ..."],
      "reason": null | "one line: why it was refused or failed",
      "restored": null | true | false          # failed: were the moved tags put back?
    }

`before`/`after` are manifest digests as `/api/tags` reports them (null: the tag did not
exist). For a refused or failed attempt `after` equals `before`: nothing moved.

A rollout to an environment (`mfops deploy TAG --env ENV`, and `rollback --env`, which
deploys an earlier release) is `"kind": "deploy"`, written as `"format": 2` so that an older
mfops says "upgrade" instead of calling it corrupt; records of the other kinds stay format 1,
and both are read. It adds (outcome "deployed", "rolled back", "refused" or "failed"; `from`
is the release tag, `to` null, `host` the text `env:NAME`):

      "env": "prod",
      "release": "<id of the promote record deployed>",
      "hosts": [{"host": "http://10.0.0.5:11434", "state": "deployed",   # failed, refused,
                                            # unreachable, not started, interrupted
                 "canary": true, "reason": null,
                 "models": [{"name": "base", "content": "mf-<12 hex>",
                             "manifest": "<64 hex>" | null,   # TAG's manifest on that host
                             "layers": ["sha256:<64 hex>", ...]}]}]
"""

from __future__ import annotations

import json
import secrets
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mfops.errors import ConfigError, MfopsError
from mfops.fileio.bulk import paused_gc
from mfops.fileio.jsonfile import loads_json
from mfops.repo.records import RECORD_FILE, RawRecord, RecordStore

if TYPE_CHECKING:
    from mfops.repo.repository import Repo

#: The record format of promote, rollback and gate records (kept, so an older mfops reads them).
RECORD_FORMAT = 1
#: The format of deploy records (env and per-host results), and the newest this mfops reads.
DEPLOY_FORMAT = 2

Kind = Literal["promote", "rollback", "gate", "deploy"]
Outcome = Literal["promoted", "rolled back", "refused", "failed", "deployed"]
KINDS = ("promote", "rollback", "gate", "deploy")
STAGES = ("lint", "diff", "build", "test", "promote")
OUTCOMES = ("promoted", "rolled back", "refused", "failed", "deployed")
HOST_STATES = ("deployed", "failed", "refused", "unreachable", "not started", "interrupted")
TEST_STATES = ("passed", "failed", "error", "untested", "not run")


@dataclass(frozen=True)
class Destination:
    """One tag a promotion or rollback meant to move, before and after the attempt."""

    tag: str
    before: str | None
    after: str | None

    @property
    def moved(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class ModelEntry:
    """One model of an attempt: its source, what the source held, and its destinations."""

    name: str
    source: str
    manifest: str | None = None
    digest: str | None = None
    tests: str = "not run"
    destinations: tuple[Destination, ...] = ()


@dataclass(frozen=True)
class TestCounts:
    """Cases of a test run by outcome; `cached` counts those answered from the cache."""

    __test__ = False  # not a pytest class, despite the name

    passed: int = 0
    failed: int = 0
    errors: int = 0
    cached: int = 0


@dataclass(frozen=True)
class HostModel:
    """One model on one host after a deploy: its content tag, the manifest its release tag
    holds there (manifests differ between Ollama versions) and its layers."""

    name: str
    content: str
    manifest: str | None = None
    layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostResult:
    """What a deploy did on one host of the environment (`state`: HOST_STATES)."""

    host: str
    state: str
    canary: bool = False
    reason: str | None = None
    models: tuple[HostModel, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One promotion or rollback attempt (see the module docstring for the JSON form)."""

    id: str
    kind: Kind
    outcome: Outcome
    at: str
    host: str
    from_tag: str
    to_tag: str | None = None
    aliases: tuple[str, ...] = ()
    models: tuple[ModelEntry, ...] = ()
    tests: TestCounts | None = None
    failures: tuple[str, ...] = ()
    reason: str | None = None
    restored: bool | None = None
    commit: str | None = None
    dirty: bool = False
    stage: str | None = None
    env: str | None = None  # deploy records only (below too)
    release: str | None = None
    hosts: tuple[HostResult, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in ("promoted", "rolled back", "deployed")

    def involves(self, name: str) -> bool:
        folded = name.casefold()
        return any(m.name.casefold() == folded for m in self.models)

    def to_json(self) -> dict[str, Any]:
        out = self._common()
        if self.kind != "deploy":
            return out
        out["format"] = DEPLOY_FORMAT
        out["env"] = self.env
        out["release"] = self.release
        out["hosts"] = [
            {
                "host": h.host,
                "state": h.state,
                "canary": h.canary,
                "reason": h.reason,
                "models": [
                    {
                        "name": m.name,
                        "content": m.content,
                        "manifest": m.manifest,
                        "layers": list(m.layers),
                    }
                    for m in h.models
                ],
            }
            for h in self.hosts
        ]
        return out

    def _common(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "id": self.id,
            "kind": self.kind,
            "outcome": self.outcome,
            "at": self.at,
            "host": self.host,
            "commit": self.commit,
            "dirty": self.dirty,
            "stage": self.stage,
            "from": self.from_tag,
            "to": self.to_tag,
            "aliases": list(self.aliases),
            "models": [
                {
                    "name": m.name,
                    "source": m.source,
                    "manifest": m.manifest,
                    "digest": m.digest,
                    "tests": m.tests,
                    "destinations": [
                        {"tag": d.tag, "before": d.before, "after": d.after} for d in m.destinations
                    ],
                }
                for m in self.models
            ],
            "tests": None
            if self.tests is None
            else {
                "passed": self.tests.passed,
                "failed": self.tests.failed,
                "errors": self.tests.errors,
                "cached": self.tests.cached,
            },
            "failures": list(self.failures),
            "reason": self.reason,
            "restored": self.restored,
        }


def new_id(at: str | None = None) -> str:
    """A sortable, unique id: the UTC time and a few random hex digits."""
    stamp = at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return stamp.replace("-", "").replace(":", "") + "-" + secrets.token_hex(3)


# --------------------------------------------------------------------------- reading


class _Reader:
    """Typed access to one entry's JSON; every problem names the record and key path."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where

    def fail(self, key: str, expected: str) -> ConfigError:
        return corrupt(self.path, f"{self.where}.{key}: expected {expected}")

    def str_(self, data: dict[str, Any], key: str, *, optional: bool = False) -> Any:
        value = data.get(key)
        if (value is None and optional) or isinstance(value, str):
            return value
        raise self.fail(key, "a string" + (" or null" if optional else ""))

    def choice(self, data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> Any:
        value = data.get(key)
        if value not in allowed:
            raise self.fail(key, " or ".join(repr(a) for a in allowed))
        return value

    def strs(self, data: dict[str, Any], key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of strings")
        return tuple(value)

    def objs(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, "a list of objects")
        return value


def _entry(data: Any, path: str, index: int) -> Entry:
    r = _Reader(path, "record")
    if not isinstance(data, dict):
        raise corrupt(path, "not a JSON object")
    models = [
        _plain_model(m) or _model(m, _Reader(path, f"{r.where}.models[{n}]"))
        for n, m in enumerate(r.objs(data, "models"))
    ]
    tests = data.get("tests")
    counts = None
    if tests is not None:
        if not isinstance(tests, dict) or not all(
            isinstance(tests.get(k, 0), int) for k in ("passed", "failed", "errors", "cached")
        ):
            raise r.fail("tests", "an object of counts or null")
        counts = TestCounts(
            tests.get("passed", 0),
            tests.get("failed", 0),
            tests.get("errors", 0),
            tests.get("cached", 0),
        )
    restored = data.get("restored")
    if restored is not None and not isinstance(restored, bool):
        raise r.fail("restored", "true, false or null")
    kind = r.choice(data, "kind", KINDS)
    if (kind == "deploy") != (data.get("format") == DEPLOY_FORMAT):
        raise corrupt(path, f"a {kind} record in format {data.get('format')!r}")
    hosts = []
    for n, h in enumerate(r.objs(data, "hosts")):
        hr = _Reader(path, f"{r.where}.hosts[{n}]")
        canary = h.get("canary", False)
        if not isinstance(canary, bool):
            raise hr.fail("canary", "true or false")
        hmodels = []
        for k, m in enumerate(hr.objs(h, "models")):
            mr = _Reader(path, f"{hr.where}.models[{k}]")
            hmodels.append(
                HostModel(
                    mr.str_(m, "name"),
                    mr.str_(m, "content"),
                    mr.str_(m, "manifest", optional=True),
                    mr.strs(m, "layers"),
                )
            )
        hosts.append(
            HostResult(
                hr.str_(h, "host"),
                hr.choice(h, "state", HOST_STATES),
                canary,
                hr.str_(h, "reason", optional=True),
                tuple(hmodels),
            )
        )
    return Entry(
        id=r.str_(data, "id"),
        kind=kind,
        outcome=r.choice(data, "outcome", OUTCOMES),
        at=r.str_(data, "at"),
        host=r.str_(data, "host"),
        from_tag=r.str_(data, "from"),
        to_tag=r.str_(data, "to", optional=True),
        aliases=r.strs(data, "aliases"),
        models=tuple(models),
        tests=counts,
        failures=r.strs(data, "failures"),
        reason=r.str_(data, "reason", optional=True),
        restored=restored,
        commit=r.str_(data, "commit", optional=True),
        dirty=bool(data.get("dirty", False)),
        stage=r.str_(data, "stage", optional=True),
        env=r.str_(data, "env", optional=True),
        release=r.str_(data, "release", optional=True),
        hosts=tuple(hosts),
    )


def _plain_model(m: dict[str, Any]) -> ModelEntry | None:
    """A model row whose every field has its type, read without `_Reader`'s per-field calls
    (a 10,000-model release is 10,000 rows in each read of the history); None for anything
    else, which `_model` then reads again and names precisely."""
    name, source = m.get("name"), m.get("source")
    manifest, digest = m.get("manifest"), m.get("digest")
    tests, rows = m.get("tests"), m.get("destinations", [])
    if not (
        type(name) is str
        and type(source) is str
        and (manifest is None or type(manifest) is str)
        and (digest is None or type(digest) is str)
        and tests in TEST_STATES
        and type(rows) is list
    ):
        return None
    dests = []
    for d in rows:
        if type(d) is not dict:
            return None
        tag, before, after = d.get("tag"), d.get("before"), d.get("after")
        if not (
            type(tag) is str
            and (before is None or type(before) is str)
            and (after is None or type(after) is str)
        ):
            return None
        dests.append(Destination(tag, before, after))
    return ModelEntry(name, source, manifest, digest, tests, tuple(dests))


def _model(m: dict[str, Any], mr: _Reader) -> ModelEntry:
    """A model row read field by field: a problem names the record and the key path."""
    dests = []
    for k, d in enumerate(mr.objs(m, "destinations")):
        dr = _Reader(mr.path, f"{mr.where}.destinations[{k}]")
        dests.append(
            Destination(
                dr.str_(d, "tag"),
                dr.str_(d, "before", optional=True),
                dr.str_(d, "after", optional=True),
            )
        )
    return ModelEntry(
        mr.str_(m, "name"),
        mr.str_(m, "source"),
        mr.str_(m, "manifest", optional=True),
        mr.str_(m, "digest", optional=True),
        mr.choice(m, "tests", TEST_STATES),
        tuple(dests),
    )


def corrupt(where: str, problem: str) -> ConfigError:
    """A record mfops cannot read: name it, and a recovery that keeps the history."""
    commit = where.rpartition("@")[2]
    return ConfigError(
        f"corrupt release record: {problem}",
        path=where,
        hint=f"nothing was changed; inspect it with `git cat-file -p {commit}:record.json`, "
        "or read the others with `mfops history --skip-invalid`",
    )


class NewerRecord(MfopsError):
    """A record written by a newer mfops, in a format this one cannot read."""


#: Records parsed by this process, per repository, by commit id: a commit's content never
#: changes, and a command reads the history several times (the gate, then its promote).
#: Only what parsed is kept; a corrupt record is read (and named) again each time.
_parsed: weakref.WeakKeyDictionary[Repo, dict[str, Entry]] = weakref.WeakKeyDictionary()


def parse(raw: RawRecord) -> Entry:
    """One record from its git commit; ConfigError (corrupt) or NewerRecord."""
    where = f"{raw.ref}@{raw.commit[:12]}"
    if raw.data is None:
        raise corrupt(where, f"the commit holds no {RECORD_FILE}")
    try:
        data = loads_json(raw.data, where)
    except ConfigError as err:  # not UTF-8, not JSON, or hostile (too deep, too long)
        raise corrupt(where, MfopsError.__str__(err)) from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > DEPLOY_FORMAT:
        raise NewerRecord(
            f"{where}: release record format {fmt} was written by a newer mfops (this one "
            f"reads up to {DEPLOY_FORMAT})",
            hint="upgrade mfops to read the history",
        )
    if fmt not in (RECORD_FORMAT, DEPLOY_FORMAT) or isinstance(fmt, bool):
        raise corrupt(where, f"format {fmt!r}, expected {RECORD_FORMAT} or {DEPLOY_FORMAT}")
    return _entry(data, where, 0)


def load(
    repo: Repo,
    name: str | None = None,
    *,
    host: str | None = None,
    skip_invalid: bool = False,
) -> list[Entry]:
    """Every recorded attempt, oldest first, from git refs only; those involving model
    `name` / on `host` (an identity) when given. A record this mfops cannot read raises,
    unless `skip_invalid` (then it is left out)."""
    if repo.git_root is None:
        return []
    store = RecordStore(repo.store)
    found = store.commits()
    parsed = _parsed.setdefault(repo, {})
    todo = [c for c, _ in found if c not in parsed]
    contents = dict(zip(todo, store.contents(todo), strict=True))
    entries: dict[str, Entry] = {}
    with paused_gc():  # a 10,000-model record is 30,000 objects: no collection midway
        for commit, ref in reversed(found):  # oldest first, as written
            entry = parsed.get(commit)
            if entry is None:
                try:
                    entry = parse(RawRecord(commit, ref, contents[commit]))
                except MfopsError:
                    if skip_invalid:
                        continue
                    raise
                parsed[commit] = entry
            entries.setdefault(entry.id, entry)
    return [
        e
        for e in entries.values()
        if (name is None or e.involves(name)) and (host is None or e.host == host)
    ]


def headline(entry: Entry) -> str:
    """The record commit's message: one line a person can read in `git log`."""
    models = ",".join(m.name for m in entry.models) or "-"
    if entry.kind == "deploy":
        aliases = ",".join(entry.aliases)
        return (
            f"mfops deploy {entry.outcome}: {entry.from_tag}"
            + (f" (+{aliases})" if aliases else "")
            + f" to env {entry.env} ({len(entry.hosts)} hosts): {models}"
        )
    tags = ",".join(t for t in (entry.to_tag, *entry.aliases) if t)
    return f"mfops {entry.kind} {entry.outcome}: {models} {entry.from_tag} -> {tags or '-'}"


def check_writable(repo: Repo) -> None:
    """Raise RepoError now when a record could not be written (a lock file a killed git
    left on the ref): asked before a release moves any tag (records.py)."""
    RecordStore(repo.store).check_writable()


def append(repo: Repo, entry: Entry) -> str:
    """Write one record (a commit on refs/mfops/history, compare-and-swap); its commit."""
    data = json.dumps(entry.to_json(), indent=1, sort_keys=True) + "\n"
    return RecordStore(repo.store).append(data.encode("utf-8"), headline(entry))


def released_tags(entries: list[Entry]) -> set[str]:
    """Every tag a release record names as `--to` or `--alias` (any outcome: a tag someone
    meant as a release is one)."""
    out: set[str] = set()
    for e in entries:
        if e.kind in ("promote", "gate") and e.to_tag:
            out.add(e.to_tag)
        out.update(e.aliases)
    return out
