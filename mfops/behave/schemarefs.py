"""A suite's JSON schemas may reference only themselves: `$ref` checked before any use.

Suites come with the repository, and the repository is untrusted (the gate runs on pull
requests from forks). JSON schema's `$ref` can name any URI: `file:///etc/passwd` would be
read (and its content could reach the report, i.e. the step summary and a PR comment), an
`https://` reference would be fetched from CI, and references that lead nowhere or that
loop back to where they started (`{"$ref": "#"}`, two `$defs` naming each other) crash the
validator. So at load time (and therefore in `mfops lint`) every reference must be a local
JSON pointer (`#/$defs/x`) or a local anchor (`#name`) that exists in the same schema, no
`$id` may move the base URI elsewhere, and no chain of references and in-place applicators
(`allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`, `dependentSchemas`) may return to a
schema it started from without descending into the instance (a recursive tree through
`properties` or `items` is fine). At validation time the registry refuses every retrieval
(`registry`), as a second line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

#: Keywords that reference another schema.
REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
#: Keywords whose subschemas apply to the same instance (a loop through them never ends).
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MAPS = ("dependentSchemas",)

Pointer = tuple[str, ...]
#: Keywords whose values are instance data, not schemas (a "$ref" key there is just data).
_DATA = frozenset({"enum", "const", "examples", "default"})
#: Keywords whose values map names to schemas (their keys are names, not keywords).
_NAMES = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


class SchemaRefError(ValueError):
    """A reference a suite schema may not use; `str()` is mfops' one-line reason."""


def _walk(node: Any, at: Pointer = ()) -> Iterator[tuple[Pointer, Any]]:
    yield at, node
    if isinstance(node, dict):
        names = bool(at) and at[-1] in _NAMES
        for key, value in node.items():
            if names or key not in _DATA:
                yield from _walk(value, (*at, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*at, str(i)))


def _show(at: Pointer) -> str:
    return "/" + "/".join(at) if at else "(top level)"


def _resolve(schema: Any, ref: str, anchors: dict[str, Pointer], at: Pointer) -> Pointer:
    """The pointer (as path parts) a local reference names; SchemaRefError if none."""
    fragment = unquote(ref[1:])
    if fragment == "":
        return ()
    if not fragment.startswith("/"):
        if fragment in anchors:
            return anchors[fragment]
        raise SchemaRefError(f"$ref {ref!r} at {_show(at)}: no $anchor {fragment!r} here")
    parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in fragment[1:].split("/"))
    node = schema
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaRefError(f"$ref {ref!r} at {_show(at)}: nothing there in this schema")
    if not isinstance(node, (dict, bool)):
        raise SchemaRefError(f"$ref {ref!r} at {_show(at)}: names a value that is not a schema")
    return parts


def check_schema_refs(schema: Any) -> None:
    """Raise SchemaRefError unless every reference in `schema` is local and resolvable and
    no reference chain loops in place (see the module docstring)."""
    anchors: dict[str, Pointer] = {}
    for at, node in _walk(schema):
        if not isinstance(node, dict):
            continue
        if at and at[-1] in _NAMES:
            continue
        for key in ("$id", "id"):
            value = node.get(key)
            if isinstance(value, str) and not value.startswith("#"):
                raise SchemaRefError(
                    f"{key} {value!r} at {_show(at)}: suite schemas may not set a base URI"
                )
            if isinstance(value, str) and len(value) > 1:
                anchors[value[1:]] = at
        anchor = node.get("$anchor", node.get("$dynamicAnchor"))
        if isinstance(anchor, str):
            anchors[anchor] = at
    edges: dict[Pointer, list[Pointer]] = {}
    for at, node in _walk(schema):
        if not isinstance(node, dict) or (at and at[-1] in _NAMES):
            continue  # a mapping of names to schemas, not a schema
        out: list[Pointer] = []
        for key in REF_KEYS:
            ref = node.get(key)
            if ref is None:
                continue
            if not isinstance(ref, str):
                raise SchemaRefError(f"{key} at {_show(at)} must be a string, got {ref!r}")
            if not ref.startswith("#"):
                raise SchemaRefError(
                    f"{key} {ref!r} at {_show(at)}: suite schemas may only reference "
                    "themselves ('#/...'); nothing is read or fetched"
                )
            out.append(_resolve(schema, ref, anchors, at))
        for key in _IN_PLACE_LISTS:
            if isinstance(node.get(key), list):
                out += [(*at, key, str(i)) for i in range(len(node[key]))]
        for key in _IN_PLACE_ONE:
            if key in node:
                out.append((*at, key))
        for key in _IN_PLACE_MAPS:
            if isinstance(node.get(key), dict):
                out += [(*at, key, str(k)) for k in node[key]]
        edges[at] = out
    _no_cycle(schema, edges)


def _no_cycle(schema: Any, edges: dict[Pointer, list[Pointer]]) -> None:
    """Depth-first search for a loop among in-place edges (iterative: no recursion limit)."""
    state: dict[Pointer, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        if state.get(start):
            continue
        stack: list[tuple[Pointer, Iterator[Pointer]]] = [(start, iter(edges.get(start, ())))]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            step = next(todo, None)
            if step is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(step) == 1:
                raise SchemaRefError(
                    f"$ref loop at {_show(step)}: the schema refers back to itself without "
                    "descending into the value (it could never be checked)"
                )
            if not state.get(step):
                state[step] = 1
                stack.append((step, iter(edges.get(step, ()))))


def registry() -> Any:
    """A `referencing` registry that retrieves nothing: any reference the checks above
    missed fails instead of reading a file or the network."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    def refuse(uri: str) -> Any:
        raise NoSuchResource(uri)

    return Registry(retrieve=refuse)  # type: ignore[call-arg]
