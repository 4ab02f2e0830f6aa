"""The test-result cache: `.mfops/<host-key>/test-cache.json`, never committed.

Re-running tests with nothing changed must cost no model calls. A sample's result (the
output, its latency and every assertion's grade) is stored under a key over everything that
decides it:

- the manifest digest of `name:TAG` on the server (from `/api/tags`), so a model rebuilt
  under the same tag is a miss, and the mfops digest of the model;
- the case digest (conversation, format, options, samples, pass rate, assertions);
- the sample's own options (its seed is the base seed + the sample index) and its index,
  so one sample never stands in for another;
- the manifest digests of the judge and embedding models the assertions use;
- the sha256 of the baseline file, for cases with a `baseline` assertion;
- the server version.

Not stored: samples that errored (a server hiccup must not stick), and samples with no fixed
seed at a temperature above 0 (each run is meant to draw anew). A cache that cannot be read
is ignored with a warning: it is only a cache. The file is written once per run (atomically),
and only when something was added; the oldest entries go past `MAX_ENTRIES`.

A cached entry decides a verdict (a cached pass skips the model call), and the repository is
untrusted: a `.mfops/` that git tracks, or that holds symlinks, is not read at all
(mfops.store.trust.check_state_dir), and every entry carries an HMAC of its key and content
under this machine's key (trust.machine_key, kept outside every repository). An entry whose
HMAC does not verify was not written by mfops on this machine and is dropped unread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfops.errors import ConfigError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.jsonfile import loads_json
from mfops.store.builds import ensure_state_dir
from mfops.store.trust import check_state_dir, machine_key, open_nofollow, sign, verify

if TYPE_CHECKING:
    from mfops.server.client import Host

CACHE_VERSION = 2  # 2: entries signed with the machine key
CACHE_FILE = "test-cache.json"
MAX_ENTRIES = 50_000

log = logging.getLogger("mfops")


def sample_key(
    *,
    manifest: str,
    model_digest: str,
    case_digest: str,
    options: dict[str, Any],
    sample: int,
    aux: dict[str, str],
    baseline: str | None,
    server_version: str,
) -> str:
    """The cache key of one sample (see the module docstring)."""
    payload = {
        "v": CACHE_VERSION,
        "manifest": manifest,
        "digest": model_digest,
        "case": case_digest,
        "options": options,
        "sample": sample,
        "aux": aux,
        "baseline": baseline,
        "server": server_version,
    }
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _signed_bytes(name: str, entry: dict[str, Any]) -> bytes:
    """What an entry's HMAC covers: its key and its content, canonically."""
    raw = json.dumps([name, entry], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return raw.encode("utf-8")


def cacheable(options: dict[str, Any]) -> bool:
    """A sample is reproducible when greedy or seeded (seed -1 means a random seed)."""
    temperature = options.get("temperature", 0.8)
    seed = options.get("seed", -1)
    return temperature <= 0 or (seed is not None and int(seed) != -1)


class ResultCache:
    """Sample results by key, for one host; thread-safe. `save()` writes when changed."""

    def __init__(self, path: Path, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self._entries = dict(entries or {})
        self._lock = threading.Lock()
        self._dirty = False
        self.hits = 0
        self.misses = 0

    @classmethod
    def load(cls, state_dir: Path, host: Host) -> ResultCache:
        path = state_dir / host.key / CACHE_FILE
        if not check_state_dir(state_dir.parent, writer=False):
            return cls(path)
        key = machine_key()
        if key is None:
            return cls(path)
        try:
            fd = open_nofollow(path, os.O_RDONLY)
            with os.fdopen(fd, "rb") as fh:
                data = loads_json(fh.read(), str(path), what="test cache")
        except FileNotFoundError:
            return cls(path)
        except (OSError, ConfigError) as err:
            log.warning("ignoring the test cache %s: %s", path, err)
            return cls(path)
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or data.get("version") != CACHE_VERSION:
            log.warning("ignoring the test cache %s: unknown format", path)
            return cls(path)
        trusted: dict[str, dict[str, Any]] = {}
        dropped = 0
        for name, signed in entries.items():
            entry = signed.get("entry") if isinstance(signed, dict) else None
            mac = signed.get("mac") if isinstance(signed, dict) else None
            if isinstance(entry, dict) and verify(key, _signed_bytes(name, entry), mac):
                trusted[name] = entry
            else:
                dropped += 1
        if dropped:
            log.warning(
                "ignoring %d entries of the test cache %s: not written by mfops on this machine",
                dropped,
                path,
            )
        return cls(path, trusted)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            return found

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.pop(key, None)  # re-insert: insertion order is age order
            self._entries[key] = entry
            self._dirty = True

    def save(self) -> None:
        secret = machine_key()
        if secret is None:
            return  # nothing written could be trusted later
        with self._lock:
            if not self._dirty:
                return
            keys = list(self._entries)
            for key in keys[: max(0, len(keys) - MAX_ENTRIES)]:
                del self._entries[key]
            signed = {
                name: {"entry": entry, "mac": sign(secret, _signed_bytes(name, entry))}
                for name, entry in self._entries.items()
            }
            text = json.dumps(
                {"version": CACHE_VERSION, "entries": signed},
                separators=(",", ":"),
                ensure_ascii=False,
            )
            self._dirty = False
        ensure_state_dir(self.path.parent.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, text + "\n")
