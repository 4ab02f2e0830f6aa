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


def _param(value: object) -> bool:
    if type(value) is list:
        return all(type(v) is str for v in value)
    return type(value) in (int, float, bool)


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
        or len(drafts) != len(node.drafts)
        or (adapter is None) != (node.adapter is None)
    ):
        return None
    name = node.name
    # Each `value, line` pair is unpacked: only a two-item list gives a str or typed value
    # and an int or None there (a two-letter string gives two strings, which fails).
    try:
        own_texts: dict[str, Sourced[str]] = {}
        for key, (value, line) in texts.items():
            if key not in _TEXT_KEYS or type(value) is not str or not _line(line):
                return None
            own_texts[key] = Sourced(value, name, line)
        own_params: dict[str, Sourced[object]] = {}
        for key, (value, line) in params.items():
            if not _param(value) or not _line(line):
                return None
            own_params[key] = Sourced(value, name, line)
        own_messages = []
        for pair in messages:
            if type(pair) is not list or len(pair) != 2:
                return None
            role, content = pair
            if type(role) is not str or type(content) is not str:
                return None
            own_messages.append(Message(role, content))
        own_licenses = []
        for value, line in licenses:
            if type(value) is not str or not _line(line):
                return None
            own_licenses.append(Sourced(value, name, line))
    except (TypeError, ValueError):  # not a pair
        return None
    if any(type(d) is not str for d in deprecated) or any(type(d) is not int for d in drafts):
        return None
    return Declared(
        name=name,
        texts=own_texts,
        parameters=own_params,
        deprecated=tuple(deprecated),
        messages=tuple(own_messages),
        messages_line=messages_line,
        licenses=tuple(own_licenses),
        adapter=(
            Sourced(node.adapter, name, adapter)
            if node.adapter is not None and adapter is not None
            else None
        ),
        drafts=tuple(Sourced(d, name, line) for d, line in zip(node.drafts, drafts, strict=True)),
    )


class RememberedDeclared:
    """`declared(node)`, looked up in the repo cache by the node's blob id first; what is
    worked out is remembered there (written when the cache is next saved). Each request
    is also kept for this object's life under all it depends on (blob, name, resolved
    adapter and drafts), so the same model at two revisions is decoded once."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._seen: dict[tuple[object, ...], Declared] = {}

    def __call__(self, node: ModelNode) -> Declared:
        blob = node.model.blob
        if blob is None:
            return declared(node)
        key = (blob, node.name, node.adapter, node.drafts)
        found = self._seen.get(key)
        if found is not None:
            return found
        entry = self.cache.declared(blob)
        if entry is not None:
            found = decode(entry, node)
            if found is None:
                self.cache.drop_declared(blob)
        if found is None:
            found = declared(node)
            self.cache.put_declared(blob, encode(found))
        self._seen[key] = found
        return found
