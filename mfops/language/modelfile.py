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
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mfops.errors import ModelfileError
from mfops.fileio.regular import read_regular
from mfops.language.goprint import is_go_printable, printable_only
from mfops.language.params import Parameters, collect

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

#: The commands the inheritance graph reads (see Modelfile.deferred).
GRAPH_KEYWORDS = frozenset({"FROM", "ADAPTER", "DRAFT"})

#: Commands whose last occurrence silently wins (ollama-reference §1.2).
SINGLE_VALUED = frozenset({"template", "system", "adapter", "renderer", "parser", "requires"})

_INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
_INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
_EXPECTED = "FROM, PARAMETER, TEMPLATE, SYSTEM, ADAPTER, LICENSE, MESSAGE, DRAFT, RENDERER, PARSER"

#: A line break as Ollama reads one; format.py splits and strips values with it too.
LINE_BREAKS = re.compile(r"(\r\n|\r|\n)")
_ALPHA = re.compile(r"[A-Za-z]*")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]*")
_WORD = re.compile(r"[^ \t]*")
_LONE_SURROGATES = re.compile("[\ud800-\udfff][\udc00-\udfff]?")

#: The common instruction line, read in one match (see `_Parser.run`): ASCII only (re.ASCII:
#: no Unicode case folding of the keyword), an ASCII letter first, one blank after the
#: keyword (and after a PARAMETER's name or a MESSAGE's role), a value that starts with
#: neither a blank nor a quote and holds no control character but tabs. Anything else, and
#: any keyword this does not know, goes through the full state machine.
_FAST_LINE = re.compile(
    r"([ \t]*)(?:((?i:parameter))[ \t]([A-Za-z0-9_]*)|((?i:message))[ \t](system|user|assistant)"
    r"|([A-Za-z]+))[ \t][ \t]*([!#-~](?:[\t -~]*[!-~])?)[ \t]*\Z",
    re.ASCII,
)
#: Keywords `_FAST_LINE`'s last branch may produce, lower case -> canonical.
_FAST_KEYWORDS = {k: k.upper() for k in KEYWORDS if k not in ("parameter", "message")}


# --------------------------------------------------------------------------- decoding


def _go_runes(err: UnicodeError) -> tuple[str, int]:
    """One U+FFFD per bad byte: how Go's bufio.ReadRune reads ill-formed UTF-8."""
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd" * (err.end - err.start), err.end


codecs.register_error("mfops-go-runes", _go_runes)


def _decode_utf16(data: bytes, codec: str) -> str:
    """UTF-16 the way golang.org/x/text decodes it.

    A surrogate followed by a trailing surrogate is consumed as a pair even when it is not a
    valid one (two trailing surrogates give one U+FFFD); any other unpaired surrogate and an
    odd last byte give one U+FFFD each.
    """
    odd = len(data) % 2
    body = data[: len(data) - odd]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        text = _LONE_SURROGATES.sub("\ufffd", body.decode(codec, "surrogatepass"))
    return text + "\ufffd" * odd


def decode(data: bytes) -> str:
    """Decode like Ollama: a BOM picks UTF-8 or UTF-16 and is dropped; bad bytes become U+FFFD.

    Ollama reads through `unicode.BOMOverride(UTF8 decoder)` and then `bufio.ReadRune`.
    Without a BOM the x/text decoder replaces each maximal ill-formed subsequence with one
    U+FFFD (Python's "replace" does the same). After a UTF-8 BOM that decoder is bypassed
    and ReadRune gives one U+FFFD per bad byte, so the counts differ between the two cases.
    """
    if data.startswith(codecs.BOM_UTF16_LE):
        return _decode_utf16(data[2:], "utf-16-le")
    if data.startswith(codecs.BOM_UTF16_BE):
        return _decode_utf16(data[2:], "utf-16-be")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "mfops-go-runes")
    return data.decode("utf-8", "replace")


# --------------------------------------------------------------------------- syntax tree

#: PARAMETER names that Ollama's create request treats as commands: its parser keeps a
#: PARAMETER's name verbatim and `CreateRequest` switches on the stored name, so
#: `PARAMETER system X` is a SYSTEM, `PARAMETER model x` a FROM (case matters: `PARAMETER
#: SYSTEM x` and `PARAMETER from x` stay unknown parameters).
PARAM_COMMANDS = {
    "model": "FROM",
    "adapter": "ADAPTER",
    "draft": "DRAFT",
    "template": "TEMPLATE",
    "system": "SYSTEM",
    "license": "LICENSE",
    "renderer": "RENDERER",
    "parser": "PARSER",
    "requires": "REQUIRES",
    "message": "MESSAGE",
}


def acting(ins: Instruction) -> Instruction:
    """The command an instruction acts as: `PARAMETER system X` acts as `SYSTEM X`, and
    `PARAMETER message user: hi` as `MESSAGE user hi` (no role check, as in Ollama, which
    cuts the value at the first `": "`). Every other instruction is itself."""
    if ins.keyword != "PARAMETER" or ins.param not in PARAM_COMMANDS:
        return ins
    keyword = PARAM_COMMANDS[ins.param]
    if keyword == "MESSAGE":
        role, _, content = ins.value.partition(": ")
        return replace(ins, keyword=keyword, param="", role=role, value=content)
    return replace(ins, keyword=keyword, param="")


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

    `keyword` is the canonical upper-case keyword and `written` the characters of the file
    that formed it (non-printable ones included, which Ollama skips). `value` is the
    command's value after Ollama's unquoting; for MESSAGE it is the text without the role.
    `quote` records the delimiter used: empty, one or three quotes. Lines and columns are
    1-based and count characters, CRLF as one line break.
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
    """A run of `count` empty or whitespace-only lines from `line` on: it separates groups
    of commands. (One node per run keeps a file of millions of blank lines cheap.)"""

    line: int
    count: int = 1


Node = Instruction | Comment | Blank


@dataclass(frozen=True)
class Modelfile:
    """A parsed Modelfile: every command, comment and run of blank lines as a node, in order.

    `newline` is the line break after the file's first line (after its first command when
    that one's value spans lines): LF, CRLF or CR, the one the formatter writes. Breaks
    inside quoted values are part of the values.
    """

    nodes: tuple[Node, ...]
    path: str | None = None
    newline: str = "\n"

    @classmethod
    def deferred(
        cls,
        load: Callable[[], tuple[Node, ...]],
        *,
        path: str | None,
        newline: str,
        graph: dict[str, tuple[Instruction, ...]],
    ) -> Modelfile:
        """A Modelfile whose nodes come from `load()` when first used (the parse cache's).

        `graph` holds its instructions of the GRAPH_KEYWORDS, which `of` answers without
        the nodes: building the graph of 10,000 cached models then decodes none of them.
        """
        mf = object.__new__(cls)
        mf.__dict__.update(path=path, newline=newline, _load=load, _graph=graph)
        return mf

    @classmethod
    def lazy(cls, resolve: Callable[[], Modelfile], *, path: str | None, newline: str) -> Modelfile:
        """A Modelfile that is only looked up (`resolve()`, a parse or a deferred one of the
        same bytes) when anything but its path and newline is first used: a stored graph of
        10,000 models then does not even look its Modelfiles up."""
        mf = object.__new__(cls)
        mf.__dict__.update(path=path, newline=newline, _resolve=resolve)
        return mf

    def _resolved(self) -> None:
        resolve = self.__dict__.pop("_resolve", None)
        if resolve is not None:
            real = resolve()
            for key, value in real.__dict__.items():
                if key not in ("path", "newline"):
                    self.__dict__[key] = value
            if "nodes" not in self.__dict__ and "_load" not in self.__dict__:
                self.__dict__["nodes"] = real.nodes

    def __getattr__(self, name: str) -> Any:
        # Only reached for a deferred Modelfile's `nodes` before their first use (or for
        # anything a lazy one has not looked up yet).
        if "_resolve" in self.__dict__ and not name.startswith("__"):
            self._resolved()
            return getattr(self, name)
        load = self.__dict__.get("_load")
        if name == "nodes" and load is not None:
            nodes = self.__dict__["nodes"] = load()
            return nodes
        raise AttributeError(name)

    # Both views are cached in the instance dict by hand: functools.cached_property takes a
    # lock on every access in Python 3.11, a third of the graph's time on 10,000 models.
    @property
    def instructions(self) -> tuple[Instruction, ...]:
        found = self.__dict__.get("_instructions")
        if found is None:
            found = self.__dict__["_instructions"] = tuple(
                [n for n in self.nodes if type(n) is Instruction]
            )
        return found

    @property
    def commands(self) -> list[Command]:
        """The command list Ollama's parser returns for this file."""
        return [n.command() for n in self.instructions]

    @property
    def _by_keyword(self) -> dict[str, tuple[Instruction, ...]]:
        found = self.__dict__.get("_index")
        if found is not None:
            return found  # type: ignore[no-any-return]
        index: dict[str, list[Instruction]] = {}
        for ins in self.instructions:
            if ins.keyword == "PARAMETER" and ins.param in PARAM_COMMANDS:
                ins = acting(ins)  # (only these act as another command)
            same = index.get(ins.keyword)
            if same is None:
                index[ins.keyword] = [ins]
            else:
                same.append(ins)
        found = self.__dict__["_index"] = {k: tuple(v) for k, v in index.items()}
        return found

    def of(self, keyword: str) -> tuple[Instruction, ...]:
        """The instructions acting as one keyword (upper case), in file order: a `PARAMETER
        system X` is among the SYSTEMs, not the PARAMETERs (see `acting`)."""
        index = self.__dict__.get("_index")
        if index is not None:  # the index of the nodes, once built (a digest asks ~13 times)
            return index.get(keyword, ())  # type: ignore[no-any-return]
        if "_resolve" in self.__dict__:
            self._resolved()
        graph = self.__dict__.get("_graph")
        if graph is not None and keyword in GRAPH_KEYWORDS and "nodes" not in self.__dict__:
            return graph.get(keyword, ())  # type: ignore[no-any-return]
        return self._by_keyword.get(keyword, ())

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
        data = read_regular(path)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ModelfileError(f"cannot read Modelfile: {reason}", path=str(path)) from None
    return parse(data, path=str(path))


def parse(source: bytes | str, *, path: str | None = None, fast: bool = True) -> Modelfile:
    """Parse Modelfile text exactly as Ollama does; ModelfileError where Ollama errors.

    `source` is bytes as read from disk (decoded like Ollama: BOM, UTF-8/16, bad bytes
    replaced) or an already decoded str. Nothing but ModelfileError escapes, whatever the
    input. `fast=False` reads every instruction with the full state machine, never the
    one-match path for common lines: the reference that path is tested against (the
    result is the same either way).
    """
    text = decode(source) if isinstance(source, bytes) else source
    return _Parser(text, path, fast=fast).run()


def shown(text: str, limit: int = 40) -> str:
    """A piece of the file for an error message: short, quoted, invisible characters escaped."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


class _Parser:
    """One pass over the lines of a file.

    `parts` alternates lines and their line breaks, so the line at index `i` is line
    `i // 2 + 1` (CRLF counts once): the number mfops reports. Ollama's own counter goes up
    at every CR and every LF; `_go_line` recomputes it for the exact Ollama error text, which
    is only needed when there is an error.
    """

    def __init__(self, text: str, path: str | None, *, fast: bool = True) -> None:
        self.path = path
        self.parts = LINE_BREAKS.split(text)  # line, break, line, break, ..., line
        self.i = 0  # index in `parts` of the line being read
        self.fast = fast

    def _error(
        self, message: str, ollama: str, *, line: int, column: int | None = None, hint: str = ""
    ) -> ModelfileError:
        return ModelfileError(
            message,
            ollama_message=ollama,
            path=self.path,
            line=line,
            column=column,
            hint=hint or None,
        )

    def _go_line(self, i: int) -> int:
        """Ollama's line counter while it reads the line at index `i`."""
        return 1 + sum(map(len, self.parts[1:i:2]))

    def run(self) -> Modelfile:
        """Every node, in order.

        Most instruction lines are one keyword, a blank and a plain value on one line: those
        are read with one match of `_FAST_LINE` instead of the general path's checks (on
        the 10,000 generated benchmark Modelfiles: 0.145 -> 0.115 s). What that match
        accepts is exactly what the state machine would read from the line without an
        error; every other line, and every keyword the match does not place, takes the
        general path (a property test compares both).
        """
        nodes: list[Node] = []
        append = nodes.append
        parts = self.parts
        count = len(parts)
        fast = _FAST_LINE.match if self.fast else None
        plain = _FAST_KEYWORDS
        has_from = False
        i = 0
        while i < count:
            text = parts[i]
            body = text.lstrip(" \t")
            if not body:
                j = i + 2  # the run of blank lines (a last empty "line" is no line at all)
                while j < count and not parts[j].lstrip(" \t") and (parts[j] or j + 1 < count):
                    j += 2
                if text or i + 1 < count:
                    append(Blank(i // 2 + 1, (j - i) // 2))
                i = j
            elif body[0] == "#":
                append(Comment(body.rstrip(" \t"), i // 2 + 1))
                i += 2
            else:
                m = fast(text) if fast is not None else None
                if m is not None:
                    indent, pkw, name, mkw, role, kw, value = m.groups()
                    line = i // 2 + 1
                    column = len(indent) + 1
                    if pkw is not None:
                        ins = Instruction(
                            "PARAMETER", value, line, column, line, m.start(7) + 1, pkw, name
                        )
                    elif mkw is not None:
                        ins = Instruction(
                            "MESSAGE", value, line, column, line, m.start(7) + 1, mkw, "", role
                        )
                    else:
                        keyword = plain.get(kw.lower())
                        if keyword is not None:
                            ins = Instruction(
                                keyword, value, line, column, line, m.start(7) + 1, kw
                            )
                        else:
                            m = None
                    if m is not None:
                        append(ins)
                        # a FROM, or a PARAMETER model that acts as one (see `acting`)
                        has_from = has_from or ins.keyword == "FROM" or ins.param == "model"
                        i += 2
                        continue
                self.i = i
                ins = self._instruction(text, len(text) - len(body))
                append(ins)
                has_from = has_from or acting(ins).keyword == "FROM"
                i = self.i
        if not has_from:
            raise self._error(
                "no FROM line",
                "no FROM line",
                line=1,
                hint="a Modelfile must name its base: FROM <model> or FROM <path>",
            )
        newline = "\n"
        if nodes:  # the break that ends the first node (not one inside a value)
            first = nodes[0]
            end = 2 * ((first.end_line if isinstance(first, Instruction) else first.line) - 1)
            if end + 1 < count:
                newline = parts[end + 1]
        return Modelfile(tuple(nodes), self.path, newline)

    def _instruction(self, text: str, start: int) -> Instruction:
        """stateName, then stateParameter/stateMessage, then the value."""
        i = self.i
        line, col = i // 2 + 1, start + 1
        at_eof = i + 1 >= len(self.parts)
        # Any first character enters the keyword (Ollama stores it only if printable); the
        # rest of the keyword is ASCII letters.
        end = _ALPHA.match(text, start + 1).end()  # type: ignore[union-attr]
        written = text[start:end]
        letters = written if is_go_printable(written[0]) else written[1:]
        keyword = letters.lower() if letters.isascii() else ""
        expected = f"expected {_EXPECTED} or REQUIRES"
        if end == len(text):  # a line break (or the end of the file) right after the letters
            ollama = "unexpected EOF"
            if not at_eof:
                ollama = f"(line {self._go_line(i) + 1}): {_INVALID_COMMAND}"
            if keyword in KEYWORDS:
                raise self._error(
                    f"{shown(written)} must be followed by a space and a value",
                    ollama,
                    line=line,
                    column=end + 1,
                )
            raise self._error(
                f"unknown command {shown(written)}", ollama, line=line, column=col, hint=expected
            )
        if text[end] not in " \t":
            ollama = f"(line {self._go_line(i)}): {_INVALID_COMMAND}"
            if keyword in KEYWORDS:
                raise self._error(
                    f"{shown(written)} must be followed by a space, not {text[end]!r}",
                    ollama,
                    line=line,
                    column=end + 1,
                )
            word = _WORD.match(text, start).group()  # type: ignore[union-attr]
            raise self._error(
                f"unknown command {shown(word)}", ollama, line=line, column=col, hint=expected
            )
        if keyword not in KEYWORDS:
            raise self._error(
                f"unknown command {shown(written)}",
                f"(line {self._go_line(i)}): {_INVALID_COMMAND}",
                line=line,
                column=col,
                hint=expected,
            )
        pos = end + 1
        param = role = ""
        if keyword in ("parameter", "message"):
            pattern = _PARAM_NAME if keyword == "parameter" else _ALPHA
            stop = pattern.match(text, pos).end()  # type: ignore[union-attr]
            token = text[pos:stop]
            kw = keyword.upper()
            what = "name" if keyword == "parameter" else "role"
            if stop == len(text) or text[stop] not in " \t":
                ollama = f"unexpected EOF: {token}"
                if stop == len(text) and at_eof:
                    ollama = "unexpected EOF"
                hint = ""
                if stop < len(text):
                    message = f"invalid character {text[stop]!r} in {kw} {what}"
                    if kw == "PARAMETER":
                        hint = "parameter names are letters, digits and '_'"
                    else:
                        hint = "roles are system, user and assistant"
                elif token:
                    message = f"{kw} {token} has no value"
                else:
                    message = f"{kw} needs a {what} and a value"
                raise self._error(message, ollama, line=line, column=stop + 1, hint=hint)
            if keyword == "message":
                if token not in ROLES:
                    raise self._error(
                        f"invalid message role {token!r}: {_INVALID_ROLE}",
                        f"(line {self._go_line(i)}): {_INVALID_ROLE}",
                        line=line,
                        column=pos + 1,
                        hint="roles are case-sensitive" if token.lower() in ROLES else "",
                    )
                role = token
            else:
                param = token
            pos = stop + 1
        value, quote, value_col = self._value(text, pos, line)
        return Instruction(
            keyword=keyword.upper(),
            value=value,
            line=line,
            column=col,
            end_line=(self.i - 2) // 2 + 1,
            value_column=value_col,
            written=written,
            param=param,
            role=role,
            quote=quote,
        )

    def _value(self, text: str, pos: int, line: int) -> tuple[str, str, int]:
        """stateValue: collect until a line break at which the trimmed text is complete.

        Ollama trims the whole collected text (`strings.TrimSpace`) at every line break and
        checks only its first and last characters, so once a value opens with a quote, only
        the end of the latest line can close it; whitespace-only lines never do. Leaves
        `self.i` at the line after the value.
        """
        raw = text[pos:]
        body = printable_only(raw).lstrip(" \t")
        value_col = len(text) - len(raw.lstrip(" \t")) + 1
        trimmed = body.rstrip(" \t")
        i = self.i
        if trimmed.startswith('"""'):
            delim = '"""'
        elif trimmed.startswith('"'):
            delim = '"'
        else:
            self.i = i + 2
            return trimmed, "", value_col
        n = len(delim)
        if len(trimmed) >= 2 * n and trimmed.endswith(delim):
            self.i = i + 2
            return trimmed[n:-n], delim, value_col
        pieces = [body]
        parts = self.parts
        count = len(parts)
        while i + 1 < count:
            pieces.append(parts[i + 1])
            i += 2
            chunk = parts[i]
            if not (chunk.isascii() and chunk.isprintable()):
                chunk = printable_only(chunk)
            tail = chunk.rstrip(" \t")
            if tail.endswith(delim):
                pieces.append(tail)
                self.i = i + 2
                return "".join(pieces)[n:-n], delim, value_col
            pieces.append(chunk)
        raise self._error(
            f"the value opened with {delim} is never closed: no line after it ends with {delim}",
            "unexpected EOF",
            line=line,
            column=value_col,
            hint="a closing quote counts only at the end of a line",
        )
