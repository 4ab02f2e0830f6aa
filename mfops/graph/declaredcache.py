"""Each Modelfile's own create request (`Declared`), remembered by the blob id of its bytes.

Comparing effective configs folds every model's chain from its root, and folding needs each
Modelfile's own request: `mfops diff v1 v2` with 100 edited models out of 10,000 parsed
about 1,200 Modelfiles per side again (0.13 s each side) only to read back what the previous
run had already worked out. A request depends on nothing but the Modelfile's bytes (its
blob id), the model's name (the origin of every value) and where its ADAPTER and DRAFT
paths resolved (the graph's, per node), so the repo cache (repo/cache.py, map *declared*)
keeps, per blob id, the request without the name and the paths; they are put back from the
node when it is read. An entry is checked field by field when decoded: anything not
exactly of the shape `encode` writes (or of another ENTRY_VERSION) is dropped and the
request worked out from the Modelfile again, so the cache can only save time. A Modelfile
whose request is refused (a bad PARAMETER, an invalid REQUIRES) is never remembered: the
error is raised again, with its place, on every run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mfops.graph.effective import Declared, Message, Sourced, declared

if TYPE_CHECKING:
    from mfops.graph.inheritance import ModelNode
    from mfops.repo.cache import Cache

#: Bump when the entry's layout or what `declared` computes changes.
ENTRY_VERSION = 1

_TEXT_KEYS = frozenset({"template", "system", "renderer", "parser", "requires"})


def encode(own: Declared) -> list[object]:
    """`own` as JSON-ready rows, without the name and the resolved paths."""
    return [
        ENTRY_VERSION,
        {k: [v.value, v.line] for k, v in own.texts.items()},
        {k: [v.value, v.line] for k, v in own.parameters.items()},
        list(own.deprecated),
        [[m.role, m.content] for m in own.messages],
        own.messages_line,
        [[v.value, v.line] for v in own.licenses],
        own.adapter.line if own.adapter is not None else None,
        [d.line for d in own.drafts],
    ]


def _line(x: object) -> bool:
    return x is None or type(x) is int


def _pair(row: object) -> bool:
    return type(row) is list and len(row) == 2 and _line(row[1])


def _param(value: object) -> bool:
    if type(value) is list:
        return all(type(v) is str for v in value)
    return type(value) in (int, float, bool, str)


def decode(entry: object, node: ModelNode) -> Declared | None:
    """The request an entry holds, for `node` (its name and resolved paths); None when the
    entry is not exactly what `encode` writes or does not fit the node."""
    if type(entry) is not list or len(entry) != 9 or entry[0] != ENTRY_VERSION:
        return None
    _, texts, params, deprecated, messages, messages_line, licenses, adapter, drafts = entry
    if (
        type(texts) is not dict
        or type(params) is not dict
        or type(deprecated) is not list
        or type(messages) is not list
        or not _line(messages_line)
        or type(licenses) is not list
        or not _line(adapter)
        or type(drafts) is not list
    ):
        return None
    if not all(k in _TEXT_KEYS and _pair(v) and type(v[0]) is str for k, v in texts.items()):
        return None
    if not all(_pair(v) and _param(v[0]) for v in params.values()):
        return None
    if not all(type(d) is str for d in deprecated):
        return None
    if not all(
        type(m) is list and len(m) == 2 and type(m[0]) is str and type(m[1]) is str
        for m in messages
    ):
        return None
    if not all(_pair(v) and type(v[0]) is str for v in licenses):
        return None
    if not all(type(d) is int for d in drafts) or len(drafts) != len(node.drafts):
        return None
    if (adapter is None) != (node.adapter is None):
        return None
    name = node.name
    return Declared(
        name=name,
        texts={k: Sourced(v[0], name, v[1]) for k, v in texts.items()},
        parameters={
            k: Sourced(list(v[0]) if type(v[0]) is list else v[0], name, v[1])
            for k, v in params.items()
        },
        deprecated=tuple(deprecated),
        messages=tuple(Message(role, content) for role, content in messages),
        messages_line=messages_line,
        licenses=tuple(Sourced(v, name, line) for v, line in licenses),
        adapter=(
            Sourced(node.adapter, name, adapter)
            if node.adapter is not None and adapter is not None
            else None
        ),
        drafts=tuple(Sourced(d, name, line) for d, line in zip(node.drafts, drafts, strict=True)),
    )


class RememberedDeclared:
    """`declared(node)`, looked up in the repo cache by the node's blob id first; what is
    worked out is remembered there (written when the cache is next saved)."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def __call__(self, node: ModelNode) -> Declared:
        blob = node.model.blob
        if blob is None:
            return declared(node)
        entry = self.cache.declared(blob)
        if entry is not None:
            found = decode(entry, node)
            if found is not None:
                return found
            self.cache.drop_declared(blob)
        own = declared(node)
        self.cache.put_declared(blob, encode(own))
        return own
