"""The parse and digest cache: work that depends only on content is done once per content.

A 10,000-model repository costs seconds to read, parse and digest, yet between two runs (or
two refs) almost nothing changes. Five maps make a run cost what changed:

- *modelfiles*: git blob id (sha1 of `blob <size>\\0<bytes>`, the id git gives the same
  bytes) -> the decoded text and its FROM/ADAPTER/DRAFT instructions: enough for the graph,
  and the text is parsed again only when a model's other commands are needed. A commit's
  blobs come with their ids from `git ls-tree`; a worktree file gets its id when read.
- *stat*: a worktree path and its stat data (mtime_ns, ctime_ns, size, inode, mode), as in
  git's index -> the blob id read from it, so an unchanged file is not even read. Racy git:
  an entry whose mtime is not older than the segment that recorded it, or that was less
  than two seconds old when recorded, is never trusted (the file is re-read; its parse is
  still found by blob id).
- *digests*: a key over everything a model's digest depends on (its blob id, its base's
  identity, which holds the parent's digest, and its local files' digests) -> the digest.
- *declared*: git blob id -> what that Modelfile's own create request holds (graph/
  declaredcache.py encodes and checks it), so that comparing effective configs (`mfops
  diff`) folds remembered requests instead of parsing every Modelfile of each chain again.
- *revisions*: a commit (with the mfops root's place in it) -> its graph rows (graph/
  stored.py), lock text and every model's digest there.
  A commit never changes, so this is kept only when nothing the digests read lies outside
  the repository (no path that escapes it: those files can change under the same commit).

Every map lives in memory for the whole process (so `diff v1 v2` parses each blob once) and,
when a `Guard` is installed (store/cache.py does it; the command line imports it) and it
says `.mfops/` may be used (store/trust.py), on disk under `.mfops/cache/` as *segments*:
JSON files each written once, atomically, under a unique name, holding only the entries one
run added. Readers merge every segment; a segment that is unreadable, not JSON, of another
mfops version or cache format, or malformed is ignored (the entries are validated on load,
never unpickled). When there are many segments, a run rewrites them into one, keeping the
entries it used first and at most `MAX_ENTRIES` per map (eviction). Concurrent runs never
write the same file; deleting `.mfops/cache/` at any time only costs time.

The cache cannot change a result: a parse is found only by the exact bytes' id, a digest
only by the exact inputs of its payload, and everything else is recomputed. Nor can a
segment this machine did not write: each carries an HMAC under the machine key (one per
file), and one that does not verify is ignored, so a cache restored from elsewhere or
planted in a checkout is never read. The cache lives in the repo layer (snapshots use it);
what trust needs (the state-folder check, nofollow opens, the machine key) is store's, so
store/cache.py installs it here as the `Guard`. Without one the cache stays in memory.
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
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from mfops import __version__
from mfops.errors import ConfigError, MfopsError, ModelfileError
from mfops.fileio.atomic import STATE_DIR_NAME, write_atomic
from mfops.fileio.bulk import paused_gc
from mfops.fileio.jsonfile import loads_json
from mfops.language.modelfile import (
    GRAPH_KEYWORDS,
    Instruction,
    Modelfile,
    Node,
    parse,
)

#: Bump when the meaning or layout of any cached entry changes.
CACHE_FORMAT = 5
CACHE_DIR = "cache"
#: At most this many entries per map are kept when segments are merged.
MAX_ENTRIES = 60_000
#: At most this many commits' graphs and digests are kept (each is one entry, but large).
MAX_REVISIONS = 16
#: More segments than this and the next run that adds entries merges them.
MAX_SEGMENTS = 16
#: Segments larger than this are not read (and are removed at the next merge).
MAX_SEGMENT_BYTES = 128 * 1024 * 1024
#: A file modified less than this before it was read may change again unseen (FAT: 2 s).
RACY_NS = 2_000_000_000
#: MFOPS_CACHE=0 turns the on-disk cache off (memory only), for comparisons and debugging.
ENV_SWITCH = "MFOPS_CACHE"

#: The working tree's graph and what it depended on (one file, replaced atomically).
WORKTREE_FILE = f"f{CACHE_FORMAT}-worktree.json"

_BLOB = re.compile(r"[0-9a-f]{40}\Z")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_PREFIX = f"f{CACHE_FORMAT}-"
_INS_TYPES = (str, str, int, int, int, int, str, str, str, str)
#: A segment file: this line (with the payload's HMAC), then the JSON payload.
_MAGIC = b"mfops-cache "


class Guard(Protocol):
    """What the on-disk cache needs from the trust rules (store/trust.py)."""

    def usable(self, root: Path) -> bool:
        """Whether `root/.mfops` may be read (a reader's check: warns once when not)."""
        ...

    def open_read(self, path: Path) -> int:
        """A file descriptor for reading `path`, following no symlink."""
        ...

    def key(self) -> bytes | None:
        """The machine key segments are signed with; None: nothing on disk is trusted."""
        ...

    def sign(self, key: bytes, payload: bytes) -> str: ...

    def verify(self, key: bytes, payload: bytes, mac: object) -> bool: ...


_guard: list[Guard] = []


def install_guard(guard: Guard) -> None:
    """Let caches opened from now on use `.mfops/cache/` under `guard`'s rules."""
    _guard[:] = [guard]


def blob_id(data: bytes) -> str:
    """The id git gives a blob holding `data`."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def stat_key(rel: str, st: os.stat_result) -> str:
    return f"{rel}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_size}\0{st.st_ino}\0{st.st_mode}"


def _row(n: Instruction) -> list[object]:
    return [
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


def _encode(mf: Modelfile, text: str) -> list[object]:
    """[newline, the decoded text (parsed again only when the nodes are used), the rows of
    the graph's instructions]."""
    graph = [_row(n) for keyword in _GRAPH_ORDER for n in mf.of(keyword)]
    return [mf.newline, text, graph]


#: The graph keywords in the order their rows are written (each keyword's in file order:
#: `_deferred` groups them by keyword again). `Modelfile.of` answers a deferred parse
#: without decoding it and a full one from the index the graph builds anyway.
_GRAPH_ORDER = tuple(sorted(GRAPH_KEYWORDS))


def _instruction(row: object) -> Instruction | None:
    if type(row) is list and len(row) == 10 and tuple(map(type, row)) == _INS_TYPES:
        return Instruction(*row)
    return None


def _deferred(
    entry: object, path: str | None, reparse: Callable[[], Modelfile]
) -> Modelfile | None:
    """A Modelfile for a cached entry whose text is parsed when its nodes are first used
    (and, should it not parse, re-read and parsed by `reparse`); None when the entry's
    outline is malformed."""
    if type(entry) is not list or len(entry) != 3:
        return None
    newline, text, rows = entry
    if newline not in ("\n", "\r\n", "\r") or type(text) is not str or type(rows) is not list:
        return None
    graph: dict[str, list[Instruction]] = {}
    for row in rows:
        ins = _instruction(row)
        if ins is None or ins.keyword not in GRAPH_KEYWORDS:
            return None
        graph.setdefault(ins.keyword, []).append(ins)

    def load() -> tuple[Node, ...]:
        try:
            return parse(text, path=path).nodes  # the same text gives the same parse
        except ModelfileError:
            return reparse().nodes  # not what mfops stored: read the file again

    return Modelfile.deferred(
        load, path=path, newline=newline, graph={k: tuple(v) for k, v in graph.items()}
    )


class _Map:
    """One map: entries loaded from its segments, those added and those used this run."""

    def __init__(self, name: str, disk: _Disk | None, limit: int | None = None) -> None:
        self.name = name
        self.limit = limit
        self.disk = disk
        self.directory = disk.directory if disk is not None else None
        self.loaded: dict[str, object] = {}
        self.added: dict[str, object] = {}
        self.used: set[str] = set()
        self.segments: list[Path] = []
        self._ready = disk is None

    def _load(self) -> None:
        self._ready = True
        assert self.directory is not None
        prefix = f"{_PREFIX}{self.name}-"
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.startswith(prefix))
        except OSError:
            return
        for name in names:
            path = self.directory / name
            self.segments.append(path)
            assert self.disk is not None
            data, written_ns = self.disk.read(path)
            entries = data.get("entries") if data is not None else None
            if isinstance(entries, dict):
                self.loaded.update(_valid(self.name, entries, written_ns))

    def get(self, key: str) -> object | None:
        if not self._ready:
            self._load()
        found = self.added.get(key)
        if found is None:
            found = self.loaded.get(key)
        if found is not None:
            self.used.add(key)
        return found

    def known(self) -> bool:
        """Whether the map holds any entry (loaded or added this run)."""
        if not self._ready:
            self._load()
        return bool(self.loaded or self.added)

    def put(self, key: str, value: object) -> None:
        if not self._ready:
            self._load()
        self.used.add(key)
        if key not in self.loaded:
            self.added[key] = value

    def drop(self, key: str) -> None:
        self.loaded.pop(key, None)
        self.added.pop(key, None)
        self.used.discard(key)

    def save(self) -> None:
        """Write what this run added as one new segment (merging all when there are many).

        Best effort: a cache that cannot be written is only a slower next run."""
        if self.directory is None or not self.added:
            return
        merge = len(self.segments) >= MAX_SEGMENTS or (
            self.limit is not None and len(self.loaded) + len(self.added) > self.limit
        )
        entries = self.bounded() if merge else dict(self.added)
        if self.name == "modelfiles":
            entries = {k: _encode(*v) if isinstance(v, tuple) else v for k, v in entries.items()}
        payload = {"format": CACHE_FORMAT, "mfops": __version__, "entries": entries}
        name = f"{_PREFIX}{self.name}-{time.time_ns():020d}-{secrets.token_hex(4)}.json"
        assert self.disk is not None
        try:
            path = self.disk.write(name, json.dumps(payload, separators=(",", ":")).encode())
        except OSError:
            return
        if path is None:
            return
        self.loaded.update(self.added)
        self.added.clear()
        if merge:
            for old in self.segments:
                with contextlib.suppress(OSError):
                    os.unlink(old)
            self.segments = [path]
        else:
            self.segments.append(path)

    def bounded(self) -> dict[str, object]:
        """Every entry used this run, then others, at most MAX_ENTRIES (the rest evicted)."""
        limit = MAX_ENTRIES if self.limit is None else self.limit
        out: dict[str, object] = {}
        for key in self.used:
            value = self.added.get(key, self.loaded.get(key))
            if value is not None:
                out[key] = value
            if len(out) >= limit:
                return out
        for source in (self.added, self.loaded):
            for key, value in source.items():
                if len(out) >= limit:
                    return out
                out.setdefault(key, value)
        return out


class _Revisions:
    """The revisions map: one file per commit key (`f<FORMAT>-revisions-<hex>.json`), read
    only when that commit is asked for, so a run pays for the commits it uses and not for
    every commit stored. The file holds a one-entry segment payload and is replaced
    atomically (two runs writing the same commit write the same entry); at most
    MAX_REVISIONS files are kept, the least recently written removed first."""

    name = "revisions"

    def __init__(self, disk: _Disk | None) -> None:
        self.disk = disk
        self.loaded: dict[str, object] = {}
        self.added: dict[str, object] = {}
        self.used: set[str] = set()
        self._read: set[str] = set()
        #: (commit key, part) -> (the part, its JSON): see `_encoded`
        self._texts: dict[tuple[str, str], tuple[object, str]] = {}

    def _path(self, key: str) -> Path | None:
        if self.disk is None or not _DIGEST.match(key):
            return None
        return self.disk.directory / f"{_PREFIX}{self.name}-{key[7:]}.json"

    def get(self, key: str) -> object | None:
        if key not in self._read:
            self._read.add(key)
            path = self._path(key)
            if path is not None:
                assert self.disk is not None
                data, written_ns = self.disk.read(path)
                entries = data.get("entries") if data is not None else None
                if isinstance(entries, dict):
                    found = _valid(self.name, entries, written_ns).get(key)
                    if found is not None:
                        self.loaded[key] = found
        found = self.added.get(key, self.loaded.get(key))
        if found is not None:
            self.used.add(key)
        return found

    def put(self, key: str, value: object) -> None:
        self.used.add(key)
        self.added[key] = value

    def save(self) -> None:
        if self.disk is None or not self.added:
            return
        for key, value in self.added.items():
            path = self._path(key)
            if path is None:
                continue
            payload = (
                f'{{"format":{CACHE_FORMAT},"mfops":{json.dumps(__version__)},'
                f'"entries":{{{json.dumps(key)}:{self._encoded(key, value)}}}}}'
            )
            try:
                self.disk.write(path.name, payload.encode())
            except OSError:
                return
            self.loaded[key] = value
        self.added.clear()
        self._bound()

    def _encoded(self, key: str, value: object) -> str:
        """JSON of one commit's entry, the same text `json.dumps` gives, reusing the text
        of each part (graph, lock, digests) already written this run: a cold `digest --ref`
        writes the commit's graph, then graph and digests, and the graph's 10,000 rows
        were encoded twice (the part is the same object when unchanged, see put_revision)."""
        if not isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        parts = []
        for name, part in value.items():
            memo = self._texts.get((key, name))
            if memo is None or memo[0] is not part:
                memo = self._texts[(key, name)] = (part, json.dumps(part, separators=(",", ":")))
            parts.append(f"{json.dumps(name)}:{memo[1]}")
        return "{" + ",".join(parts) + "}"

    def _bound(self) -> None:
        assert self.disk is not None
        prefix = f"{_PREFIX}{self.name}-"
        found: list[tuple[int, str]] = []
        with contextlib.suppress(OSError), os.scandir(self.disk.directory) as it:
            for entry in it:
                if entry.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
        found.sort()
        for _, path in found[: max(0, len(found) - MAX_REVISIONS)]:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _valid(kind: str, entries: dict[str, object], written_ns: int) -> dict[str, object]:
    """The entries of a segment that are well-formed (modelfile and declared entries are
    checked in full when decoded); racy stat entries (mtime not older than the segment)
    left out."""
    out: dict[str, object] = {}
    if kind in ("modelfiles", "declared"):
        for key, value in entries.items():
            if _BLOB.match(key):
                out[key] = value
    elif kind == "stat":
        for key, value in entries.items():
            if not (isinstance(value, str) and _BLOB.match(value)):
                continue
            parts = key.split("\0")
            if len(parts) == 6 and parts[1].isdigit() and int(parts[1]) < written_ns:
                out[key] = value
    elif kind == "revisions":  # the parts are checked where they are used
        for key, value in entries.items():
            if _DIGEST.match(key) and isinstance(value, dict):
                out[key] = value
    else:
        for key, value in entries.items():
            if _DIGEST.match(key) and isinstance(value, str) and _DIGEST.match(value):
                out[key] = value
    return out


class Cache:
    """The five maps, in memory and (with a guard and a directory) in signed segment files."""

    def __init__(self, directory: Path | None, guard: Guard | None = None) -> None:
        disk = _Disk(directory, guard) if directory is not None and guard is not None else None
        self.directory = disk.directory if disk is not None else None
        self._parsed: dict[str, Modelfile] = {}
        self._modelfiles = _Map("modelfiles", disk)
        self._stat = _Map("stat", disk)
        self._digests = _Map("digests", disk)
        self._declared = _Map("declared", disk)
        self._revisions = _Revisions(disk)
        self._disk = disk
        self._worktree: list[dict[str, object] | None] = []
        self._worktree_new: dict[str, object] | None = None
        #: In-process only, never saved: results the graph layer may share between
        #: snapshots of this repository (graph/inheritance.py keeps classifications).
        self.memo: dict[str, object] = {}

    @classmethod
    def open(cls, root: Path) -> Cache:
        """The cache of the repo at `root`: on disk when a guard is installed and says
        `.mfops/` may be used (else one warning, and memory only), unless MFOPS_CACHE=0.
        Never raises for an untrusted folder: writer commands refuse it themselves."""
        if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "off", "no", "false"):
            return cls(None)
        if not _guard or not _guard[0].usable(root):
            return cls(None)
        return cls(root / STATE_DIR_NAME / CACHE_DIR, _guard[0])

    def modelfile(
        self, blob: str, path: str | None, reparse: Callable[[], Modelfile]
    ) -> Modelfile | None:
        """The parse of blob `blob`, named `path` in messages; None when unknown.
        `reparse` reads and parses the content again, should a cached entry be malformed."""
        mf = self._parsed.get(blob)
        if mf is None:
            entry = self._modelfiles.get(blob)
            if entry is None:
                return None
            mf = _deferred(entry, path, reparse) if isinstance(entry, list) else None
            if mf is None:
                self._modelfiles.drop(blob)
                return None
            self._parsed[blob] = mf
            return mf
        self._modelfiles.used.add(blob)
        if mf.path == path:
            return mf
        graph = mf.__dict__.get("_graph")
        if graph is not None and "nodes" not in mf.__dict__:
            return Modelfile.deferred(lambda: mf.nodes, path=path, newline=mf.newline, graph=graph)
        named = Modelfile(mf.nodes, path, mf.newline)
        for view in ("_instructions", "_index"):  # path-free views: `diff v1 v2` reads each
            if view in mf.__dict__:  # unchanged model at both refs, built once
                named.__dict__[view] = mf.__dict__[view]
        return named

    def put_modelfile(self, blob: str, mf: Modelfile, text: str) -> None:
        """Remember the parse `mf` of the decoded `text` of blob `blob`."""
        self._parsed[blob] = mf
        self._modelfiles.put(blob, (mf, text))

    def stat_blob(self, rel: str, st: os.stat_result) -> str | None:
        """The blob id last read from worktree file `rel` if its stat data is unchanged."""
        found = self._stat.get(stat_key(rel, st))
        return found if isinstance(found, str) else None

    def stat_known(self) -> bool:
        """Whether any worktree stat data is known: when not (a cold run), looking each file
        up is a wasted `stat` per file."""
        return self._stat.known()

    def put_stat(self, rel: str, st: os.stat_result, blob: str, read_ns: int) -> None:
        """Remember what `rel` held, unless it was modified too recently to be sure."""
        if st.st_mtime_ns + RACY_NS < read_ns and stat.S_ISREG(st.st_mode):
            self._stat.put(stat_key(rel, st), blob)

    def digest(self, key: str) -> str | None:
        found = self._digests.get(key)
        return found if isinstance(found, str) else None

    def put_digest(self, key: str, digest: str) -> None:
        self._digests.put(key, digest)

    def declared(self, blob: str) -> list[object] | None:
        """The remembered own request of blob `blob` (graph/declaredcache.py checks it)."""
        found = self._declared.get(blob)
        return found if type(found) is list else None

    def put_declared(self, blob: str, entry: list[object]) -> None:
        self._declared.put(blob, entry)

    def drop_declared(self, blob: str) -> None:
        """Forget an entry that did not decode (it is not written again)."""
        self._declared.drop(blob)

    def revision(self, key: str) -> dict[str, object]:
        """What is stored for one commit (see graph/revision.py): {} when nothing."""
        found = self._revisions.get(key)
        return dict(found) if isinstance(found, dict) else {}

    def put_revision(self, key: str, **parts: object) -> None:
        """Store parts (digests, graph, lock) of one commit's entry, keeping the others."""
        entry = self.revision(key)
        entry.update(parts)
        self._revisions.put(key, entry)

    def worktree(self) -> dict[str, object] | None:
        """The working tree's remembered graph (graph/worktree.py checks it), or None."""
        if not self._worktree:
            found = None
            if self._disk is not None:
                data, _ = self._disk.read(self._disk.directory / WORKTREE_FILE)
                entries = data.get("entries") if data is not None else None
                value = entries.get("worktree") if isinstance(entries, dict) else None
                found = value if isinstance(value, dict) else None
            self._worktree.append(found)
        return self._worktree[0]

    def prepare(self) -> None:
        """Create `.mfops/cache/` now if this cache will write there: before a walk of the
        working tree, so that creating it does not change the stat data of the root
        directory that walk records (graph/worktree.py)."""
        if self._disk is not None and self._disk.key() is not None:
            with contextlib.suppress(OSError):
                self._disk.ensure_dir()

    def put_worktree(self, entry: dict[str, object]) -> None:
        """Remember the working tree's graph (one entry: it replaces the previous one)."""
        self._worktree[:] = [entry]
        self._worktree_new = entry

    def save(self) -> None:
        """Write each map's new entries (see _Map.save), and the worktree entry if new."""
        for m in (self._modelfiles, self._stat, self._digests, self._declared, self._revisions):
            m.save()
        entry, self._worktree_new = self._worktree_new, None
        if entry is not None and self._disk is not None:
            payload = {"format": CACHE_FORMAT, "mfops": __version__, "entries": {"worktree": entry}}
            with contextlib.suppress(OSError):
                self._disk.write(WORKTREE_FILE, json.dumps(payload, separators=(",", ":")).encode())

    def counts(self) -> dict[str, tuple[int, int, int]]:
        """(loaded, added, used) per map: for tests and benchmarks."""
        return {
            m.name: (len(m.loaded), len(m.added), len(m.used))
            for m in (self._modelfiles, self._stat, self._digests, self._declared, self._revisions)
        }


class _Disk:
    """Segment files in one `.mfops/cache/`, signed and checked under a guard."""

    def __init__(self, directory: Path, guard: Guard) -> None:
        self.directory = directory
        self.guard = guard
        self._key: list[bytes | None] = []

    def key(self) -> bytes | None:
        if not self._key:
            self._key.append(self.guard.key())
        return self._key[0]

    def read(self, path: Path) -> tuple[dict[str, object] | None, int]:
        """A segment's content and the time it was written; (None, 0) when it is not
        usable: unreadable, a symlink or not a regular file, too large, not signed by
        this machine, not JSON, or of another cache format or mfops version."""
        key = self.key()
        if key is None:
            return None, 0
        try:
            fd = self.guard.open_read(path)
        except (OSError, MfopsError):
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
        head, _, body = raw.partition(b"\n")
        if not head.startswith(_MAGIC):
            return None, 0
        mac = head[len(_MAGIC) :].decode("ascii", "replace")
        if not self.guard.verify(key, body, mac):
            return None, 0
        try:
            with paused_gc():
                data = loads_json(body, str(path))
        except ConfigError:
            return None, 0
        if (
            not isinstance(data, dict)
            or data.get("format") != CACHE_FORMAT
            or data.get("mfops") != __version__
        ):
            return None, 0
        return data, st.st_mtime_ns

    def write(self, name: str, payload: bytes) -> Path | None:
        """Write one signed segment named `name`; None when there is no machine key.

        Atomically (a temporary file renamed), so no reader and no crashed run ever sees
        half a segment, but without fsync (`durable=False`): a cold run writes megabytes
        here, and a segment is only worth time. What a power loss could leave (a renamed
        file short of its bytes) fails the HMAC check in `read` and is ignored, as is any
        segment that does not verify: the cost is a slower next run, never a wrong one."""
        key = self.key()
        if key is None:
            return None
        self.ensure_dir()
        path = self.directory / name
        mac = self.guard.sign(key, payload)
        data = _MAGIC + mac.encode("ascii") + b"\n" + payload
        write_atomic(path, data, mode=0o600, durable=False)
        return path

    def ensure_dir(self) -> None:
        """Create `.mfops/cache/` (and `.mfops/` with its `*` .gitignore, as builds.py
        does), refusing symlinks on the way."""
        directory = self.directory
        state = directory.parent
        if not state.is_dir():
            state.mkdir(parents=True, exist_ok=True)
            ignore = state / ".gitignore"
            if not ignore.exists():
                write_atomic(ignore, "*\n")
        directory.mkdir(exist_ok=True)
        if os.path.islink(directory) or os.path.islink(state):
            raise OSError("refusing a symlinked cache directory")
