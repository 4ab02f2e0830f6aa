"""A Modelfile's graph lines without its full parse, for files that certainly parse.

Building the inheritance graph needs only each model's FROM, ADAPTER and DRAFT lines, yet a
cold `mfops ls` parsed every line of 10,000 Modelfiles into nodes it never looked at. For a
file in the plain subset of the language below, `outline` checks that the whole file is in
that subset (so the full parser cannot fail on it), reads the graph lines, and returns a
deferred Modelfile: the full parse runs only when anything but the graph lines is used.
Anything outside the subset returns None, and the caller parses as before.

The subset, line by line (ASCII text with LF line breaks; a value holds printable ASCII and
tabs only, so Ollama drops nothing from it):

- blank lines and comments;
- `FROM`, `ADAPTER`, `DRAFT` (any case) with a plain value: one line, not quoted, not empty;
- `LICENSE`, `TEMPLATE`, `SYSTEM`, `RENDERER`, `PARSER`, `REQUIRES`, a `PARAMETER` whose
  name is not one that acts as a graph command (`model`, `adapter`, `draft`), and a
  `MESSAGE` with a valid role, each with a value that is plain, or quoted and closed on its
  line, or a `\"\"\"` alone on its line that a later line closes (what the block holds is
  its value, whatever it looks like).

The lines are matched one after the other, each with one match of `_LINE` (a block is one
match), so a failed match costs at most one block and never backtracks into earlier lines.
A property test checks, on generated and arbitrary text, that whatever `outline` accepts
the full parser reads without error, with the same graph instructions and newline.
"""

from __future__ import annotations

import re

from mfops.language.modelfile import Instruction, Modelfile, Node, parse

_GRAPH = r"(?i:from|adapter|draft)"
#: A line of a quoted block (printable ASCII and tabs: nothing Ollama would drop).
_INNER = r"[\t -~]*"
_VALUE = (
    r"[ \t]*(?:"
    r'"""[ \t]*\n(?:' + _INNER + r"\n)*?" + _INNER + r'"""'  # a block closed on a later line
    r'|"""[\t -~]*"""'  # triple quotes closed on the line
    r'|"(?!"")[\t -~]*"'  # one quote closed on the line
    r'|(?![ \t"])[\t -~]*'  # plain (or empty)
    r")"
)
_LINE = re.compile(
    r"(?:([ \t]*)(" + _GRAPH + r")[ \t][ \t]*([!#-~](?:[\t -~]*[!-~])?)"
    r"|[ \t]*(?:#[\t -~]*"
    r"|(?:(?i:license|template|system|renderer|parser|requires)"
    r"|(?i:parameter)[ \t](?!(?:model|adapter|draft)[ \t])[A-Za-z0-9_]*"
    r"|(?i:message)[ \t](?:system|user|assistant))"
    r"[ \t]" + _VALUE + r")?"
    r")[ \t]*(?:\n|\Z)",
    re.ASCII,
)


def outline(text: str, path: str | None = None) -> Modelfile | None:
    """A deferred Modelfile of decoded `text` holding its graph lines, or None when the
    text is not in the plain subset (see the module docstring): then call `parse`."""
    if not text.isascii() or "\r" in text:
        return None
    graph: dict[str, list[Instruction]] = {}
    match = _LINE.match
    count = text.count
    size = len(text)
    pos = 0
    line = 1
    while pos < size:
        m = match(text, pos)
        if m is None:
            return None
        written = m.group(2)
        if written is not None:
            keyword = written.upper()
            found = graph.get(keyword)
            if found is None:
                found = graph[keyword] = []
            column = len(m.group(1)) + 1
            found.append(
                Instruction(keyword, m.group(3), line, column, line, m.start(3) - pos + 1, written)
            )
        end = m.end()
        line += count("\n", pos, end)
        pos = end
    if "FROM" not in graph:
        return None

    def load() -> tuple[Node, ...]:
        return parse(text, path=path).nodes

    return Modelfile.deferred(
        load, path=path, newline="\n", graph={k: tuple(v) for k, v in graph.items()}
    )
