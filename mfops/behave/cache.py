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
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfops.errors import ConfigError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.jsonfile import read_json
from mfops.store.builds import ensure_state_dir

if TYPE_CHECKING:
    from mfops.server.client import Host

CACHE_VERSION = 1
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
        try:
            data = read_json(path, what="test cache")
        except FileNotFoundError:
            return cls(path)
        except (OSError, ConfigError) as err:
            log.warning("ignoring the test cache %s: %s", path, err)
            return cls(path)
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or data.get("version") != CACHE_VERSION:
            log.warning("ignoring the test cache %s: unknown format", path)
            return cls(path)
        return cls(path, entries)

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
        with self._lock:
            if not self._dirty:
                return
            keys = list(self._entries)
            for key in keys[: max(0, len(keys) - MAX_ENTRIES)]:
                del self._entries[key]
            text = json.dumps(
                {"version": CACHE_VERSION, "entries": self._entries},
                separators=(",", ":"),
                ensure_ascii=False,
            )
            self._dirty = False
        ensure_state_dir(self.path.parent.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, text + "\n")
