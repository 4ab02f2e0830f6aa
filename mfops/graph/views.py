"""Views of the inheritance graph for people and tools: tree, DOT, Mermaid and JSON.

Pure functions from a Graph to text or plain data, so the CLI only picks one and prints it.
Bases that are not repo models (registry models, pinned releases, local weight files) appear
as their own nodes, because "which models move when llama3.2 moves" is the question users ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mfops.fileio.markdown import fence

if TYPE_CHECKING:
    from mfops.graph.inheritance import Graph, ModelNode


def base_label(node: ModelNode) -> str:
    base = node.base
    return base.target if base.kind != "file" else f"file {base.target}"


def model_rows(graph: Graph) -> list[dict[str, object]]:
    """One JSON-ready record per model, in dependency order (the `ls --format json` schema)."""
    rows: list[dict[str, object]] = []
    for name in graph.order:
        node = graph.nodes[name]
        rows.append(
            {
                "name": name,
                "file": node.model.path,
                "from": {
                    "kind": node.base.kind,
                    "target": node.base.target,
                    "arg": node.base.arg,
                    "line": node.base.line,
                },
                "parent": node.parent,
                "children": list(graph.children[name]),
                "depth": graph.depths[name],
                "description": node.model.description,
            }
        )
    return rows


def tree(graph: Graph) -> str:
    """An indented tree per base, like `tree(1)`, for terminals."""
    lines: list[str] = []
    by_base: dict[tuple[str, str], list[str]] = {}
    for root in graph.roots:
        node = graph.nodes[root]
        by_base.setdefault((node.base.kind, base_label(node)), []).append(root)

    def walk(name: str, prefix: str, last: bool) -> None:
        node = graph.nodes[name]
        lines.append(f"{prefix}{'└── ' if last else '├── '}{name}  ({node.model.path})")
        kids = graph.children[name]
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("    " if last else "│   "), i == len(kids) - 1)

    for (kind, label), roots in sorted(by_base.items()):
        lines.append(f"{label} [{kind}]")
        for i, root in enumerate(roots):
            walk(root, "", i == len(roots) - 1)
    return "\n".join(lines)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(graph: Graph) -> str:
    """Graphviz DOT: edges point from a base to the models built FROM it."""
    out = ["digraph mfops {", "  rankdir=LR;", "  node [shape=box];"]
    bases: dict[str, str] = {}
    for name in graph.order:
        node = graph.nodes[name]
        out.append(f"  {_dot_quote(name)} [tooltip={_dot_quote(node.model.path)}];")
    for name in graph.order:
        node = graph.nodes[name]
        if node.parent:
            out.append(f"  {_dot_quote(node.parent)} -> {_dot_quote(name)};")
        else:
            label = base_label(node)
            if label not in bases:
                bases[label] = node.base.kind
                out.append(
                    f"  {_dot_quote('base:' + label)} [label={_dot_quote(label)}, "
                    f"shape=ellipse, style=dashed];"
                )
            out.append(f"  {_dot_quote('base:' + label)} -> {_dot_quote(name)};")
    out.append("}")
    return "\n".join(out)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(graph: Graph) -> str:
    """A fenced Mermaid flowchart that GitHub renders in Markdown."""
    ids: dict[str, str] = {}

    def ident(key: str) -> str:
        return ids.setdefault(key, f"n{len(ids)}")

    out = ["flowchart TD"]
    for name in graph.order:
        node = graph.nodes[name]
        out.append(f'  {ident("m:" + name)}["{_mermaid_text(name)}"]')
        if node.parent:
            out.append(f"  {ident('m:' + node.parent)} --> {ident('m:' + name)}")
        else:
            label = base_label(node)
            key = "b:" + label
            if key not in ids:
                out.append(f'  {ident(key)}(["{_mermaid_text(label)}"])')
            out.append(f"  {ident(key)} -.-> {ident('m:' + name)}")
    return "\n".join(fence("\n".join(out), "mermaid"))


#: The most nodes a diff's picture shows; beyond that it would be unreadable in a comment.
SUBGRAPH_LIMIT = 60
_MARK_TEXT = {"changed": "~ ", "added": "+ ", "renamed": "> "}
_MARK_STYLE = {
    "changed": "fill:#fff4c2,stroke:#b08800,stroke-width:2px",
    "added": "fill:#dcffe4,stroke:#22863a,stroke-width:2px",
    "renamed": "fill:#e1f0ff,stroke:#0366d6,stroke-width:2px",
}


def affected(graph: Graph, marked: Mapping[str, str]) -> list[str]:
    """The marked models and their source ancestors (the unchanged context), in graph
    order: only the subtrees a change touches, however large the repository."""
    keep: set[str] = set()
    for name in marked:
        if name in graph.nodes:
            keep.add(name)
            keep.update(graph.ancestors(name))
    return [n for n in graph.order if n in keep]


def mermaid_affected(
    graph: Graph, marked: Mapping[str, str], *, limit: int = SUBGRAPH_LIMIT
) -> str | None:
    """A Mermaid flowchart of the models a diff touches: `marked` maps a model to how it
    changed (`changed`, `added`, `renamed`), drawn highlighted and prefixed `~`/`+`/`>`;
    their unchanged ancestors are drawn plain for context, and each root's external base
    as a rounded node. None when nothing is marked or the picture would pass `limit` nodes."""
    names = affected(graph, marked)
    if not names or len(names) > limit:
        return None
    ids: dict[str, str] = {}

    def ident(key: str) -> str:
        return ids.setdefault(key, f"n{len(ids)}")

    out = ["flowchart TD"]
    classes: dict[str, list[str]] = {}
    for name in names:
        node = graph.nodes[name]
        how = marked.get(name)
        label = _MARK_TEXT.get(how or "", "") + name
        out.append(f'  {ident("m:" + name)}["{_mermaid_text(label)}"]')
        if how in _MARK_STYLE:
            classes.setdefault(how, []).append(ident("m:" + name))
        if node.parent:
            out.append(f"  {ident('m:' + node.parent)} --> {ident('m:' + name)}")
        else:
            base = base_label(node)
            key = "b:" + base
            if key not in ids:
                out.append(f'  {ident(key)}(["{_mermaid_text(base)}"])')
            out.append(f"  {ident(key)} -.-> {ident('m:' + name)}")
    for how, members in classes.items():
        out.append(f"  classDef {how} {_MARK_STYLE[how]}")
        out.append(f"  class {','.join(members)} {how}")
    return "\n".join(fence("\n".join(out), "mermaid"))


def as_json(graph: Graph) -> dict[str, object]:
    """Nodes, edges and external bases, for tools."""
    edges = [[n.parent, n.name] for n in (graph.nodes[x] for x in graph.order) if n.parent]
    bases = sorted({(graph.nodes[r].base.kind, base_label(graph.nodes[r])) for r in graph.roots})
    return {
        "models": model_rows(graph),
        "edges": edges,
        "bases": [{"kind": k, "target": t} for k, t in bases],
    }
