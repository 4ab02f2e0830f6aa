"""Where a FROM/ADAPTER/DRAFT path points in a snapshot, and the sha256 of what is there.

Resolution follows Ollama's `expandPath` (ollama-reference.md §3.3): absolute paths as given,
`~` and `~user` expanded, anything else joined to the Modelfile's directory and cleaned
lexically (so `a/../b` never visits `a`). The cleaned path is then walked one component at a
time from the mfops root through the snapshot's file view (sources.py), following symlinks
as the kernel would, so a symlink in a commit resolves exactly like the same symlink on disk.
A path, or a symlink on the way, that leaves the root *escapes*. What lies outside the root
is only on this machine's filesystem: its kind comes from there (Ollama would look there),
but its content is read only when `allow_paths` in mfops.yaml covers it.

Content is hashed in 1 MiB chunks, never read whole; a git-LFS pointer stands for the content
it records, so a digest is the same whether or not `git lfs pull` has run.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mfops.errors import RepoError
from mfops.repo.sources import Source, walk_dir

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
        if (
            "/" not in arg
            and arg not in ("", ".", "..")
            and self.source.known_missing(base_dir, arg)
        ):
            # The common FROM of a model name: nothing of that name beside the Modelfile, as
            # the walk below would find (in fewer steps: the directory is already listed).
            return ResolvedPath(arg, f"{base_dir}/{arg}" if base_dir else arg, None, "missing")
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

    def _dir_files(
        self, r: ResolvedPath, value: Callable[[ResolvedPath], Any]
    ) -> list[tuple[str, Any]]:
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
    """Gives any stream with a `close` (files, git blob streams) a `with` block."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()
