"""One read-only file view over the working tree or a commit, and path resolution on top.

A snapshot must answer the same questions whether it reads the disk or a git tree: which
Modelfiles exist, what a FROM/ADAPTER/DRAFT path points at, the bytes and sha256 of a file.
`WorktreeSource` answers from the filesystem, `TreeSource` from one `git ls-tree` listing
plus blobs; `resolve`, `sha256` and `size` are written once against either, so a path
resolves the same way at a tag as on disk when the content is the same.

Resolution follows Ollama's `expandPath` (ollama-reference.md §3.3): absolute paths as given,
`~` and `~user` expanded, anything else joined to the Modelfile's directory and cleaned
lexically (so `a/../b` never visits `a`). The cleaned path is then walked one component at a
time from the mfops root, following symlinks as the kernel would: a path, or a symlink on the
way, that leaves the root *escapes*. What lies outside the root is only on this machine's
filesystem: its kind comes from there (Ollama would look there), but its content is read
only when `allow_paths` in mfops.yaml covers it.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mfops.conventions import SKIP_DIRS, is_modelfile_name
from mfops.errors import RepoError

if TYPE_CHECKING:
    from mfops.gitstore import Entry, GitStore

Kind = Literal["file", "dir", "missing", "special"]

CHUNK = 1 << 20
MAX_LINKS = 40  # like Linux's MAXSYMLINKS
LFS_MAX = 1024  # git-LFS pointer files are smaller than this
_LFS_HEADER = b"version https://git-lfs.github.com/spec/v1\n"


@dataclass(frozen=True)
class ResolvedPath:
    """Where a FROM/ADAPTER/DRAFT argument points in one snapshot.

    `repo_path` is the normalised POSIX path relative to the mfops root (symlinks followed)
    when the target is inside it; `abs_path` the absolute path when it is outside. `escapes`
    says the target is outside the root (via `..`, an absolute path, `~` or a symlink);
    `allowed` that it is, but under an `allow_paths` prefix. `lfs_pointer` marks a git-LFS
    pointer file standing in for the real content.
    """

    arg: str
    repo_path: str | None
    abs_path: str | None
    kind: Kind
    escapes: bool = False
    allowed: bool = False
    lfs_pointer: bool = False


def lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """(sha256 hex, size) from a git-LFS pointer file, or None when `data` is not one."""
    if not data.startswith(_LFS_HEADER) or len(data) >= LFS_MAX:
        return None
    fields = dict(
        line.split(" ", 1) for line in data.decode("ascii", "replace").splitlines() if " " in line
    )
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if not oid.startswith("sha256:") or len(oid) != 71 or not size.isdigit():
        return None
    return oid[7:], int(size)


def fs_kind(path: str) -> Kind:
    """The kind of a filesystem path, symlinks followed; unreadable is an error, as in Ollama."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return "missing"
    except OSError as err:
        if err.errno in (errno.ENAMETOOLONG, errno.ELOOP):
            return "missing"
        raise RepoError(f"cannot access {path}: {err.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "dir" if stat.S_ISDIR(st.st_mode) else "special"


def _visible(parts: list[str]) -> bool:
    """Not inside a skipped or dot directory (the conventions' rule for searching)."""
    return not any(p in SKIP_DIRS or p.startswith(".") for p in parts)


class Source:
    """The files of one snapshot, by POSIX path relative to the mfops root."""

    root: Path

    def lstat(self, rel: str) -> tuple[str, str | None]:
        """(`file`|`dir`|`link`|`special`|`missing`, link target) without following links."""
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def read_many(self, rels: list[str]) -> list[bytes]:
        return [self.read(r) for r in rels]

    def open(self, rel: str) -> Any:
        raise NotImplementedError

    def size(self, rel: str) -> int:
        raise NotImplementedError

    def walk(self, rel_dir: str = "") -> list[tuple[str, bool]]:
        """(path relative to `rel_dir`, not a plain file) of every file below it: the flag
        marks symlinks (and special files), which must be resolved before reading. Dot and
        tool directories are skipped, symlinked directories not entered."""
        raise NotImplementedError

    def modelfiles(self) -> list[tuple[str, bool]]:
        """Conventional Modelfiles (`Modelfile`, `<name>.Modelfile`), sorted by path."""
        return sorted(
            (p, link) for p, link in self.walk() if is_modelfile_name(posixpath.basename(p))
        )


class WorktreeSource(Source):
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lstat: dict[str, tuple[str, str | None]] = {}

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else str(self.root)

    def lstat(self, rel: str) -> tuple[str, str | None]:
        found = self._lstat.get(rel)
        if found is None:
            found = self._lstat[rel] = self._do_lstat(rel)
        return found

    def _do_lstat(self, rel: str) -> tuple[str, str | None]:
        path = self._abs(rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return "missing", None
        except OSError as err:
            if err.errno in (errno.ENAMETOOLONG, errno.ELOOP):
                return "missing", None
            raise RepoError(f"cannot access {rel}: {err.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            return "link", os.readlink(path)
        if stat.S_ISREG(st.st_mode):
            return "file", None
        return ("dir" if stat.S_ISDIR(st.st_mode) else "special"), None

    def read(self, rel: str) -> bytes:
        with open(self._abs(rel), "rb") as fh:
            return fh.read()

    def open(self, rel: str) -> Any:
        return open(self._abs(rel), "rb")

    def size(self, rel: str) -> int:
        return os.stat(self._abs(rel)).st_size

    def walk(self, rel_dir: str = "") -> list[tuple[str, bool]]:
        return walk_dir(self._abs(rel_dir))


def walk_dir(top: str) -> list[tuple[str, bool]]:
    """`Source.walk` for a filesystem directory."""
    found: list[tuple[str, bool]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(top, rel) if rel else top))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            path = f"{rel}/{name}" if rel else name
            if entry.is_dir(follow_symlinks=False):
                if name not in SKIP_DIRS and not name.startswith("."):
                    stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                found.append((path, False))
            elif not entry.is_symlink() or not os.path.isdir(entry.path):
                found.append((path, True))  # a symlink or a special file: resolve it first
    return found


class TreeSource(Source):
    """A commit's tree, as listed by one `git ls-tree -r -t` of the mfops root."""

    def __init__(self, root: Path, store: GitStore, entries: dict[str, Entry]) -> None:
        self.root = root
        self.store = store
        self.entries = entries
        self._links: dict[str, str] = {}

    def lstat(self, rel: str) -> tuple[str, str | None]:
        if not rel:
            return "dir", None
        entry = self.entries.get(rel)
        if entry is None:
            return "missing", None
        if entry.is_file:
            return "file", None
        if entry.is_dir:
            return "dir", None
        if entry.is_link:
            target = self._links.get(rel)
            if target is None:
                raw = self.store.read_blob(entry.sha)
                target = self._links[rel] = raw.decode("utf-8", "surrogateescape")
            return "link", target
        return "special", None  # a submodule

    def read(self, rel: str) -> bytes:
        return self.store.read_blob(self.entries[rel].sha)

    def read_many(self, rels: list[str]) -> list[bytes]:
        if len(rels) < 16:  # not worth starting a process
            return [self.read(r) for r in rels]
        return self.store.read_blobs([self.entries[r].sha for r in rels])

    def open(self, rel: str) -> Any:
        return self.store.open_blob(self.entries[rel].sha)

    def size(self, rel: str) -> int:
        return self.store.blob_size(self.entries[rel].sha)

    @cached_property
    def _paths(self) -> list[str]:
        return sorted(self.entries)

    def walk(self, rel_dir: str = "") -> list[tuple[str, bool]]:
        start = f"{rel_dir}/" if rel_dir else ""
        cut = len(start)
        paths = self._paths
        found = []
        for i in range(bisect.bisect_left(paths, start), len(paths)):
            path = paths[i]
            if not path.startswith(start):
                break  # paths under one directory are contiguous once sorted
            entry = self.entries[path]
            if entry.is_file or entry.is_link:
                rel = path[cut:]
                parts = rel.split("/")
                if len(parts) == 1 or _visible(parts[:-1]):
                    found.append((rel, entry.is_link))
        return found


# --------------------------------------------------------------------------- resolution


class Resolver:
    """Resolves and hashes paths in one source; `allow` holds absolute, normalised prefixes."""

    def __init__(self, source: Source, allow: tuple[str, ...] = ()) -> None:
        self.source = source
        self.root = str(source.root)
        self.allow = allow

    def resolve(self, base_dir: str, arg: str) -> ResolvedPath:
        if arg.startswith("~"):
            expanded = os.path.expanduser(arg)
            if expanded == arg or not os.path.isabs(expanded):
                return ResolvedPath(arg, None, None, "missing", escapes=True)  # no such user
            return self._absolute(arg, expanded)
        if arg.startswith("/"):
            return self._absolute(arg, arg)
        joined = posixpath.normpath(posixpath.join(base_dir, arg))
        if joined == ".." or joined.startswith("../"):
            return self._outside(arg, os.path.normpath(os.path.join(self.root, joined)))
        return self._walk(arg, [] if joined == "." else joined.split("/"))

    def _absolute(self, arg: str, path: str) -> ResolvedPath:
        path = os.path.normpath(path)
        if path == self.root:
            return self._walk(arg, [])
        if path.startswith(self.root.rstrip("/") + "/"):
            return self._walk(arg, path[len(self.root.rstrip("/")) + 1 :].split("/"))
        return self._outside(arg, path)

    def _outside(self, arg: str, path: str) -> ResolvedPath:
        allowed = any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.allow)
        kind = fs_kind(path)
        lfs = False
        if allowed and kind == "file" and os.path.getsize(path) < LFS_MAX:
            with open(path, "rb") as fh:
                lfs = lfs_pointer(fh.read()) is not None
        return ResolvedPath(arg, None, path, kind, escapes=True, allowed=allowed, lfs_pointer=lfs)

    def _walk(self, arg: str, parts: list[str]) -> ResolvedPath:
        """Follow `parts` from the root one component at a time, symlinks included."""
        done: list[str] = []
        todo = parts[::-1]
        links = 0
        kind = "dir"
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                    continue
                rest = os.path.join(self.root, "..", *todo[::-1])
                return self._outside(arg, os.path.normpath(rest))
            here = "/".join([*done, part])
            kind, target = self.source.lstat(here)
            if kind == "link" and target is not None:
                links += 1
                if links > MAX_LINKS:
                    return self._missing(arg, [*done, part, *todo[::-1]])
                if target.startswith("/"):
                    return self._absolute(arg, os.path.join(target, *todo[::-1]))
                todo.extend(target.split("/")[::-1])
                continue
            if kind == "missing" or (kind != "dir" and any(p not in ("", ".") for p in todo)):
                return self._missing(arg, [*done, part, *todo[::-1]])
            done.append(part)
        rel = "/".join(done)
        if kind == "file":
            return ResolvedPath(arg, rel, None, "file", lfs_pointer=self._is_lfs(rel))
        return ResolvedPath(arg, rel, None, kind)  # type: ignore[arg-type]

    def _missing(self, arg: str, parts: list[str]) -> ResolvedPath:
        rel = posixpath.normpath("/".join(parts))
        if rel == ".." or rel.startswith("../"):
            return self._outside(arg, os.path.normpath(os.path.join(self.root, rel)))
        return ResolvedPath(arg, rel, None, "missing")

    def _is_lfs(self, rel: str) -> bool:
        return self.source.size(rel) < LFS_MAX and lfs_pointer(self.source.read(rel)) is not None

    # -- content -------------------------------------------------------------------------

    def _check_readable(self, r: ResolvedPath) -> None:
        if r.kind not in ("file", "dir"):
            raise RepoError(f"cannot read {r.arg!r}: {r.kind}")
        if r.escapes and not r.allowed:
            raise RepoError(
                f"refusing to read {r.abs_path or r.arg} outside the repository",
                hint="list it under allow_paths in mfops.yaml",
            )

    def sha256(self, r: ResolvedPath) -> str:
        """`sha256:<hex>` of a file's content; for a directory, the sha256 of the lines
        `<file sha256 hex>  <path relative to the directory>\\n` (sha256sum's format) over
        its files sorted by path, dot files and dot directories left out."""
        self._check_readable(r)
        if r.kind == "file":
            return "sha256:" + self._file_hex(r)
        lines = "".join(f"{h}  {rel}\n" for rel, h in self._dir_files(r, self._file_hex))
        return "sha256:" + hashlib.sha256(lines.encode("utf-8", "surrogateescape")).hexdigest()

    def size(self, r: ResolvedPath) -> int:
        """Bytes of content (a pointer's recorded size for LFS; the sum for a directory)."""
        self._check_readable(r)
        if r.kind == "file":
            return self._file_size(r)
        return sum(n for _, n in self._dir_files(r, self._file_size))

    def _file_hex(self, r: ResolvedPath) -> str:
        if r.lfs_pointer:
            return self._pointer(r)[0]
        digest = hashlib.sha256()
        with self._open(r) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _file_size(self, r: ResolvedPath) -> int:
        if r.lfs_pointer:
            return self._pointer(r)[1]
        if r.repo_path is not None:
            return self.source.size(r.repo_path)
        return os.path.getsize(r.abs_path or "")

    def _pointer(self, r: ResolvedPath) -> tuple[str, int]:
        with self._open(r) as fh:
            found = lfs_pointer(fh.read(LFS_MAX))
        assert found is not None
        return found

    def _open(self, r: ResolvedPath) -> Any:
        if r.repo_path is not None:
            return _Closing(self.source.open(r.repo_path))
        return open(r.abs_path or "", "rb")

    def _dir_files(self, r: ResolvedPath, value) -> list[tuple[str, Any]]:
        if r.repo_path is not None:
            listing = self.source.walk(r.repo_path)
            base = r.repo_path
        else:
            listing = walk_dir(r.abs_path or "")
            base = r.abs_path or ""
        out = []
        for rel, _link in sorted(listing):
            if posixpath.basename(rel).startswith("."):
                continue
            if r.repo_path is not None:
                item = self.resolve(base, rel)
                if item.kind != "file":
                    continue
                if item.escapes and not item.allowed:
                    raise RepoError(
                        f"{posixpath.join(base, rel)}: symlink points outside the repository",
                        hint="list its target under allow_paths in mfops.yaml",
                    )
            else:
                item = self._outside(rel, os.path.join(base, rel))
                if item.kind != "file":
                    continue
            out.append((rel, value(item)))
        return out


class _Closing:
    """Gives gitpython's blob streams (which have no `close`) a `with` block."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()
