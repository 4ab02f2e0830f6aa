"""A commit's inheritance graph as plain JSON columns, for the revisions cache (repo/cache.py).

A commit never changes, so its graph (which file each model is, what each FROM resolved to)
need not be worked out again: `mfops diff v1 v2` on 10,000 models spent most of its time
classifying twice the same 10,000 FROM lines. A stored graph holds, per model, its name,
path, Modelfile blob id and newline, mfops.yaml description and tests, and its resolved
base, adapter and drafts; the Modelfiles themselves come from the parse cache by blob id,
looked up only when a command first uses one (Modelfile.lazy), so `ls` or an unchanged
model never decodes one. The graph is stored only when nothing it resolved lies outside the
repository (revision.py), since such files can change under the same commit. Columns that
do not have exactly the expected shape make `load` return None, and the graph is built from
the commit as if nothing was stored. The working tree's graph is stored the same way
(graph/worktree.py).
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from functools import partial
from typing import Any

from mfops.errors import MfopsError
from mfops.fileio.bulk import paused_gc
from mfops.graph.inheritance import Base, Graph, ModelNode
from mfops.language.modelfile import Modelfile
from mfops.repo.cache import Cache
from mfops.repo.paths import ResolvedPath
from mfops.repo.repository import RepoModel

_KIND_SET = frozenset({"source", "pinned", "file", "external"})
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


#: The columns every stored graph has, one value per model in the graph's model order.
COLUMNS = ("name", "path", "blob", "kind", "arg", "target", "line")


def dump(graph: Graph) -> dict[str, object]:
    """The graph as columns (one list per field, a value per model, in the graph's model
    order) and `more`: [index, newline, description, tests, base files, adapter, drafts] for
    the few models where any of those is not the usual (LF, none, none...).

    Columns, not a row per model: decoding 10,000 rows of nested lists cost three times
    as much as the same values in seven flat lists, and a flat list is checked at once."""
    columns: dict[str, list[object]] = {c: [] for c in COLUMNS}
    name, path, blob, kind, arg, target, line = (columns[c].append for c in COLUMNS)
    more: list[object] = []
    for i, node in enumerate(graph.nodes.values()):
        m, b = node.model, node.base
        name(m.name)
        path(m.path)
        blob(m.blob)
        kind(b.kind)
        arg(b.arg)
        target(b.target)
        line(b.line)
        newline = m.modelfile.newline
        if (
            newline != "\n"
            or m.description is not None
            or m.tests
            or b.files
            or node.adapter is not None
            or node.drafts
        ):
            more.append(
                [
                    i,
                    newline,
                    m.description,
                    list(m.tests),
                    [_path_row(f) for f in b.files],
                    _path_row(node.adapter) if node.adapter is not None else None,
                    [_path_row(d) for d in node.drafts],
                ]
            )
    return {**columns, "more": more}


def load(
    stored: object,
    cache: Cache,
    display: Callable[[str], str],
    reparse: Callable[[str, str], Modelfile],
    *,
    lazy: bool = False,
) -> Graph | None:
    """The graph of a `dump`, its Modelfiles looked up in `cache` (named `display(path)`;
    `reparse(blob, shown)` reads and parses one when it is not cached) only when first
    used; None when anything is not exactly of the shape `dump` writes.

    `lazy`: each node is made only when first looked up (`StoredNodes`), for a commit's
    graph, of which `diff v1 v2` uses the few hundred models that changed; the working
    tree's graph (`ls`, which shows every model) makes them all at once."""
    with paused_gc():
        return _load(stored, cache, display, reparse, lazy)


def _all(values: list[object], types: frozenset[type]) -> bool:
    return set(map(type, values)) <= types


_STR = frozenset({str})
_INT = frozenset({int})


#: newline, description, tests, base files, adapter, drafts
_Extra = tuple[
    str,
    str | None,
    tuple[str, ...],
    tuple[ResolvedPath, ...],
    ResolvedPath | None,
    tuple[ResolvedPath, ...],
]


def _extras(more: object, count: int) -> dict[int, _Extra] | None:
    """The `more` rows by model index, checked; None when one is malformed."""
    if type(more) is not list:
        return None
    out: dict[int, _Extra] = {}
    try:
        for row in more:
            if type(row) is not list or len(row) != 7:
                return None
            i, newline, description, tests, files, adapter, drafts = row
            if (
                type(i) is not int
                or not 0 <= i < count
                or i in out
                or newline not in _NEWLINES
                or not (description is None or type(description) is str)
                or type(tests) is not list
                or not _all(tests, _STR)
                or type(files) is not list
                or type(drafts) is not list
            ):
                return None
            out[i] = (
                str(newline),
                description,
                tuple(map(str, tests)),
                tuple(map(_path, files)),
                _path(adapter) if adapter is not None else None,
                tuple(map(_path, drafts)),
            )
    except ValueError:
        return None
    return out


def _load(
    stored: object,
    cache: Cache,
    display: Callable[[str], str],
    reparse: Callable[[str, str], Modelfile],
    lazy: bool,
) -> Graph | None:
    if type(stored) is not dict or stored.keys() != {*COLUMNS, "more"}:
        return None
    names, paths, blobs, kinds, args, targets, lines = (stored[c] for c in COLUMNS)
    columns = (names, paths, blobs, kinds, args, targets, lines)
    if any(type(c) is not list for c in columns):
        return None
    count = len(names)
    if (
        any(len(c) != count for c in columns)
        or not all(_all(c, _STR) for c in (names, paths, blobs, args, targets))
        or not _all(lines, _INT)
        or not set(kinds) <= _KIND_SET
        or len(set(names)) != count
    ):
        return None
    extras = _extras(stored["more"], count)
    if extras is None:
        return None
    parents = {t for k, t in zip(kinds, targets, strict=True) if k == "source"}
    if not parents <= set(names):
        return None
    table = StoredNodes(columns, extras, (cache, display, reparse))
    try:
        if lazy:
            return Graph(table, parents=table.parents(), paths=dict(zip(names, paths, strict=True)))
        return Graph(dict(table.items()))
    except MfopsError:  # a cycle: not something mfops stored
        return None


_USUAL: _Extra = ("\n", None, (), (), None, ())
_Source = tuple[Cache, Callable[[str], str], Callable[[str, str], Modelfile]]


class StoredNodes(Mapping[str, ModelNode]):
    """The nodes of a stored graph, each made from its columns when first looked up.

    A warm `diff v1 v2` on 10,000 models made 2 x 10,000 nodes (a model, a base and a
    node each: half of its time after start-up) to compare the 764 whose digests differ.
    Iterating, `len` and `in` answer from the names alone; `values()` and `items()` make
    whatever is still missing."""

    def __init__(
        self, columns: tuple[list[Any], ...], extras: dict[int, _Extra], source: _Source
    ) -> None:
        self._columns = columns
        self._extras = extras
        self._source = source
        self._index: dict[str, int] = {name: i for i, name in enumerate(columns[0])}
        self._made: dict[str, ModelNode] = {}
        self._complete = False

    def parents(self) -> dict[str, str | None]:
        """Each model's source parent (None when its FROM is anything else)."""
        names, _, _, kinds, _, targets, _ = self._columns
        return {
            n: t if k == "source" else None for n, k, t in zip(names, kinds, targets, strict=True)
        }

    def __getitem__(self, name: str) -> ModelNode:
        found = self._made.get(name)
        if found is None:
            found = self._made[name] = self._make(self._index[name])
        return found

    def _make(self, i: int) -> ModelNode:
        names, paths, blobs, kinds, args, targets, lines = self._columns
        name, path, blob, kind = names[i], paths[i], blobs[i], kinds[i]
        arg, target, line = args[i], targets[i], lines[i]
        newline, description, tests, files, adapter, drafts = self._extras.get(i, _USUAL)
        model = object.__new__(StoredModel)
        model.__dict__.update(
            name=name,
            path=path,
            description=description,
            tests=tests,
            blob=blob,
            _source=self._source,
            _newline=newline,
        )
        # Frozen dataclasses filled as their __init__ would (checked in _load), without it:
        # 2,400 nodes made per `diff` side, where the generated __init__ cost a third.
        base = object.__new__(Base)
        base.__dict__.update(kind=kind, arg=arg, target=target, line=line, files=files)
        node = object.__new__(ModelNode)
        node.__dict__.update(model=model, base=base, adapter=adapter, drafts=drafts)
        return node

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def values(self) -> ValuesView[ModelNode]:
        return self._all().values()

    def items(self) -> ItemsView[str, ModelNode]:
        return self._all().items()

    def _all(self) -> dict[str, ModelNode]:
        """Every node, in the stored order (as a dict of the nodes would give them)."""
        if self._complete:
            return self._made
        with paused_gc():
            self._made = {name: self[name] for name in self._index}
        self._complete = True
        return self._made


class StoredModel(RepoModel):
    """A model of a stored graph. Its Modelfile (a lazy one, named `display(path)`) is made
    only when first asked for: listing or comparing 10,000 stored models uses their names,
    paths and bases, and making 10,000 Modelfiles nobody reads was a third of the load."""

    @property
    def modelfile(self) -> Modelfile:
        found: Modelfile | None = self.__dict__.get("_modelfile")
        if found is None:
            cache, display, reparse = self.__dict__["_source"]
            blob: str = self.__dict__["blob"]  # always set in a stored graph
            shown = display(self.path)
            found = self.__dict__["_modelfile"] = Modelfile.lazy(
                partial(_modelfile, cache, blob, shown, reparse),
                path=shown,
                newline=self.__dict__["_newline"],
            )
        return found


def _modelfile(
    cache: Cache, blob: str, shown: str, reparse: Callable[[str, str], Modelfile]
) -> Modelfile:
    """A stored model's Modelfile: the cached parse of its blob, or the blob parsed again."""
    found = cache.modelfile(blob, shown, partial(reparse, blob, shown))
    return found if found is not None else reparse(blob, shown)
