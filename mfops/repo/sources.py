"""One read-only file view over the working tree or a commit.

A snapshot must answer the same questions whether it reads the disk or a git tree: which
Modelfiles exist, what kind of thing a path is, a file's bytes and size. `WorktreeSource`
answers from the filesystem, `TreeSource` from one `git ls-tree` listing plus blobs, so
everything above them (discovery in repo.py, path resolution and hashing in paths.py) is
written once and behaves the same at a tag as on disk when the content is the same.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import os
import posixpath
import stat
import time
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfops.errors import RepoError
from mfops.fileio.regular import read_regular, read_regular_stat
from mfops.repo.conventions import SKIP_DIRS, is_modelfile_name

if TYPE_CHECKING:
    from mfops.repo.gitstore import Entry, GitStore


def _visible(parts: list[str]) -> bool:
    """Not inside a skipped or dot directory (the conventions' rule for searching)."""
    return not any(p in SKIP_DIRS or p.startswith(".") for p in parts)


class Source:
    """The files of one snapshot, by POSIX path relative to the mfops root."""

    root: Path

    def lstat(self, rel: str) -> tuple[str, str | None]:
        """(`file`|`dir`|`link`|`special`|`missing`, link target) without following links."""
        raise NotImplementedError

    def known_missing(self, rel_dir: str, name: str) -> bool:
        """True when `rel_dir` is a plain directory reached without symlinks whose listing
        is known and holds nothing named `name`; False when unsure."""
        return False

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def read_many(self, rels: list[str]) -> Iterable[bytes]:
        """The bytes of each file, in order (possibly as they arrive: iterate once)."""
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
        #: when this view began: stat data seen after it is trusted only if older by far
        self.created_ns = time.time_ns()
        self._lstat: dict[str, tuple[str, str | None]] = {}
        #: what the walk saw in each directory it read: name -> kind ('link' for symlinks)
        self._listing: dict[str, tuple[dict[str, str], set[str]]] = {}
        #: What answers depended on, for the worktree graph memo (graph/worktree.py): the
        #: stat data (mtime_ns, ctime_ns, ino) of every directory the walk read or found to
        #: be a nested repository, taken before reading it (and whether each skipped
        #: directory is one); the paths `lstat` asked the
        #: filesystem about (not answered from a listing) and the files read or sized.
        self.dirstats: dict[str, tuple[int, int, int]] = {}
        self.marks: dict[str, bool] = {}
        self.probed: dict[str, tuple[str, str | None]] = {}
        self.reads: set[str] = set()
        #: The stat data of Modelfiles taken before they were read (repository.py), so
        #: that the memo need not ask again: a file changed after it is a later miss.
        self.file_stats: dict[str, os.stat_result] = {}

    def _abs(self, rel: str) -> str:
        return self._prefix + rel if rel else str(self.root)

    @cached_property
    def _prefix(self) -> str:
        """The root with a trailing separator: `_abs` runs once per file read."""
        return os.path.join(self.root, "")

    def lstat(self, rel: str) -> tuple[str, str | None]:
        found = self._lstat.get(rel)
        if found is None:
            found = self._lstat[rel] = self._do_lstat(rel)
        return found

    def _do_lstat(self, rel: str) -> tuple[str, str | None]:
        parent, _, name = rel.rpartition("/")
        listed = self._listing.get(parent) if name else None
        if listed is not None:
            listing, folded = listed
            # The walk has read this directory: answer without a system call, except for
            # symlinks (their target is needed) and names the filesystem might match
            # another way (case-insensitive or normalising filesystems).
            kind = listing.get(name)
            if kind is not None and kind != "link":
                return kind, None
            if kind is None and name.isascii() and name.lower() not in folded:
                return "missing", None
        found = self.probe(rel)
        self.probed[rel] = found
        return found

    def probe(self, rel: str) -> tuple[str, str | None]:
        """`lstat` asking the filesystem (no listing)."""
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
        if stat.S_ISDIR(st.st_mode):
            return ("special" if rel and is_nested_repo(path) else "dir"), None
        return "special", None

    def known_missing(self, rel_dir: str, name: str) -> bool:
        listed = self._listing.get(rel_dir)
        if listed is None:
            return False
        kinds, folded = listed
        return name not in kinds and name.isascii() and name.lower() not in folded

    def read(self, rel: str) -> bytes:
        self.reads.add(rel)
        return read_regular(self._abs(rel))

    def read_stat(self, rel: str) -> tuple[bytes, os.stat_result]:
        """`read`, with the file's stat data taken (through the open file) before reading."""
        self.reads.add(rel)
        return read_regular_stat(self._abs(rel))

    def open(self, rel: str) -> Any:
        self.reads.add(rel)
        return open(self._abs(rel), "rb")

    def size(self, rel: str) -> int:
        self.reads.add(rel)
        return os.stat(self._abs(rel)).st_size

    def walk(self, rel_dir: str = "") -> list[tuple[str, bool]]:
        if rel_dir:
            self.reads.add(rel_dir)  # a directory's files, hashed: not memoised
            return walk_dir(self._abs(rel_dir))
        return walk_dir(self._abs(rel_dir), self._listing, self.dirstats, self.marks)


def is_nested_repo(path: str) -> bool:
    """True when the directory `path` is the top of another git work tree (a submodule, or
    a repository cloned inside this one): it has a `.git` file or folder of its own."""
    return os.path.lexists(os.path.join(path, ".git"))


def dir_stat(path: str) -> tuple[int, int, int]:
    """(mtime_ns, ctime_ns, inode) of a directory: an entry added, removed or renamed in it
    changes them (what git's untracked cache relies on); (-1, -1, -1) when unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1, -1)
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def walk_dir(
    top: str,
    listing: dict[str, tuple[dict[str, str], set[str]]] | None = None,
    dirstats: dict[str, tuple[int, int, int]] | None = None,
    marks: dict[str, bool] | None = None,
) -> list[tuple[str, bool]]:
    """`Source.walk` for a filesystem directory; `listing` receives, per directory read
        (relative to `top`), the kind of each entry (as `lstat` gives it) and the set of its
        names in lower case. A submodule (any nested git work tree) is not entered and is
        listed as `special`: a commit's tree holds only the submodule's commit, never its files
        (TreeSource sees it as one special entry), and the working tree must agree, or every
        Modelfile in it would differ between the two. `dirstats` receives the stat data of
        every directory read and every nested repository, taken before it is read, and `marks`
    whether each skipped (dot or tool) directory is a nested repository.

    Whether a directory is a nested repository is read from its own listing when the walk
    reads it anyway (a `.git` among its entries), rather than asked with one more system
    call per directory before it is read; only a directory that cannot be listed, or whose
    listing holds `.git` in another case (a case-insensitive filesystem may match it), is
    asked the filesystem (`is_nested_repo`)."""
    found: list[tuple[str, bool]] = []
    # (path, the kinds of its parent's entries, its name there): None for `top` itself
    stack: list[tuple[str, dict[str, str] | None, str]] = [("", None, "")]
    if dirstats is not None:
        dirstats[""] = dir_stat(top)
    while stack:
        rel, parent, own = stack.pop()
        where = os.path.join(top, rel) if rel else top
        try:
            with os.scandir(where) as it:
                entries = list(it)
        except OSError:
            if parent is not None and is_nested_repo(where):
                parent[own] = "special"
            elif dirstats is not None:
                dirstats[rel] = (-1, -1, -1)  # unreadable: never matches
            continue
        if parent is not None:
            nested = False
            for entry in entries:
                name = entry.name
                if name == ".git":
                    nested = True
                    break
                if len(name) == 4 and name.lower() == ".git":
                    nested = is_nested_repo(where)
                    break
            if nested:  # a nested work tree: not entered
                parent[own] = "special"
                continue
        kinds: dict[str, str] = {}
        for entry in entries:
            name = entry.name
            path = f"{rel}/{name}" if rel else name
            if entry.is_dir(follow_symlinks=False):
                if name in SKIP_DIRS or name.startswith("."):
                    nested = is_nested_repo(entry.path)
                    if marks is not None:
                        marks[path] = nested  # its own stat data changes too often (.git)
                    kinds[name] = "special" if nested else "dir"
                    continue
                if dirstats is not None:  # before it is read or looked into
                    try:
                        st = entry.stat(follow_symlinks=False)
                        dirstats[path] = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                    except OSError:
                        dirstats[path] = (-1, -1, -1)
                kinds[name] = "dir"  # "special" once its listing shows a nested repository
                stack.append((path, kinds, name))
            elif entry.is_file(follow_symlinks=False):
                kinds[name] = "file"
                found.append((path, False))
            else:
                link = entry.is_symlink()
                kinds[name] = "link" if link else "special"
                if not link or not os.path.isdir(entry.path):
                    found.append((path, True))  # a symlink or a special file: resolve it
        if listing is not None:
            listing[rel] = (kinds, {n.lower() for n in kinds})
    return found


class TreeSource(Source):
    """A commit's tree, as listed by one `git ls-tree -r -t` of the mfops root."""

    def __init__(self, root: Path, store: GitStore, entries: dict[str, Entry]) -> None:
        self.root = root
        self.store = store
        self.entries = entries
        self._links: dict[str, str] = {}

    def known_missing(self, rel_dir: str, name: str) -> bool:
        if rel_dir:
            parent = self.entries.get(rel_dir)
            if parent is None or not parent.is_dir:
                return False
            return f"{rel_dir}/{name}" not in self.entries
        return name not in self.entries

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

    def read_many(self, rels: list[str]) -> Iterable[bytes]:
        if len(rels) < 16:  # not worth starting a process
            return [self.read(r) for r in rels]
        return self.store.iter_blobs([self.entries[r].sha for r in rels])

    def open(self, rel: str) -> Any:
        return self.store.open_blob(self.entries[rel].sha)

    def size(self, rel: str) -> int:
        return self.store.blob_size(self.entries[rel].sha)

    @cached_property
    def _paths(self) -> list[str]:
        return sorted(self.entries)

    @cached_property
    def layout(self) -> str:
        """An id of what path resolution can see in this tree: every path and mode, and
        the id of what is not a regular file (a symlink's target, a submodule's commit).
        Two trees with the same layout differ at most in the content of regular files."""
        text = "\n".join(
            f"{path}\0{e.mode}" if e.is_file or e.is_dir else f"{path}\0{e.mode}\0{e.sha}"
            for path, e in self.entries.items()
        )
        return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()

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
