"""The inheritance graph: what each model is FROM, in which order models can be built.

Every FROM of a repo model is one of four kinds (architecture.md, "FROM kinds"):

- *source*: the untagged name of another repo model, an edge of this graph;
- *pinned*: a repo model with an explicit tag, a release that must already exist;
- *file*: a local GGUF file or safetensors directory, resolved like Ollama does;
- *external*: anything else, a registry model whose digest `mfops.lock` records.

As in Ollama, the filesystem (here: the snapshot) decides between a path and a name: an
argument that resolves to an existing path is a file base, anything else is a name. An
argument that only *looks* like a path (`./x.gguf`, `../w`, `/abs`, `~/m`, `x.gguf`) but does
not exist is an error, because Ollama would silently try to pull it as a model.

Ordering uses the standard library's `graphlib`, whose cycle report is turned into the whole
cycle, `a -> b -> c -> a`.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal, NoReturn

from mfops.errors import GraphError, ModelfileError, UnknownModelError
from mfops.fileio.bulk import paused_gc
from mfops.language.names import parse_name
from mfops.repo.sources import TreeSource

if TYPE_CHECKING:
    from mfops.language.modelfile import Instruction
    from mfops.repo.repository import RepoModel, ResolvedPath, Snapshot

FromKind = Literal["source", "pinned", "file", "external"]

_PATHLIKE_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pth")


def looks_like_path(arg: str) -> bool:
    """Would a reader take this FROM/ADAPTER argument for a path rather than a model name?"""
    return (
        arg.startswith(("./", "../", "/", "~", ".\\", "\\"))
        or arg in (".", "..")
        or arg.lower().endswith(_PATHLIKE_SUFFIXES)
    )


@dataclass(frozen=True)
class Base:
    """The resolved FROM of a model.

    `target` is the parent model's name (source), the normalised `name:tag` (pinned and
    external), or the first file's repo path (file). `files` holds every path-type FROM
    (several are merged into one import, as Ollama does).
    """

    kind: FromKind
    arg: str
    target: str
    line: int
    files: tuple[ResolvedPath, ...] = ()


@dataclass(frozen=True)
class ModelNode:
    """A repo model placed in the graph: its base, and the local files it uploads."""

    model: RepoModel
    base: Base
    adapter: ResolvedPath | None = None
    drafts: tuple[ResolvedPath, ...] = ()

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def parent(self) -> str | None:
        return self.base.target if self.base.kind == "source" else None


def _where(model: RepoModel, ins: Instruction) -> str:
    return f"{model.modelfile.path or model.path}:{ins.line}"


def _check_local(model: RepoModel, ins: Instruction, resolved: ResolvedPath) -> ResolvedPath:
    """Refuse local paths that are unsafe or would not upload what the user expects."""
    where = _where(model, ins)
    if resolved.escapes and not resolved.allowed:
        raise GraphError(
            f"{where}: {ins.keyword} path {ins.value!r} is outside the repository",
            hint="list its directory under allow_paths in mfops.yaml to allow it",
        )
    if resolved.kind == "missing":
        raise GraphError(
            f"{where}: {ins.keyword} path {ins.value!r} does not exist",
            hint="Ollama would take it for a model name" if ins.keyword == "FROM" else None,
        )
    if resolved.kind == "special":
        raise GraphError(f"{where}: {ins.keyword} path {ins.value!r} is not a regular file")
    if resolved.lfs_pointer:
        raise GraphError(
            f"{where}: {ins.keyword} path {ins.value!r} is a git-LFS pointer, not the file",
            hint="run `git lfs pull` so the real content is there",
        )
    return resolved


def _classify(snapshot: Snapshot, model: RepoModel, known: dict[str, str]) -> ModelNode:
    """Turn a model's FROM/ADAPTER/DRAFT lines into its Base and local files."""
    mf = model.modelfile
    froms = mf.of("FROM")
    name_from: Instruction | None = None
    files: list[ResolvedPath] = []
    for ins in froms:
        resolved = snapshot.resolve(model.dir, ins.value)
        if resolved.kind == "dir" and ins.value in known.values():
            raise GraphError(
                f"{_where(model, ins)}: FROM {ins.value!r} names the repo model, but a "
                f"directory {resolved.repo_path or ins.value!r} sits at that path, and Ollama "
                "imports the directory instead",
                hint="move the Modelfile, or write the FROM as an explicit path",
            )
        if resolved.kind != "missing" or looks_like_path(ins.value):
            files.append(_check_local(model, ins, resolved))
        else:
            name_from = ins  # the last name-type FROM wins, as in Ollama
    if name_from is not None:
        base = _name_base(model, name_from, known)
    else:
        first = froms[0]
        target = files[0].repo_path or files[0].abs_path or first.value
        base = Base("file", first.value, target, first.line, tuple(files))

    def local(ins: Instruction) -> ResolvedPath:
        return _check_local(model, ins, snapshot.resolve(model.dir, ins.value))

    adapter_ins = mf.last("ADAPTER")
    adapter = local(adapter_ins) if adapter_ins else None
    drafts = tuple(local(d) for d in mf.of("DRAFT"))
    return ModelNode(model, base, adapter, drafts)


def _name_base(model: RepoModel, ins: Instruction, known: dict[str, str]) -> Base:
    try:
        name = parse_name(ins.value)
    except ValueError as err:
        raise ModelfileError(
            f"FROM {ins.value!r} is neither an existing path nor a valid model name: {err}",
            path=model.modelfile.path or model.path,
            line=ins.line,
            column=ins.value_column,
        ) from None
    repo_name = known.get(name.untagged)
    if repo_name is not None and not name.has_tag:
        if repo_name == model.name:
            raise GraphError(f"{_where(model, ins)}: {model.name} is FROM itself")
        return Base("source", ins.value, repo_name, ins.line)
    kind: FromKind = "pinned" if repo_name is not None else "external"
    return Base(kind, ins.value, name.display, ins.line)


class Graph:
    """All models of a snapshot with their edges, in a dependency order.

    `order` lists every model after its source parent (ties broken by name, so the order is
    stable); each model has at most one source parent, so the graph is a forest.

    `nodes` may be any mapping: a stored graph (stored.py) passes one that makes each node
    only when it is first looked up, with `parents` and `paths` read from its columns, so
    that a command touching a few models of 10,000 (`diff v1 v2`) makes only those. The
    depths (and with them the check for a cycle) are worked out at once from the parents;
    `order` (a sort of every name) and `children` only when first used.
    """

    def __init__(
        self,
        nodes: Mapping[str, ModelNode],
        *,
        parents: dict[str, str | None] | None = None,
        paths: dict[str, str] | None = None,
    ) -> None:
        self.nodes = nodes
        # Each node's parent, looked up once (a property: 60,000 calls on 10,000 models).
        self._parents = (
            parents if parents is not None else {name: node.parent for name, node in nodes.items()}
        )
        self._paths = paths
        self._depth = self._depths()

    def _depths(self) -> dict[str, int]:
        """Each model's depth: 0 for a root, its parent's + 1 (GraphError for a cycle).

        Roots first, in one comprehension, then each model whose parent is known in one
        step; only the rest walk up their chain (10,000 stored models per side of a
        `diff`: this runs at every load)."""
        parents = self._parents
        depth = {name: 0 for name, parent in parents.items() if parent is None}
        if len(depth) == len(parents):
            return depth
        limit = len(parents)
        get = depth.get
        for name, parent in parents.items():
            if parent is None or name in depth:
                continue
            known = get(parent)
            if known is not None:
                depth[name] = known + 1
                continue
            chain = [name]
            here: str | None = parent
            while here is not None and here not in depth:
                chain.append(here)
                if len(chain) > limit:
                    self._toposort_cycle()
                here = parents[here]
            d = -1 if here is None else depth[here]
            for item in reversed(chain):
                d += 1
                depth[item] = d
        return depth

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Models by depth, then name: the batches graphlib's sorter gives when each batch
        is sorted (every model has at most one parent), computed without it."""
        depth = self._depth
        return tuple(sorted(self._parents, key=lambda n: (depth[n], n)))

    def sort(self, names: Iterable[str]) -> list[str]:
        """`names` (known models, each once) in `order`, without sorting every model."""
        depth = self._depth
        return sorted(names, key=lambda n: (depth[n], n))

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        children: dict[str, list[str]] = {name: [] for name in self._parents}
        for name, parent in self._parents.items():
            if parent is not None:
                children[parent].append(name)
        return {name: tuple(sorted(kids)) if kids else () for name, kids in children.items()}

    @cached_property
    def paths(self) -> dict[str, str]:
        """Each model's file, without making nodes a stored graph has not made."""
        if self._paths is not None:
            return self._paths
        return {name: node.model.path for name, node in self.nodes.items()}

    def parent(self, name: str) -> str | None:
        """The source parent of a known model (None for a root)."""
        return self._parents[name]

    def _toposort_cycle(self) -> NoReturn:
        """graphlib finds and names the cycle for the error."""
        sorter = graphlib.TopologicalSorter(
            {name: ([n.parent] if n.parent else []) for name, n in self.nodes.items()}
        )
        try:
            sorter.prepare()
        except graphlib.CycleError as err:
            cycle = list(err.args[1])
            # graphlib lists each node before the one that depends on it; FROM reads the
            # other way, so show "a -> b" as "a is FROM b".
            cycle.reverse()
            first = self.nodes[cycle[0]]
            where = f"{first.model.modelfile.path or first.model.path}:{first.base.line}"
            raise GraphError(f"{where}: FROM cycle: {' -> '.join(cycle)}") from None
        raise GraphError("FROM cycle")  # not reached: prepare() found one

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def __getitem__(self, name: str) -> ModelNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise UnknownModelError(f"unknown model {name!r}", hint=self._suggest(name)) from None

    def _suggest(self, name: str) -> str | None:
        import difflib

        close = difflib.get_close_matches(name, list(self.nodes), n=3)
        return f"did you mean {', '.join(close)}?" if close else None

    def ancestors(self, name: str) -> list[str]:
        """Source ancestors of `name`, root first (not including `name`)."""
        if name not in self._parents:
            self[name]  # the error, with a suggestion
        parents = self._parents
        chain: list[str] = []
        parent = parents[name]
        while parent is not None:
            chain.append(parent)
            parent = parents[parent]
        chain.reverse()
        return chain

    def descendants(self, name: str) -> list[str]:
        """Every model built FROM `name` directly or indirectly, in dependency order."""
        self[name]
        found: set[str] = set()
        stack = list(self.children[name])
        while stack:
            child = stack.pop()
            if child not in found:
                found.add(child)
                stack.extend(self.children[child])
        return self.sort(found)

    def closure(self, names: list[str], *, up: bool = False, down: bool = False) -> list[str]:
        """`names` plus their ancestors and/or descendants, in dependency order."""
        picked: set[str] = set()
        for name in names:
            picked.add(self[name].name)
            if up:
                picked.update(self.ancestors(name))
            if down:
                picked.update(self.descendants(name))
        return self.sort(picked)

    @cached_property
    def roots(self) -> tuple[str, ...]:
        return tuple(n for n in self.order if self._parents[n] is None)

    @cached_property
    def depths(self) -> dict[str, int]:
        known = self._depth  # computed by the sort: 0 for a root, its parent's + 1
        return {name: known[name] for name in self.order}

    def depth(self, name: str) -> int:
        return self.depths[self[name].name]

    def root_of(self, name: str) -> str:
        chain = self.ancestors(name)
        return chain[0] if chain else self[name].name


def build_graph(snapshot: Snapshot) -> Graph:
    """Classify every model's FROM in the snapshot and order the result."""
    with paused_gc():
        return _build_graph(snapshot)


def _build_graph(snapshot: Snapshot) -> Graph:
    models = snapshot.models
    known: dict[str, str] = {}
    for name in models:
        try:
            known[parse_name(name).untagged] = name
        except ValueError:
            known[name] = name
    shared = _shared_classes(snapshot, known)
    if shared is None:
        nodes = {name: _classify(snapshot, model, known) for name, model in models.items()}
        return Graph(nodes)
    nodes = {}
    for name, model in models.items():
        key = (name, model.path, model.blob)
        base = shared.get(key)
        if base is not None:
            nodes[name] = ModelNode(model, base)
            continue
        node = nodes[name] = _classify(snapshot, model, known)
        if node.base.kind != "file" and node.adapter is None and not node.drafts:
            shared[key] = node.base
    return Graph(nodes)


def _shared_classes(
    snapshot: Snapshot, known: dict[str, str]
) -> dict[tuple[str, str, str | None], Base] | None:
    """Classifications shared by the commits of one repository whose trees have the same
    layout (sources.TreeSource.layout), the same allow_paths and the same model names:
    `diff v1 v2` classified 10,000 unchanged models twice. Only a model whose base is a
    name and that has no local files is shared, keyed by name, path and blob: its
    classification read nothing but its Modelfile's graph lines and which paths exist,
    which that layout fixes. None for the working tree (its files can change)."""
    source = snapshot.source
    if not isinstance(source, TreeSource):
        return None
    memo = snapshot.repo.cache.memo
    key = f"classified\0{source.layout}\0{snapshot.config.allow_paths!r}"
    found = memo.get(key)
    if not isinstance(found, tuple) or found[0] != known:
        found = memo[key] = (dict(known), {})
    shared: dict[tuple[str, str, str | None], Base] = found[1]
    return shared
