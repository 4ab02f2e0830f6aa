"""The promotion history: every promotion and rollback attempt, kept in the state file.

A release tag that moved is an event people need to reconstruct later ("what did `latest`
point at on Tuesday, and were its tests green?"), and so is an attempt that was refused or
failed: both are recorded. The history lives in the host's `.mfops/<host>/state.json`
(state.py), in its own versioned section, so a state file written by an older mfops stays
readable and an older mfops keeps the section intact:

    "promotions": {
      "version": 1,
      "entries": [                                 # oldest first, at most MAX_ENTRIES
        {
          "id": "20260131T120000Z-1a2b3c",
          "kind": "promote",                       # or "rollback"
          "outcome": "promoted",                   # "rolled back", "refused", "failed"
          "at": "2026-01-31T12:00:00Z",
          "host": "http://127.0.0.1:11434",
          "commit": "<40 hex>" | null,             # HEAD of the repo at the time
          "from": "sha-1a2b3c4",                   # promote: the candidate; rollback: the release
          "to": "v1.1" | null,                     # rollback: null
          "aliases": ["latest"],
          "models": [
            {"name": "base", "source": "base:sha-1a2b3c4",
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
      ]
    }

`before`/`after` are manifest digests as `/api/tags` reports them (null: the tag did not
exist). For a refused or failed attempt `after` equals `before`: nothing moved.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mfops.errors import ConfigError

if TYPE_CHECKING:
    from mfops.store.builds import BuildState

HISTORY_KEY = "promotions"
HISTORY_VERSION = 1
#: The oldest entries are dropped past this many, so the state file stays small.
MAX_ENTRIES = 1000

Kind = Literal["promote", "rollback"]
Outcome = Literal["promoted", "rolled back", "refused", "failed"]
KINDS = ("promote", "rollback")
OUTCOMES = ("promoted", "rolled back", "refused", "failed")
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

    @property
    def ok(self) -> bool:
        return self.outcome in ("promoted", "rolled back")

    def involves(self, name: str) -> bool:
        folded = name.casefold()
        return any(m.name.casefold() == folded for m in self.models)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "outcome": self.outcome,
            "at": self.at,
            "host": self.host,
            "commit": self.commit,
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
    """Typed access to one entry's JSON; every problem names the state file and key path."""

    def __init__(self, path: str, where: str) -> None:
        self.path = path
        self.where = where

    def fail(self, key: str, expected: str) -> ConfigError:
        return ConfigError(
            f"state: {self.where}.{key}: expected {expected}",
            path=self.path,
            hint="delete the 'promotions' section to start the history afresh",
        )

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
    r = _Reader(path, f"promotions.entries[{index}]")
    if not isinstance(data, dict):
        raise ConfigError(f"state: {r.where} must be an object", path=path)
    models = []
    for n, m in enumerate(r.objs(data, "models")):
        mr = _Reader(path, f"{r.where}.models[{n}]")
        dests = tuple(
            Destination(
                _Reader(path, f"{mr.where}.destinations[{k}]").str_(d, "tag"),
                mr.str_(d, "before", optional=True),
                mr.str_(d, "after", optional=True),
            )
            for k, d in enumerate(mr.objs(m, "destinations"))
        )
        models.append(
            ModelEntry(
                mr.str_(m, "name"),
                mr.str_(m, "source"),
                mr.str_(m, "manifest", optional=True),
                mr.str_(m, "digest", optional=True),
                mr.choice(m, "tests", TEST_STATES),
                dests,
            )
        )
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
    return Entry(
        id=r.str_(data, "id"),
        kind=r.choice(data, "kind", KINDS),
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
    )


def _entries_json(section: Any, path: str) -> list[Any]:
    """The raw entries of a section (empty when there is none); refuses unknown versions."""
    if section is None:
        return []
    if not isinstance(section, dict):
        raise ConfigError("state: 'promotions' must be an object", path=path)
    if section.get("version") != HISTORY_VERSION:
        raise ConfigError(
            f"state: unsupported promotions version {section.get('version')!r} (this mfops "
            f"reads {HISTORY_VERSION})",
            path=path,
            hint="upgrade mfops to read this history",
        )
    entries = section.get("entries", [])
    if not isinstance(entries, list):
        raise ConfigError("state: promotions.entries must be a list", path=path)
    return entries


def load(state: BuildState, name: str | None = None) -> list[Entry]:
    """Every recorded attempt, oldest first; only those involving model `name` when given."""
    path = str(state.path)
    raw = _entries_json(state.section(HISTORY_KEY), path)
    entries = [_entry(e, path, i) for i, e in enumerate(raw)]
    return [e for e in entries if name is None or e.involves(name)]


def append(state: BuildState, entry: Entry) -> None:
    """Add one entry and write the state file at once (atomically)."""
    path = str(state.path)

    def change(section: Any) -> dict[str, Any]:
        entries = _entries_json(section, path)
        entries.append(entry.to_json())
        return {"version": HISTORY_VERSION, "entries": entries[-MAX_ENTRIES:]}

    state.update_section(HISTORY_KEY, change)
