"""The Modelfile language: Ollama-exact parsing into a concrete syntax tree, and formatting.

Ollama's parser (`parser.ParseFile`) is a rune-by-rune state machine with quirks that decide
what a model becomes: no escapes, quotes that close only at the end of a line, non-printable
characters silently dropped from values, and more (ollama-reference.md §1). mfops must accept
and reject exactly the same inputs and produce the same command list, so this module mirrors
each state of that machine. It does so line by line rather than rune by rune, which keeps it
linear and fast in Python (Ollama's own parser is quadratic in the length of a value).

Unlike Ollama, the result keeps comments and blank lines (a concrete syntax tree) so that the
formatter can write a file back without losing them; `Modelfile.commands` is the semantic view
Ollama sees.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mfops.errors import ModelfileError
from mfops.params import Parameters, collect

#: Keywords in the order Ollama's error message lists them.
KEYWORDS = (
    "from",
    "license",
    "template",
    "system",
    "adapter",
    "draft",
    "renderer",
    "parser",
    "parameter",
    "message",
    "requires",
)
ROLES = ("system", "user", "assistant")

#: Commands whose last occurrence silently wins (ollama-reference §1.2).
SINGLE_VALUED = frozenset({"template", "system", "adapter", "renderer", "parser", "requires"})

_INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
_INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'

_LINES = re.compile(r"(\r\n|\r|\n)")
_ALPHA = re.compile(r"[A-Za-z]*")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]*")


def _utf16_replace(err: UnicodeError) -> tuple[str, int]:
    """Go's UTF-16 decoder writes one U+FFFD per bad code unit (and one for an odd byte)."""
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd" * ((err.end - err.start + 1) // 2), err.end


codecs.register_error("mfops-utf16-replace", _utf16_replace)


def decode(data: bytes) -> str:
    """Decode like Ollama: a BOM picks UTF-8 or UTF-16 and is dropped; bad bytes become U+FFFD.

    Go's UTF-8 decoder replaces each maximal ill-formed subsequence with one U+FFFD, which is
    what Python's "replace" handler does too.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", "mfops-utf16-replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", "mfops-utf16-replace")
    return data.decode("utf-8", "replace")


def _printable(text: str) -> str:
    """Drop what Go's strconv.IsPrint rejects, except tabs (Ollama keeps those in values).

    Go and Python agree on "printable": letters, marks, numbers, punctuation, symbols and the
    ASCII space; everything in the Other and Separator categories is not.
    """
    if text.isprintable():
        return text
    return "\t".join(
        part if part.isprintable() else "".join(ch for ch in part if ch.isprintable())
        for part in text.split("\t")
    )


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Command:
    """One entry of Ollama's command list: `name` is `model` for FROM, the parameter's own
    name for PARAMETER, else the lower-case keyword; `args` is the value (`role: text` for
    MESSAGE)."""

    name: str
    args: str


@dataclass(frozen=True, slots=True)
class Instruction:
    """A command as written: keyword, value and where it sits.

    `keyword` is the canonical upper-case keyword and `written` the spelling in the file.
    `value` is the command's value after Ollama's unquoting; for MESSAGE it is the text
    without the role. `quote` records the delimiter used: empty, one or three quotes.
    """

    keyword: str
    value: str
    line: int
    column: int
    end_line: int
    value_column: int
    written: str = ""
    param: str = ""
    role: str = ""
    quote: str = ""

    @property
    def name(self) -> str:
        """Ollama's stored command name."""
        if self.keyword == "FROM":
            return "model"
        if self.keyword == "PARAMETER":
            return self.param
        return self.keyword.lower()

    @property
    def args(self) -> str:
        return f"{self.role}: {self.value}" if self.keyword == "MESSAGE" else self.value

    def command(self) -> Command:
        return Command(self.name, self.args)


@dataclass(frozen=True, slots=True)
class Comment:
    """A `#` line; `text` starts at the `#`, trailing blanks removed."""

    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Blank:
    """An empty or whitespace-only line: it separates groups of commands."""

    line: int


Node = Instruction | Comment | Blank


@dataclass(frozen=True)
class Modelfile:
    """A parsed Modelfile: every line kept as a node, in file order."""

    nodes: tuple[Node, ...]
    path: str | None = None
    newline: str = "\n"

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return tuple(n for n in self.nodes if isinstance(n, Instruction))

    @property
    def commands(self) -> list[Command]:
        """The command list Ollama's parser returns for this file."""
        return [n.command() for n in self.nodes if isinstance(n, Instruction)]

    def of(self, keyword: str) -> tuple[Instruction, ...]:
        """The instructions with one keyword (upper case), in file order."""
        return tuple(i for i in self.instructions if i.keyword == keyword)

    def last(self, keyword: str) -> Instruction | None:
        found = self.of(keyword)
        return found[-1] if found else None

    def parameters(self) -> Parameters:
        """The typed `parameters` Ollama would send (first conversion error included)."""
        return collect((i.param, i.value, i.line, i.value_column) for i in self.of("PARAMETER"))

    @property
    def header(self) -> tuple[Comment, ...]:
        """The comment lines before the first command: what the file says the model is for."""
        out: list[Comment] = []
        for node in self.nodes:
            if isinstance(node, Instruction):
                break
            if isinstance(node, Comment):
                out.append(node)
        return tuple(out)


# --------------------------------------------------------------------------- parser


def parse_file(path: str | Path) -> Modelfile:
    """Read and parse a Modelfile; unreadable files are ModelfileErrors too."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ModelfileError(f"cannot read Modelfile: {err.strerror}", path=str(path)) from None
    return parse(data, path=str(path))


def parse(source: bytes | str, *, path: str | None = None) -> Modelfile:
    """Parse Modelfile text exactly as Ollama does; ModelfileError where Ollama errors.

    `source` is bytes as read from disk (decoded like Ollama: BOM, UTF-8/16, bad bytes
    replaced) or an already decoded str.
    """
    text = decode(source) if isinstance(source, bytes) else source
    return _Parser(text, path).run()


class _Parser:
    """One pass over the lines of a file, tracking two line counters.

    `line` is the true line number (CRLF counts once) used in mfops' messages; `go_line` is
    Ollama's counter, which counts every CR and every LF, for its exact error text.
    """

    def __init__(self, text: str, path: str | None) -> None:
        self.path = path
        self.parts = _LINES.split(text)  # line, sep, line, sep, ..., line
        self.i = 0
        self.line = 1
        self.go_line = 1
        first_break = _LINES.search(text)
        self.newline = first_break.group() if first_break else "\n"

    # -- helpers -------------------------------------------------------------

    def _error(
        self, message: str, ollama: str, *, line: int, column: int | None = None, hint: str = ""
    ) -> ModelfileError:
        return ModelfileError(
            message, ollama_message=ollama, path=self.path, line=line, column=column,
            hint=hint or None,
        )  # fmt: skip

    def _sep(self) -> str:
        """The line break after the current line ('' at end of file)."""
        return self.parts[self.i + 1] if self.i + 1 < len(self.parts) else ""

    def _advance(self) -> None:
        sep = self._sep()
        self.i += 2
        self.line += 1
        self.go_line += len(sep)

    # -- states --------------------------------------------------------------

    def run(self) -> Modelfile:
        nodes: list[Node] = []
        parts = self.parts
        while self.i < len(parts):
            text = parts[self.i]
            body = text.lstrip(" \t")
            if not body:
                if text or self._sep():
                    nodes.append(Blank(self.line))
                self._advance()
            elif body[0] == "#":
                nodes.append(Comment(body.rstrip(" \t"), self.line))
                self._advance()
            else:
                nodes.append(self._instruction(text, len(text) - len(body)))
        if not any(isinstance(n, Instruction) and n.keyword == "FROM" for n in nodes):
            raise self._error(
                "no FROM line", "no FROM line", line=1,
                hint="a Modelfile must name its base: FROM <model> or FROM <path>",
            )  # fmt: skip
        return Modelfile(tuple(nodes), self.path, self.newline)

    def _instruction(self, text: str, start: int) -> Instruction:
        """stateName, then stateParameter/stateMessage, then the value."""
        line, col = self.line, start + 1
        at_eof = not self._sep()
        # The first character enters the keyword whatever it is; only printable ones count.
        first = text[start]
        end = _ALPHA.match(text, start + 1).end()
        written = (first if first.isprintable() else "") + text[start + 1 : end]
        if end == len(text):  # a newline (or the end of the file) right after the letters
            if at_eof:
                raise self._error(
                    f"'{written}' must be followed by a value", "unexpected EOF", line=line,
                    column=end + 1,
                )  # fmt: skip
            raise self._error(
                f"'{written}' must be followed by a space and a value",
                f"(line {self.go_line + 1}): {_INVALID_COMMAND}",
                line=line, column=end + 1,
            )  # fmt: skip
        keyword = written.lower() if written.isascii() else ""
        if text[end] not in " \t" or keyword not in KEYWORDS:
            bad = written + ("" if text[end] in " \t" else text[end])
            raise self._error(
                f"unknown command {bad!r}: {_INVALID_COMMAND}",
                f"(line {self.go_line}): {_INVALID_COMMAND}",
                line=line, column=col,
            )  # fmt: skip
        pos = end + 1
        param = role = ""
        if keyword in ("parameter", "message"):
            pattern = _PARAM_NAME if keyword == "parameter" else _ALPHA
            stop = pattern.match(text, pos).end()
            token = text[pos:stop]
            if stop == len(text) or text[stop] not in " \t":
                ollama = "unexpected EOF" if stop == len(text) and at_eof else f"unexpected EOF: {token}"
                kw = keyword.upper()
                if stop < len(text):
                    what = "name" if keyword == "parameter" else "role"
                    message = f"invalid character {text[stop]!r} in {kw} {what}"
                    hint = "parameter names are letters, digits and '_'" if kw == "PARAMETER" else ""
                elif token:
                    message, hint = f"{kw} {token} has no value", ""
                else:
                    message = f"{kw} needs a {'name' if kw == 'PARAMETER' else 'role'} and a value"
                    hint = ""
                raise self._error(message, ollama, line=line, column=stop + 1, hint=hint)
            if keyword == "message":
                if token not in ROLES:
                    raise self._error(
                        f"invalid message role {token!r}: {_INVALID_ROLE}",
                        f"(line {self.go_line}): {_INVALID_ROLE}", line=line, column=pos + 1,
                        hint="roles are case-sensitive" if token.lower() in ROLES else "",
                    )  # fmt: skip
                role = token
            else:
                param = token
            pos = stop + 1
        value, quote, value_col = self._value(text, pos, line)
        return Instruction(
            keyword=keyword.upper(), value=value, line=line, column=col,
            end_line=self.line - 1, value_column=value_col, written=written,
            param=param, role=role, quote=quote,
        )  # fmt: skip

    def _value(self, text: str, pos: int, line: int) -> tuple[str, str, int]:
        """stateValue: collect until a line break at which the trimmed text is complete."""
        content = _printable(text[pos:])
        body = content.lstrip(" \t")
        value_col = len(text) - len(text[pos:].lstrip(" \t")) + 1
        trimmed = body.rstrip(" \t")
        if trimmed.startswith('"""'):
            delim = '"""'
        elif trimmed.startswith('"'):
            delim = '"'
        else:
            self._advance()
            return trimmed, "", value_col
        n = len(delim)
        if len(trimmed) >= 2 * n and trimmed.endswith(delim):
            self._advance()
            return trimmed[n:-n], delim, value_col
        pieces = [body]
        parts = self.parts
        while True:
            sep = self._sep()
            if not sep:
                raise self._error(
                    f"unterminated {delim} value: no line ends with the closing {delim}",
                    "unexpected EOF", line=line, column=value_col,
                    hint="a closing quote counts only at the end of a line",
                )  # fmt: skip
            self._advance()
            pieces.append(sep)
            chunk = _printable(parts[self.i])
            pieces.append(chunk)
            tail = chunk.rstrip(" \t")
            if tail.endswith(delim):
                pieces[-1] = tail
                self._advance()
                return "".join(pieces)[n:-n], delim, value_col


# --------------------------------------------------------------------------- formatter


def _closes_early(value: str, delim: str) -> bool:
    """Would `delim + value + delim` end before its last line (or not start as intended)?"""
    if delim == '"' and (delim + value + delim).startswith('"""'):
        return True  # it would read as a `"""` block
    lines = _LINES.split(value)[0::2]
    if len(lines) == 1:
        return False
    first = (delim + lines[0]).rstrip(" \t")
    if len(first) >= 2 * len(delim) and first.endswith(delim):
        return True
    return any(chunk.rstrip(" \t").endswith(delim) for chunk in lines[1:-1])


def quote(value: str) -> str:
    """Write a value so that Ollama reads back exactly `value`.

    Bare when that is exact; otherwise one quote for a one-line value and three for several
    (the form Ollama's documentation uses for prompts), each falling back to the other when
    a line of the value would close it early. Values never need escapes: Ollama has none.
    """
    multiline = "\n" in value or "\r" in value
    if value and not multiline and value[0] not in ' \t"' and value[-1] not in " \t":
        return value
    order = ('"""', '"') if multiline else ('"', '"""')
    for delim in order:
        if not _closes_early(value, delim):
            return delim + value + delim
    raise ModelfileError(f"value cannot be written in a Modelfile: {value[:40]!r}")


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
