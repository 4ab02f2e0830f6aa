"""A per-host record of builds in `.mfops/<host-key>/state.json`: legacy, decides nothing.

Since release state became shared (design 12), no build, status or release decision reads
this file: what a server holds is judged from its content tags (build/tags.py) and release
records live in git (release/history.py). The format below is what older mfops wrote; the
class stays for reading such files and for features that keep a cache section here.

A build records, per `name:tag`, the mfops digest it built and the manifest digest the server
reported right after. A later build skips a model only when both still hold: the repo would
build the same content (digest) and nobody changed the server's copy since (manifest). A
manifest that no longer matches means the model was changed by hand: *drifted*.

The folder lives in the repo root (next to `mfops.lock`) and carries its own `.gitignore`
holding `*`, as pytest's cache does, so it is never committed by accident whatever the repo's
own ignore rules say. State is per host: the same repo built against a laptop and a CI server
has two independent records. The folder name comes from the host URL without credentials.

Format (version 1; unknown top-level keys are kept on rewrite, so other features can add
sections):

    {
      "version": 1,
      "host": "http://127.0.0.1:11434",
      "builds": {
        "engine-bot:sha-1a2b3c4": {
          "digest": "sha256:<64 hex>",        # mfops content digest
          "manifest": "<64 hex>",             # /api/tags digest right after the build
          "action": "created",                # or "tagged" (server-side copy)
          "built_at": "2026-01-31T12:00:00Z"
        }
      }
    }

The file is rewritten atomically after every model that completes, so an interrupted build
keeps what it finished.

Other features keep their own top-level *sections* in the same file through `section` and
`update_section`, each with its own version inside: `promotions` holds the promotion and
rollback history (format in history.py). An older mfops keeps such sections untouched when it
rewrites the file, so adding one never needs a new state version.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfops.errors import ConfigError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.jsonfile import line_of, loads_json
from mfops.store.trust import check_state_dir, open_nofollow

if TYPE_CHECKING:
    from mfops.server.hosts import Host

STATE_VERSION = 1
STATE_FILE = "state.json"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_MANIFEST = re.compile(r"[0-9a-f]{64}\Z")
_ACTIONS = ("created", "tagged")


@dataclass(frozen=True)
class BuildRecord:
    """One `name:tag` that mfops put on the server."""

    digest: str
    manifest: str
    action: str = "created"
    built_at: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "digest": self.digest,
            "manifest": self.manifest,
            "action": self.action,
            "built_at": self.built_at,
        }


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_verified: set[Path] = set()


def ensure_state_dir(state_dir: Path) -> None:
    """Create `.mfops/` with its `.gitignore` (`*`), so its content is never committed.

    A `.mfops/` that git tracks or that holds symlinks is `UntrustedStateDir` (trust.py).
    Checked once per process and folder (a `git ls-files` each time would cost a process per
    saved model); every writer command checks afresh when it takes the lock (writerlock.py),
    and `write_atomic` never follows a link under `.mfops/` in any case."""
    if state_dir not in _verified:
        check_state_dir(state_dir.parent, writer=True)
        _verified.add(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    ignore = state_dir / ".gitignore"
    if not ignore.exists():
        write_atomic(ignore, "# created by mfops: this folder is local state, never commit it\n*\n")


def read_state_file(path: Path) -> bytes:
    """The bytes of a file under `.mfops/`, opened without following any symlink."""
    fd = open_nofollow(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


_AFRESH = "delete the file to start afresh"


def _build_problem(entry: object) -> str | None:
    """What is wrong with one `builds` entry (to follow its key path), None if nothing."""
    if not isinstance(entry, dict):
        return " must be an object"
    digest, manifest = entry.get("digest"), entry.get("manifest")
    action, built_at = entry.get("action", "created"), entry.get("built_at", "")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        return f".digest: expected 'sha256:' and 64 hex digits, got {digest!r}"
    if not isinstance(manifest, str) or not _MANIFEST.match(manifest):
        return f".manifest: expected 64 hex digits, got {manifest!r}"
    if action not in _ACTIONS or not isinstance(built_at, str):
        return ": bad action or built_at"
    return None


def parse_state(raw: bytes, path: str) -> tuple[str, dict[str, BuildRecord], dict[str, Any]]:
    """A state file's host, build records and other sections; ConfigError when malformed."""
    data = loads_json(raw, path, what="state", hint=_AFRESH)
    text = raw.decode("utf-8")  # loads_json has checked that it decodes
    if not isinstance(data, dict):
        raise ConfigError("state must be a JSON object", path=path, line=1)
    if data.get("version") != STATE_VERSION:
        raise ConfigError(
            f"unsupported state version {data.get('version')!r} (this mfops reads {STATE_VERSION})",
            path=path,
            line=line_of(text, '"version"') or 1,
            hint=_AFRESH,
        )
    builds = data.get("builds", {})
    if not isinstance(builds, dict):
        raise ConfigError(
            "state: 'builds' must be an object", path=path, line=line_of(text, '"builds"')
        )
    out: dict[str, BuildRecord] = {}
    for key, entry in builds.items():
        problem = _build_problem(entry)
        if problem is not None:  # the line is looked up only now: a scan per entry is O(n²)
            raise ConfigError(
                f"state: builds.{key}{problem}", path=path, line=line_of(text, json.dumps(key))
            )
        out[key] = BuildRecord(
            entry["digest"],
            entry["manifest"],
            entry.get("action", "created"),
            entry.get("built_at", ""),
        )
    extra = {k: v for k, v in data.items() if k not in ("version", "host", "builds")}
    return str(data.get("host", "")), out, extra


class BuildState:
    """The build records of one host; thread-safe, saved after every change.

    Lookups are by `name:tag` exactly as mfops spells it (`engine-bot:sha-1a2b3c4`).
    """

    def __init__(
        self,
        path: Path,
        host: str,
        builds: dict[str, BuildRecord],
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.host = host
        self._builds = dict(builds)
        self._extra = dict(extra or {})
        self._lock = threading.Lock()
        self._by_digest: dict[str, list[str]] | None = None

    @classmethod
    def load(cls, state_dir: Path, host: Host) -> BuildState:
        """Read the state of `host` under `state_dir` (`.mfops`); empty when there is none.

        A malformed file is a ConfigError naming it: mfops never guesses at its own records.
        """
        path = state_dir / host.key / STATE_FILE
        if not check_state_dir(state_dir.parent, writer=False):
            return cls(path, host.display, {})  # not written by mfops here: ignored, warned
        try:
            raw = read_state_file(path)
        except FileNotFoundError:
            return cls(path, host.display, {})
        except OSError as err:
            raise ConfigError(f"cannot read state: {err.strerror}", path=str(path)) from None
        _, builds, extra = parse_state(raw, str(path))
        return cls(path, host.display, builds, extra)

    def get(self, key: str) -> BuildRecord | None:
        with self._lock:
            return self._builds.get(key)

    @property
    def builds(self) -> dict[str, BuildRecord]:
        with self._lock:
            return dict(self._builds)

    def with_digest(self, digest: str) -> list[str]:
        """Every recorded `name:tag` built from this digest (candidates for a copy)."""
        with self._lock:
            if self._by_digest is None:
                index: dict[str, list[str]] = {}
                for key in sorted(self._builds):
                    index.setdefault(self._builds[key].digest, []).append(key)
                self._by_digest = index
            return list(self._by_digest.get(digest, ()))

    def record(self, key: str, rec: BuildRecord) -> None:
        """Remember one finished model and write the file at once (atomically)."""
        with self._lock:
            self._builds[key] = rec
            self._by_digest = None
            self._save_locked()

    def record_many(self, records: dict[str, BuildRecord]) -> None:
        """Remember several finished models with one write."""
        with self._lock:
            self._builds.update(records)
            self._by_digest = None
            self._save_locked()

    def forget(self, key: str) -> None:
        with self._lock:
            if self._builds.pop(key, None) is not None:
                self._by_digest = None
                self._save_locked()

    def section(self, key: str) -> Any:
        """A copy of the top-level section `key` another feature keeps here; None if absent."""
        with self._lock:
            return copy.deepcopy(self._extra.get(key))

    def update_section(self, key: str, change: Callable[[Any], Any]) -> Any:
        """Set section `key` to `change(current)` and write the file at once (atomically).

        `current` is read from the file again first, so that what another mfops process
        added to the section since this state was loaded (a promotion in a second terminal)
        is kept rather than overwritten. Returns the new value.
        """
        if key in ("version", "host", "builds"):
            raise ValueError(f"{key!r} is not a section")
        with self._lock:
            self._refresh_sections_locked(strict=True)
            value = change(copy.deepcopy(self._extra.get(key)))
            self._extra[key] = value
            self._save_locked(refresh=False)
            return copy.deepcopy(value)

    def _refresh_sections_locked(self, *, strict: bool) -> None:
        """Take the sections as the file holds them now: sections are written through at
        once by whoever changes them, so the file's copy is never older than ours. Without
        `strict` an unreadable file is left to be overwritten."""
        try:
            data = loads_json(
                read_state_file(self.path), str(self.path), what="state", hint=_AFRESH
            )
        except FileNotFoundError:
            return
        except OSError as err:
            if strict:
                raise ConfigError(
                    f"cannot read state: {err.strerror}", path=str(self.path), hint=_AFRESH
                ) from None
            return
        except ConfigError:
            if strict:
                raise
            return
        if isinstance(data, dict) and data.get("version") == STATE_VERSION:
            self._extra.update(
                (k, v) for k, v in data.items() if k not in ("version", "host", "builds")
            )
        elif strict:
            raise ConfigError("state: not a state file this mfops can read", path=str(self.path))

    def dumps(self) -> str:
        with self._lock:
            return self._dumps_locked()

    def _dumps_locked(self) -> str:
        data = {
            "version": STATE_VERSION,
            "host": self.host,
            "builds": {k: self._builds[k].to_json() for k in sorted(self._builds)},
            **self._extra,
        }
        return json.dumps(data, indent=1, sort_keys=False) + "\n"

    def _save_locked(self, *, refresh: bool = True) -> None:
        if refresh:
            self._refresh_sections_locked(strict=False)
        ensure_state_dir(self.path.parent.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, self._dumps_locked())
