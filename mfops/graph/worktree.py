"""The working tree's graph, remembered between runs the way git's index remembers files.

On 10,000 models `mfops ls` spent most of its time walking the tree, looking every
Modelfile up by its stat data and classifying every FROM again, although nothing had
changed. Everything the worktree graph depends on is recorded with it (repo/cache.py keeps
one such entry):

- every directory the walk read, and every nested repository it did not enter, with its
  stat data (mtime, ctime, inode) taken before it was read: adding, removing or renaming
  an entry changes them, which is how git's untracked cache knows a listing is unchanged;
  whether each skipped directory (dot and tool folders) holds a `.git`;
- every Modelfile and every other file read (mfops.yaml, a local weights file checked for
  a git-LFS pointer) with its stat data (mtime, ctime, size, inode, mode), as in git's index;
- what the filesystem answered for every path not answered from a listing (symlinks);
- the mfops root's name (it names a Modelfile at the root).

The graph is reused only when all of it is still the same, checked with one `stat` per
directory and file (about 15,000 on 10,000 models: a fraction of reading and classifying
them). Racy git: nothing is remembered when any of it was modified less than two seconds
before the walk began (a change within the same timestamp could go unseen); nor when a
model's files lie outside the repository, or its FROM names the home directory (`~`),
since those depend on more than the tree. Modelfiles are not decoded to reuse the graph:
each is looked up by blob id when first used (a file changed since then is an error that
says to run again, never a wrong parse). The digests of that graph are remembered with it,
under the lock file's text, when no model uploads local files (their content is not in the
entry).
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import TYPE_CHECKING

from mfops.errors import RepoError
from mfops.graph import stored
from mfops.language.modelfile import Modelfile, decode, parse
from mfops.repo.cache import RACY_NS, blob_id
from mfops.repo.sources import WorktreeSource, dir_stat, is_nested_repo

if TYPE_CHECKING:
    from mfops.graph.inheritance import Graph
    from mfops.repo.repository import Repo, Snapshot

#: Bump when the entry's layout or meaning changes (the cache format covers the rest).
MEMO_VERSION = 2


def reads_outside(graph: Graph) -> bool:
    """Whether any model's files (FROM paths, ADAPTER, DRAFT) lie outside the repository."""
    for node in graph.nodes.values():
        if not node.base.files and node.adapter is None and not node.drafts:
            continue  # the common model: a name for a base, no local files
        if any(f.escapes for f in node.base.files) or any(d.escapes for d in node.drafts):
            return True
        if node.adapter is not None and node.adapter.escapes:
            return True
    return False


def _home_relative(graph: Graph) -> bool:
    for node in graph.nodes.values():
        if not node.base.files and node.adapter is None and not node.drafts:
            if node.base.arg.startswith("~"):
                return True
            continue
        paths = [*node.base.files, *node.drafts]
        if node.adapter is not None:
            paths.append(node.adapter)
        if node.base.arg.startswith("~") or any(p.arg.startswith("~") for p in paths):
            return True
    return False


def _file_stat(path: str, st: os.stat_result | None = None) -> list[int] | None:
    """The stat data remembered for a file (`st` when already taken, else asked now)."""
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode]


def remember(repo: Repo, snapshot: Snapshot, graph: Graph) -> dict[str, object] | None:
    """The entry that lets a later run reuse `graph` (the working tree's), or None when it
    must not be remembered (see the module's docstring)."""
    source = snapshot.source
    if not isinstance(source, WorktreeSource) or reads_outside(graph) or _home_relative(graph):
        return None
    limit = source.created_ns - RACY_NS
    root = str(source.root)
    file_paths = sorted({n.model.path for n in graph.nodes.values()} | source.reads)
    file_stats: list[int] = []
    # A Modelfile's stat data as taken before it was read: the graph holds what was read
    # after it, so a change in between is a miss next time, never a stale graph (and a
    # change after it is racy, refused below). Other files are asked now.
    taken = source.file_stats
    for rel in file_paths:
        st = taken.get(rel)
        found = _file_stat("", st) if st is not None else _file_stat(os.path.join(root, rel))
        if found is None or found[0] >= limit or found[1] >= limit:
            return None
        file_stats += found
    dir_paths: list[str] = []
    dir_stats: list[int] = []
    for rel, (mtime, ctime, ino) in source.dirstats.items():
        if mtime < 0 or mtime >= limit or ctime >= limit:
            return None
        dir_paths.append(rel)
        dir_stats += (mtime, ctime, ino)
    if not source.dirstats:
        return None  # nothing was walked: nothing to check a later tree against
    return {
        "version": MEMO_VERSION,
        "root": repo.root.name,
        # [paths, their stat data one after another]: flat lists decode several times
        # faster than a list per path
        "dirs": [dir_paths, dir_stats],
        "marks": dict(source.marks),
        "probes": {rel: list(found) for rel, found in source.probed.items()},
        "files": [file_paths, file_stats],
        "graph": stored.dump(graph),
    }


def _stat_columns(found: object, width: int) -> bool:
    """[paths, ints]: `width` ints of stat data per path, as `remember` writes them."""
    if type(found) is not list or len(found) != 2:
        return False
    paths, stats = found
    return (
        type(paths) is list
        and type(stats) is list
        and len(stats) == width * len(paths)
        and set(map(type, paths)) <= {str}
        and set(map(type, stats)) <= {int}
    )


def recall(repo: Repo, entry: dict[str, object]) -> Graph | None:
    """The remembered graph when everything it depended on is unchanged, else None."""
    dirs, marks, probes, files = (entry.get(k) for k in ("dirs", "marks", "probes", "files"))
    if (
        entry.get("version") != MEMO_VERSION
        or entry.get("root") != repo.root.name
        or not _stat_columns(dirs, 3)
        or not isinstance(marks, dict)
        or not isinstance(probes, dict)
        or not _stat_columns(files, 5)
    ):
        return None
    assert isinstance(dirs, list) and isinstance(files, list)  # (checked just above)
    root = str(repo.root)
    join = os.path.join
    # `prefix + rel`, not os.path.join: the same path for the relative paths mfops records,
    # and 15,000 joins were a tenth of a warm `ls`
    prefix = root if root.endswith(os.sep) else root + os.sep
    paths, want = dirs
    for i, rel in enumerate(paths):
        if list(dir_stat(prefix + rel if rel else root)) != want[3 * i : 3 * i + 3]:
            return None
    stat_ = os.stat
    regular = stat.S_ISREG
    paths, want = files
    for i, rel in enumerate(paths):
        try:
            st = stat_(prefix + rel)
        except OSError:
            return None
        if not regular(st.st_mode) or want[5 * i : 5 * i + 5] != [
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_size,
            st.st_ino,
            st.st_mode,
        ]:
            return None
    for rel, nested in marks.items():
        if is_nested_repo(join(root, rel)) is not nested:
            return None
    if probes:
        fresh = WorktreeSource(repo.root)
        for rel, want in probes.items():
            if type(want) is not list or list(fresh.probe(rel)) != want:
                return None

    def reparse(blob: str, path: str) -> Modelfile:
        try:
            with open(join(root, path), "rb") as fh:
                data = fh.read()
        except OSError as err:
            raise RepoError(f"cannot read {path}: {err.strerror}") from None
        if blob_id(data) != blob:
            raise RepoError(
                f"{path} changed while mfops was reading the working tree", hint="run again"
            )
        return parse(decode(data), path=path)

    return stored.load(entry.get("graph"), repo.cache, lambda path: path, reparse)


def _has_local_files(graph: Graph) -> bool:
    return any(n.base.files or n.adapter is not None or n.drafts for n in graph.nodes.values())


def _lock_id(lock_text: str | None) -> str:
    data = b"-" if lock_text is None else b"+" + lock_text.encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


def recall_digests(
    entry: dict[str, object], graph: Graph, lock_text: str | None
) -> dict[str, str] | None:
    """The digests remembered with `entry` (whose graph is `graph`) when they were computed
    under the same lock text, else None. A digest depends on the graph, the lock and the
    content of local files; models with local files are never remembered."""
    found = entry.get("digests")
    if not isinstance(found, dict) or found.get("lock") != _lock_id(lock_text):
        return None
    values = found.get("values")
    if not isinstance(values, dict) or values.keys() != graph.nodes.keys():
        return None
    for digest in values.values():
        if type(digest) is not str or not digest.startswith("sha256:") or len(digest) != 71:
            return None
    return values


def remember_digests(
    entry: dict[str, object], graph: Graph, lock_text: str | None, digests: dict[str, str]
) -> dict[str, object] | None:
    """`entry` with the working tree's `digests`, or None when they must not be kept."""
    if _has_local_files(graph) or digests.keys() != graph.nodes.keys():
        return None
    return {**entry, "digests": {"lock": _lock_id(lock_text), "values": dict(digests)}}
