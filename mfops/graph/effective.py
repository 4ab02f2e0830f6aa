"""Effective configuration: what the server will hold after `ollama create`, per model.

A model FROM another repo model inherits from it on the server (ollama-reference.md §4), so
what a model *is* depends on its whole source chain. Folding the chain from the root down
with Ollama's create semantics gives the effective config:

- TEMPLATE, SYSTEM, RENDERER, PARSER, REQUIRES: replaced when the child sets a non-empty
  value, otherwise inherited (an empty value is omitted from the request, so it cannot
  clear an inherited one);
- PARAMETER: merged per key, a key the child sets replaces that key's whole value (a child's
  `stop` list replaces the parent's);
- MESSAGE: the child's list replaces the parent's only when it has at least one;
- LICENSE: appended; ADAPTER: stacked (each create sends only its last ADAPTER line);
- the weights come from the root's base.

Every value remembers the model (and line) it came from, so that diff and build can say
"inherited from engine-bot".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from mfops.errors import ModelfileError
from mfops.fileio.bulk import paused_gc
from mfops.language.format import quote
from mfops.language.semver import normalize_requires

if TYPE_CHECKING:
    from mfops.graph.inheritance import Base, Graph, ModelNode
    from mfops.repo.repository import ResolvedPath

T = TypeVar("T")

#: Scalar text fields, in the order they are written back into a Modelfile.
TEXT_FIELDS = ("template", "system", "renderer", "parser", "requires")


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A value and the repo model that set it."""

    value: T
    origin: str
    line: int | None = None


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class Declared:
    """The create request one Modelfile makes, before inheritance (Ollama §3.1 semantics)."""

    name: str
    texts: dict[str, Sourced[str]] = field(default_factory=dict)
    parameters: dict[str, Sourced[object]] = field(default_factory=dict)
    deprecated: tuple[str, ...] = ()
    messages: tuple[Message, ...] = ()
    messages_line: int | None = None
    licenses: tuple[Sourced[str], ...] = ()
    adapter: Sourced[ResolvedPath] | None = None
    drafts: tuple[Sourced[ResolvedPath], ...] = ()


def declared(node: ModelNode) -> Declared:
    """What `ollama create` would send for this model's own Modelfile.

    Raises ModelfileError where Ollama's client would refuse the file (a parameter it cannot
    convert, an invalid REQUIRES).
    """
    mf = node.model.modelfile
    name = node.name
    path = mf.path or node.model.path
    params = mf.parameters()
    if params.error is not None:
        err = params.error
        raise ModelfileError(err.message, path=path, line=err.line, column=err.column)
    texts: dict[str, Sourced[str]] = {}
    for key in TEXT_FIELDS:
        ins = mf.last(key.upper())
        if ins is None or ins.value == "":
            continue
        value = ins.value
        if key == "requires":
            normal = normalize_requires(value)
            if normal is None:
                raise ModelfileError(
                    "requires must be a valid semver (e.g. 0.14.0)",
                    path=path,
                    line=ins.line,
                    column=ins.value_column,
                )
            value = normal
        texts[key] = Sourced(value, name, ins.line)
    param_lines: dict[str, int] = {}
    for ins in mf.of("PARAMETER"):
        param_lines[ins.param] = ins.line
    messages = tuple(Message(i.role, i.value) for i in mf.of("MESSAGE"))
    first_message = mf.of("MESSAGE")[0].line if messages else None
    return Declared(
        name=name,
        texts=texts,
        parameters={k: Sourced(v, name, param_lines.get(k)) for k, v in params.values.items()},
        deprecated=params.deprecated,
        messages=messages,
        messages_line=first_message,
        licenses=tuple(Sourced(i.value, name, i.line) for i in mf.of("LICENSE")),
        adapter=(
            Sourced(node.adapter, name, ins.line)
            if node.adapter and (ins := mf.last("ADAPTER")) is not None
            else None
        ),
        drafts=tuple(
            Sourced(d, name, i.line) for d, i in zip(node.drafts, mf.of("DRAFT"), strict=True)
        ),
    )


@dataclass(frozen=True)
class Effective:
    """The folded config of one model; `chain` runs from the root to this model."""

    name: str
    base: Base
    chain: tuple[str, ...]
    texts: dict[str, Sourced[str]]
    parameters: dict[str, Sourced[object]]
    messages: Sourced[tuple[Message, ...]] | None
    licenses: tuple[Sourced[str], ...]
    adapters: tuple[Sourced[ResolvedPath], ...]
    drafts: Sourced[tuple[ResolvedPath, ...]] | None

    @property
    def root(self) -> str:
        return self.chain[0]

    def text(self, key: str) -> str | None:
        item = self.texts.get(key)
        return item.value if item else None


def fold(parent: Effective | None, own: Declared, base: Base) -> Effective:
    """Apply one create (Ollama §4) on top of its parent's effective config."""
    if parent is None:
        texts: dict[str, Sourced[str]] = {}
        params: dict[str, Sourced[object]] = {}
        messages: Sourced[tuple[Message, ...]] | None = None
        licenses: tuple[Sourced[str], ...] = ()
        adapters: tuple[Sourced[ResolvedPath], ...] = ()
        drafts: Sourced[tuple[ResolvedPath, ...]] | None = None
        chain: tuple[str, ...] = ()
    else:
        texts, params = dict(parent.texts), dict(parent.parameters)
        messages, licenses = parent.messages, parent.licenses
        adapters, drafts, chain = parent.adapters, parent.drafts, parent.chain
        base = parent.base
    texts.update(own.texts)
    params.update(own.parameters)
    if own.messages:
        messages = Sourced(own.messages, own.name, own.messages_line)
    if own.drafts:
        drafts = Sourced(tuple(d.value for d in own.drafts), own.name, own.drafts[0].line)
    return Effective(
        name=own.name,
        base=base,
        chain=(*chain, own.name),
        texts=texts,
        parameters=params,
        messages=messages,
        licenses=licenses + own.licenses,
        adapters=adapters + ((own.adapter,) if own.adapter else ()),
        drafts=drafts,
    )


def effective_all(
    graph: Graph,
    names: list[str] | None = None,
    *,
    own: Callable[[ModelNode], Declared] = declared,
) -> dict[str, Effective]:
    """Effective configs for `names` (default: every model), each parent folded once;
    `own` gives each model's own request (graph/declaredcache.py remembers them)."""
    wanted = graph.closure(names, up=True) if names is not None else list(graph.order)
    out: dict[str, Effective] = {}
    with paused_gc():  # thousands of parses and folds, all kept (fileio/bulk.py)
        nodes, parent_of = graph.nodes, graph.parent
        for name in wanted:
            node = nodes[name]
            parent = parent_of(name)
            out[name] = fold(out[parent] if parent else None, own(node), node.base)
    return out


def effective(graph: Graph, name: str) -> Effective:
    return effective_all(graph, [name])[graph[name].name]


def _param_text(value: object) -> str:
    """A typed parameter value written so that Ollama converts it back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _rel(resolved: ResolvedPath, model_dir: str) -> str:
    import posixpath

    if resolved.repo_path is None:
        return resolved.abs_path or resolved.arg
    rel = posixpath.relpath(resolved.repo_path, model_dir or ".")
    return rel if rel.startswith("..") else f"./{rel}"


def to_modelfile(eff: Effective, *, model_dir: str, label: str = "") -> str:
    """A Modelfile that creates the same model from the root's base in one `ollama create`.

    Comments say where each value comes from. Paths are written relative to `model_dir`
    (the directory of the Modelfile being shown) so the text is valid there. Ollama takes
    one ADAPTER per create; a chain with stacked adapters cannot be flattened, and says so.
    """
    chain = " -> ".join(eff.chain)
    out = [f"# Effective Modelfile of {eff.name}" + (f" at {label}" if label else "")]
    out.append(f"# inheritance: {eff.base.target} -> {chain}")
    out.append("")
    if eff.base.kind == "file":
        out.extend(f"FROM {quote(_rel(f, model_dir))}" for f in eff.base.files)
    else:
        out.append(f"FROM {eff.base.target}")
    for i, adapter in enumerate(eff.adapters):
        prefix = "" if len(eff.adapters) == 1 else "# "
        out.append(f"# ADAPTER from {adapter.origin}")
        out.append(f"{prefix}ADAPTER {quote(_rel(adapter.value, model_dir))}")
        if prefix and i == len(eff.adapters) - 1:
            out.append("# (adapters stack across inheritance; one Modelfile can hold only one)")
    if eff.drafts:
        out.extend(f"DRAFT {quote(_rel(d, model_dir))}" for d in eff.drafts.value)
    for key in TEXT_FIELDS:
        item = eff.texts.get(key)
        if item is not None:
            out.append(f"# {key.upper()} from {item.origin}")
            out.append(f"{key.upper()} {quote(item.value)}")
    for key in sorted(eff.parameters):
        param = eff.parameters[key]
        values = param.value if isinstance(param.value, list) else [param.value]
        out.append(f"# {key} from {param.origin}")  # no inline comments in a Modelfile
        out.extend(f"PARAMETER {key} {quote(_param_text(v))}" for v in values)
    for lic in eff.licenses:
        out.append(f"# LICENSE from {lic.origin}")
        out.append(f"LICENSE {quote(lic.value)}")
    if eff.messages:
        out.append(f"# MESSAGEs from {eff.messages.origin}")
        out.extend(f"MESSAGE {m.role} {quote(m.content)}" for m in eff.messages.value)
    return "\n".join(out) + "\n"
