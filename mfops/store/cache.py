"""The parse and digest cache: work that depends only on content is done once per content.

A 10,000-model repository costs seconds to read, parse and digest, yet between two runs (or
two refs) almost nothing changes. Three maps make a run cost what changed:

- *modelfiles*: git blob id (sha1 of `blob <size>\\0<bytes>`, the id git gives the same
  bytes) -> the parsed Modelfile's nodes. A commit's blobs come with their ids from
  `git ls-tree`; a worktree file gets its id when it is read.
- *stat*: a worktree path and its stat data (mtime_ns, ctime_ns, size, inode, mode), as in
  git's index -> the blob id read from it, so an unchanged file is not even read. Racy git:
  an entry whose mtime is not older than the segment that recorded it, or that was less
  than two seconds old when recorded, is never trusted (the file is re-read; its parse is
  still found by blob id).
- *digests*: a key over everything a model's digest depends on (its blob id, its base's
  identity, which holds the parent's digest, and its local files' digests) -> the digest.

Every map lives in memory for the whole process (so `diff v1 v2` parses each blob once) and,
when `.mfops/` may be used (store/trust.py), on disk under `.mfops/cache/` as *segments*:
JSON files each written once, atomically, under a unique name, holding only the entries one
run added. Readers merge every segment; a segment that is unreadable, not JSON, of another
mfops version or cache format, or malformed is ignored (the entries are validated on load,
never unpickled). When there are many segments, a run rewrites them into one, keeping the
entries it used first and at most `MAX_ENTRIES` per map (eviction). Concurrent runs never
write the same file; deleting `.mfops/cache/` at any time only costs time.

The cache cannot change a result: a parse is found only by the exact bytes' id, a digest
only by the exact inputs of its payload, and everything else is recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from mfops import __version__
from mfops.fileio.atomic import write_atomic
from mfops.language.modelfile import Blank, Comment, Instruction, Modelfile, Node
from mfops.store.trust import STATE_DIR, check_state_dir

#: Bump when the meaning or layout of any cached entry changes.
CACHE_FORMAT = 1
CACHE_DIR = "cache"
#: At most this many entries per map are kept when segments are merged.
MAX_ENTRIES = 60_000
#: More segments than this and the next run that adds entries merges them.
MAX_SEGMENTS = 16
#: Segments larger than this are not read (and are removed at the next merge).
MAX_SEGMENT_BYTES = 128 * 1024 * 1024
#: A file modified less than this before it was read may change again unseen (FAT: 2 s).
RACY_NS = 2_000_000_000
#: MFOPS_CACHE=0 turns the on-disk cache off (memory only), for comparisons and debugging.
ENV_SWITCH = "MFOPS_CACHE"

_BLOB = re.compile(r"[0-9a-f]{40}\Z")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_PREFIX = f"f{CACHE_FORMAT}-"
_INS_TYPES = (str, str, int, int, int, int, str, str, str, str)


def blob_id(data: bytes) -> str:
    """The id git gives a blob holding `data`."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def stat_key(rel: str, st: os.stat_result) -> str:
    return f"{rel}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_size}\0{st.st_ino}\0{st.st_mode}"


def _encode(mf: Modelfile) -> list[object]:
    rows: list[object] = []
    for n in mf.nodes:
        if isinstance(n, Instruction):
            rows.append(
                [
                    n.keyword,
                    n.value,
                    n.line,
                    n.column,
                    n.end_line,
                    n.value_column,
                    n.written,
                    n.param,
                    n.role,
                    n.quote,
                ]
            )
        elif isinstance(n, Comment):
            rows.append([n.text, n.line])
        else:
            rows.append([n.line, n.count])
    return [mf.newline, rows]


def _decode(entry: object, path: str | None) -> Modelfile | None:
    """The Modelfile of a cached entry, or None for anything malformed."""
    if not isinstance(entry, list) or len(entry) != 2:
        return None
    newline, rows = entry
    if newline not in ("\n", "\r\n", "\r") or not isinstance(rows, list):
        return None
    nodes: list[Node] = []
    ins_types = _INS_TYPES
    try:
        for row in rows:
            size = len(row)
            if size == 10 and tuple(map(type, row)) == ins_types:
                nodes.append(Instruction(*row))
            elif size == 2 and type(row[1]) is int:
                if type(row[0]) is str:
                    nodes.append(Comment(row[0], row[1]))
                elif type(row[0]) is int:
                    nodes.append(Blank(row[0], row[1]))
                else:
                    return None
            else:
                return None
    except TypeError:
        return None
    return Modelfile(tuple(nodes), path, newline)


@dataclass
class _Map:
    """One map: entries loaded from segments, those added this run, those used this run."""

    loaded: dict[str, object]
    added: dict[str, object]
    used: set[str]

    def get(self, key: str) -> object | None:
        found = self.added.get(key)
        if found is None:
            found = self.loaded.get(key)
        if found is not None:
            self.used.add(key)
        return found

    def put(self, key: str, value: object) -> None:
        self.added[key] = value
        self.used.add(key)


def _empty() -> _Map:
    return _Map({}, {}, set())


class Cache:
    """The three maps, in memory and (when `directory` is set) in segment files there."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._parsed: dict[str, Modelfile] = {}
        self._maps: dict[str, _Map] | None = None
        self._segments: list[Path] = []

    @classmethod
    def open(cls, root: Path, *, writer: bool = False) -> Cache:
        """The cache of the repo at `root`: on disk unless `.mfops/` may not be used (then a
        warning, or for a writer UntrustedStateDir) or MFOPS_CACHE=0."""
        if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "off", "no", "false"):
            return cls(None)
        if not check_state_dir(root, writer=writer):
            return cls(None)
        return cls(root / STATE_DIR / CACHE_DIR)

    # -- loading ---------------------------------------------------------------------

    @property
    def maps(self) -> dict[str, _Map]:
        if self._maps is None:
            self._maps = {"modelfiles": _empty(), "stat": _empty(), "digests": _empty()}
            if self.directory is not None:
                self._load(self.directory)
        return self._maps

    def _load(self, directory: Path) -> None:
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
        except OSError:
            return
        for name in names:
            path = directory / name
            if not name.startswith(_PREFIX):
                self._segments.append(path)  # another format: merged away, never read
                continue
            data, written_ns = _read_segment(path)
            self._segments.append(path)
            if data is not None:
                self._merge(data, written_ns)

    def _merge(self, data: dict[str, object], written_ns: int) -> None:
        maps = self.maps
        mfs = data.get("modelfiles")
        if isinstance(mfs, dict):
            target = maps["modelfiles"].loaded
            for key, value in mfs.items():
                if _BLOB.match(key):
                    target[key] = value  # validated when decoded
        stats = data.get("stat")
        if isinstance(stats, dict):
            target = maps["stat"].loaded
            for key, value in stats.items():
                if not (isinstance(key, str) and isinstance(value, str) and _BLOB.match(value)):
                    continue
                parts = key.split("\0")
                if len(parts) == 6 and parts[1].isdigit() and int(parts[1]) < written_ns:
                    target[key] = value  # racy entries (mtime not older) are left out
        digests = data.get("digests")
        if isinstance(digests, dict):
            target = maps["digests"].loaded
            for key, value in digests.items():
                if _DIGEST.match(key) and isinstance(value, str) and _DIGEST.match(value):
                    target[key] = value

    # -- the maps --------------------------------------------------------------------

    def modelfile(self, blob: str, path: str | None) -> Modelfile | None:
        """The parse of blob `blob`, named `path` in messages; None when unknown."""
        mf = self._parsed.get(blob)
        if mf is None:
            entry = self.maps["modelfiles"].get(blob)
            if entry is None:
                return None
            mf = entry if isinstance(entry, Modelfile) else _decode(entry, path)
            if mf is None:
                self.maps["modelfiles"].loaded.pop(blob, None)
                return None
            self._parsed[blob] = mf
            if blob in self.maps["modelfiles"].loaded:
                self.maps["modelfiles"].loaded[blob] = mf  # the JSON rows can go
        else:
            self.maps["modelfiles"].used.add(blob)
        return mf if mf.path == path else Modelfile(mf.nodes, path, mf.newline)

    def put_modelfile(self, blob: str, mf: Modelfile) -> None:
        self._parsed[blob] = mf
        if blob not in self.maps["modelfiles"].loaded:
            self.maps["modelfiles"].put(blob, mf)
        else:
            self.maps["modelfiles"].used.add(blob)

    def stat_blob(self, rel: str, st: os.stat_result) -> str | None:
        """The blob id last read from worktree file `rel` if its stat data is unchanged."""
        found = self.maps["stat"].get(stat_key(rel, st))
        return found if isinstance(found, str) else None

    def put_stat(self, rel: str, st: os.stat_result, blob: str, read_ns: int) -> None:
        """Remember what `rel` held, unless it was modified too recently to be sure."""
        if st.st_mtime_ns + RACY_NS < read_ns and stat.S_ISREG(st.st_mode):
            key = stat_key(rel, st)
            if key not in self.maps["stat"].loaded:
                self.maps["stat"].put(key, blob)

    def digest(self, key: str) -> str | None:
        found = self.maps["digests"].get(key)
        return found if isinstance(found, str) else None

    def put_digest(self, key: str, digest: str) -> None:
        if key not in self.maps["digests"].loaded:
            self.maps["digests"].put(key, digest)

    # -- saving ----------------------------------------------------------------------

    def save(self) -> None:
        """Write what this run added as one new segment (merging all when there are many).

        Best effort: a cache that cannot be written is only a slower next run."""
        if self.directory is None or self._maps is None:
            return
        maps = self._maps
        if not any(m.added for m in maps.values()):
            return
        merge = len(self._segments) >= MAX_SEGMENTS
        payload: dict[str, object] = {"format": CACHE_FORMAT, "mfops": __version__}
        for name, m in maps.items():
            entries = _bounded(m) if merge else dict(m.added)
            if name == "modelfiles":
                entries = {
                    k: _encode(v) if isinstance(v, Modelfile) else v for k, v in entries.items()
                }
            payload[name] = entries
        try:
            _ensure_dir(self.directory)
            path = self.directory / f"{_PREFIX}{time.time_ns():020d}-{secrets.token_hex(4)}.json"
            write_atomic(path, json.dumps(payload, separators=(",", ":")), mode=0o600)
        except OSError:
            return
        for m in maps.values():
            m.loaded.update(m.added)
            m.added.clear()
        if merge:
            for old in self._segments:
                with contextlib.suppress(OSError):
                    os.unlink(old)
            self._segments = [path]
        else:
            self._segments.append(path)


def _bounded(m: _Map) -> dict[str, object]:
    """Every entry used this run, then others, at most MAX_ENTRIES (the rest are evicted)."""
    out: dict[str, object] = {}
    for key in m.used:
        value = m.added.get(key, m.loaded.get(key))
        if value is not None:
            out[key] = value
        if len(out) >= MAX_ENTRIES:
            return out
    for source in (m.added, m.loaded):
        for key, value in source.items():
            if len(out) >= MAX_ENTRIES:
                return out
            out.setdefault(key, value)
    return out


def _read_segment(path: Path) -> tuple[dict[str, object] | None, int]:
    """A segment's content and the time it was written; (None, 0) when it is not usable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None, 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SEGMENT_BYTES:
            return None, 0
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            raw = fh.read()
    except OSError:
        return None, 0
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        data = json.loads(raw)
    except ValueError:
        return None, 0
    if (
        not isinstance(data, dict)
        or data.get("format") != CACHE_FORMAT
        or data.get("mfops") != __version__
    ):
        return None, 0
    return data, st.st_mtime_ns


def _ensure_dir(directory: Path) -> None:
    """Create `.mfops/cache/` (and `.mfops/` with its `*` .gitignore, as builds.py does)."""
    state = directory.parent
    if not state.is_dir():
        state.mkdir(parents=True, exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            write_atomic(ignore, "*\n")
    directory.mkdir(exist_ok=True)
    if os.path.islink(directory) or os.path.islink(state):
        raise OSError("refusing a symlinked cache directory")
