"""A commit's inheritance graph as plain JSON rows, for the revisions cache (repo/cache.py).

A commit never changes, so its graph (which file each model is, what each FROM resolved to)
need not be worked out again: `mfops diff v1 v2` on 10,000 models spent most of its time
classifying twice the same 10,000 FROM lines. A stored graph holds, per model, its name,
path, Modelfile blob id and newline, mfops.yaml description and tests, and its resolved
base, adapter and drafts; the Modelfiles themselves come from the parse cache by blob id,
looked up only when a command first uses one (Modelfile.lazy), so `ls` or an unchanged
model never decodes one. The graph is stored only when nothing it resolved lies outside the
repository (revision.py), since such files can change under the same commit. Rows that do
not have exactly the expected shape make `load` return None, and the graph is built from
the commit as if nothing was stored. The working tree's graph uses the same rows
(graph/worktree.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mfops.errors import MfopsError
from mfops.fileio.bulk import paused_gc
from mfops.graph.inheritance import Base, Graph, ModelNode
from mfops.language.modelfile import Modelfile
from mfops.repo.cache import Cache
from mfops.repo.paths import ResolvedPath
from mfops.repo.repository import RepoModel

_KINDS = ("source", "pinned", "file", "external")
_PATH_KINDS = ("file", "dir", "missing", "special")
_NEWLINES = ("\n", "\r\n", "\r")


def _path_row(r: ResolvedPath) -> list[object]:
    return [r.arg, r.repo_path, r.abs_path, r.kind, r.escapes, r.allowed, r.lfs_pointer]


def _path(row: object) -> ResolvedPath:
    if type(row) is not list or len(row) != 7:
        raise ValueError("path row")
    arg, repo_path, abs_path, kind, escapes, allowed, lfs = row
    if (
        type(arg) is not str
        or not (repo_path is None or type(repo_path) is str)
        or not (abs_path is None or type(abs_path) is str)
        or kind not in _PATH_KINDS
        or not all(type(x) is bool for x in (escapes, allowed, lfs))
    ):
        raise ValueError("path row")
    return ResolvedPath(arg, repo_path, abs_path, kind, escapes, allowed, lfs)


def dump(graph: Graph) -> list[object]:
    """One row per model, in the graph's model order (by name)."""
    rows: list[object] = []
    for node in graph.nodes.values():
        m, b = node.model, node.base
        rows.append(
            [
                m.name,
                m.path,
                m.blob,
                m.modelfile.newline,
                m.description,
                list(m.tests),
                [b.kind, b.arg, b.target, b.line, [_path_row(f) for f in b.files]],
                _path_row(node.adapter) if node.adapter is not None else None,
                [_path_row(d) for d in node.drafts],
            ]
        )
    return rows


def load(
    rows: object,
    cache: Cache,
    display: Callable[[str], str],
    reparse: Callable[[str, str], Modelfile],
) -> Graph | None:
    """The graph of stored `rows`, its Modelfiles looked up in `cache` (named
    `display(path)`; `reparse(blob, shown)` reads and parses one when it is not cached) only
    when first used; None when a row is malformed."""
    with paused_gc():
        return _load(rows, cache, display, reparse)


def _load(
    rows: object,
    cache: Cache,
    display: Callable[[str], str],
    reparse: Callable[[str, str], Modelfile],
) -> Graph | None:
    if type(rows) is not list:
        return None
    nodes: dict[str, ModelNode] = {}
    lazy = Modelfile.lazy
    no_paths = ()
    try:
        for row in rows:
            if type(row) is not list or len(row) != 9:
                return None
            name, path, blob, newline, description, tests, base, adapter, drafts = row
            if (
                type(name) is not str
                or type(path) is not str
                or type(blob) is not str
                or newline not in _NEWLINES
                or not (description is None or type(description) is str)
                or type(tests) is not list
                or type(base) is not list
                or len(base) != 5
                or type(drafts) is not list
            ):
                return None
            if tests and not all(type(t) is str for t in tests):
                return None
            kind, arg, target, line, files = base
            if (
                kind not in _KINDS
                or type(arg) is not str
                or type(target) is not str
                or type(line) is not int
                or type(files) is not list
            ):
                return None
            shown = display(path)
            mf = lazy(partial(_modelfile, cache, blob, shown, reparse), path=shown, newline=newline)
            model = RepoModel(name, path, mf, description, tuple(tests), blob)
            nodes[name] = ModelNode(
                model,
                Base(kind, arg, target, line, tuple(map(_path, files)) if files else no_paths),
                _path(adapter) if adapter is not None else None,
                tuple(map(_path, drafts)) if drafts else no_paths,
            )
    except ValueError:
        return None
    for node in nodes.values():
        if node.parent is not None and node.parent not in nodes:
            return None
    try:
        return Graph(nodes)
    except MfopsError:  # a cycle: not something mfops stored
        return None


def _modelfile(
    cache: Cache, blob: str, shown: str, reparse: Callable[[str, str], Modelfile]
) -> Modelfile:
    """A stored model's Modelfile: the cached parse of its blob, or the blob parsed again."""
    found = cache.modelfile(blob, shown, partial(reparse, blob, shown))
    return found if found is not None else reparse(blob, shown)
