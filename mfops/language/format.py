"""Canonical Modelfile text: what `mfops fmt` writes.

Upper-case keywords, FROM first (header comments stay on top), one space between keyword and
value, runs of blank lines collapsed, comments kept, and the file's own line break. Values
are quoted only as much as Ollama's grammar needs (it has no escapes, and a closing quote
counts only at the end of a line), so `parse(format(x))` has the commands of `parse(x)`
(FROM moved first) and formatting is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator

from mfops.errors import ModelfileError
from mfops.language.goprint import is_go_printable, printable_only
from mfops.language.modelfile import (
    LINE_BREAKS,
    Blank,
    Command,
    Comment,
    Instruction,
    Modelfile,
    Node,
    parse,
    shown,
)


def _closes_early(value: str, delim: str) -> bool:
    """Would `delim + value + delim` end before its last line (or not start as intended)?"""
    if delim == '"' and (delim + value + delim).startswith('"""'):
        return True  # it would read as a `"""` block
    lines = LINE_BREAKS.split(value)[0::2]
    if len(lines) == 1:
        return False
    first = (delim + lines[0]).rstrip(" \t")
    if len(first) >= 2 * len(delim) and first.endswith(delim):
        return True
    return any(chunk.rstrip(" \t").endswith(delim) for chunk in lines[1:-1])


def quote(value: str) -> str:
    """Write a value so that Ollama reads back exactly `value`.

    Bare when that is exact; otherwise one quote for a one-line value (three when it starts
    with a quote, which would make it read as a triple-quoted block) and three for several
    lines (the form Ollama's documentation uses for prompts). Values never need escapes:
    Ollama has none. A value no Modelfile can hold is a ModelfileError: a character Ollama
    drops, or a line other than the last ending in three quotes (it closes either form).
    """
    multiline = "\n" in value or "\r" in value
    if printable_only(LINE_BREAKS.sub("", value)) != LINE_BREAKS.sub("", value):
        bad = next(ch for ch in value if ch not in "\r\n\t" and not is_go_printable(ch))
        raise ModelfileError(
            f"value cannot be written in a Modelfile: Ollama drops the character {bad!r}"
        )
    if value and not multiline and value[0] not in ' \t"' and value[-1] not in " \t":
        return value
    order = ('"""', '"') if multiline else ('"', '"""')
    for delim in order:
        if not _closes_early(value, delim):
            return delim + value + delim
    raise ModelfileError(
        f"value cannot be written in a Modelfile: {shown(value)} has lines that would end "
        'both a " and a """ block early'
    )


def format_instruction(ins: Instruction) -> str:
    """One command in canonical form: upper-case keyword, one space, stable quoting."""
    head = ins.keyword
    if ins.keyword == "PARAMETER":
        head = f"PARAMETER {ins.param}"
    elif ins.keyword == "MESSAGE":
        head = f"MESSAGE {ins.role}"
    return f"{head} {quote(ins.value)}"


def _items(nodes: tuple[Node, ...]) -> Iterator[list[Node]]:
    """Group each instruction with the comments directly above it (no blank line between)."""
    pending: list[Node] = []
    for node in nodes:
        if isinstance(node, Comment):
            pending.append(node)
        elif isinstance(node, Instruction):
            yield [*pending, node]
            pending = []
        else:
            yield from ([c] for c in pending)
            pending = []
            yield [node]
    yield from ([c] for c in pending)


def format_modelfile(mf: Modelfile) -> str:
    """Canonical text: FROM first, upper-case keywords, stable quoting, comments and groups kept.

    Everything before the first command (the header comments) stays on top. When some FROM
    comes after another command, every FROM moves up, with the comments attached to it, and
    a blank line follows them; otherwise the layout is kept. Runs of blank lines become one.
    The file's own line break (LF, CRLF or CR) is kept, because values may contain it.
    """
    nodes = mf.nodes
    first = next((k for k, n in enumerate(nodes) if isinstance(n, Instruction)), len(nodes))
    items = list(_items(nodes[first:]))
    kinds = [it[-1].keyword if isinstance(it[-1], Instruction) else "" for it in items]
    first_other = next((k for k, kw in enumerate(kinds) if kw not in ("FROM", "")), len(kinds))
    if "FROM" in kinds[first_other:]:
        froms = [it for it, kw in zip(items, kinds, strict=True) if kw == "FROM"]
        rest = [it for it, kw in zip(items, kinds, strict=True) if kw != "FROM"]
        items = [*froms, [Blank(0)], *rest]
    lines: list[str] = []
    for node in [*nodes[:first], *(n for it in items for n in it)]:
        if isinstance(node, Blank):
            if lines and lines[-1] != "":
                lines.append("")
        elif isinstance(node, Comment):
            lines.append(node.text)
        else:
            lines.append(format_instruction(node))
    while lines and lines[-1] == "":
        lines.pop()
    nl = mf.newline
    return nl.join(lines) + nl if lines else ""


def format_text(source: bytes | str, *, path: str | None = None) -> str:
    """Parse and format in one step (raises ModelfileError for invalid input)."""
    return format_modelfile(parse(source, path=path))


def canonical_commands(commands: list[Command]) -> list[Command]:
    """Commands with FROM moved first (stable): what `format` promises to keep equal."""
    return [c for c in commands if c.name == "model"] + [c for c in commands if c.name != "model"]
