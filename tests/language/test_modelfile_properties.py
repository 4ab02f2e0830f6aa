"""Property tests for the Modelfile core: mfops against a rune-by-rune model of Ollama's
parser, formatter round trips, and "nothing but ModelfileError, whatever the input".

`go_parse` below is a direct transcription of the state machine in Ollama's
`parser.ParseFile` (one character at a time, Go's TrimSpace and unquote at every line
break), written for these tests only. mfops' parser works line by line for speed; the
differential test checks the two agree on the command list or on Ollama's exact error
text, for generated inputs built to hit the quirks (quotes, blanks, CR/LF, non-printables).
Decoding and the IsPrint table are shared; test_modelfile_grammar.py checks those by hand.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mfops.errors import ModelfileError
from mfops.language.format import canonical_commands, format_modelfile, format_text, quote
from mfops.language.modelfile import KEYWORDS, ROLES, decode, is_go_printable, parse

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- the Go model

_INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
_INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
# unicode.IsSpace: what strings.TrimSpace removes.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


class GoError(Exception):
    """Ollama's error, with its exact text."""


def _unquote(s: str) -> tuple[str, bool]:
    if s[:3] == '"""':
        if len(s) >= 6 and s[-3:] == '"""':
            return s[3:-3], True
        return "", False
    if s[:1] == '"':
        if len(s) >= 2 and s[-1] == '"':
            return s[1:-1], True
        return "", False
    return s, True


def _ascii_alpha(r: str) -> bool:
    return "a" <= r <= "z" or "A" <= r <= "Z"


def go_parse(text: str) -> list[tuple[str, str]]:
    """Ollama's ParseFile over decoded text: the command list, or GoError."""
    NIL, NAME, VALUE, PARAM, MSG, COMMENT = range(6)
    cur, line, buf, role, name = NIL, 1, [], "", ""
    commands: list[tuple[str, str]] = []
    for r in text:
        if r in "\r\n":
            line += 1
        out: str | None = None
        if cur == NIL:
            nxt = COMMENT if r == "#" else NIL if r in " \t\r\n" else NAME
            out = r if nxt == NAME else None
        elif cur == NAME:
            if _ascii_alpha(r):
                nxt, out = NAME, r
            elif r in " \t":
                nxt = VALUE
            else:
                raise GoError(f"(line {line}): {_INVALID_COMMAND}")
        elif cur == VALUE:
            nxt, out = (NIL if r in " \t\r\n" else VALUE), r
        elif cur in (PARAM, MSG):
            ok = _ascii_alpha(r) or (cur == PARAM and ("0" <= r <= "9" or r == "_"))
            if ok:
                nxt, out = cur, r
            elif r in " \t":
                nxt = VALUE
            else:
                raise GoError("unexpected EOF: " + "".join(buf))
        else:  # COMMENT
            nxt = NIL if r in "\r\n" else COMMENT
        if nxt != cur:
            if cur == NAME:
                word = "".join(buf).lower()
                if word not in KEYWORDS:
                    raise GoError(f"(line {line}): {_INVALID_COMMAND}")
                if word == "from":
                    name = "model"
                elif word == "parameter":
                    nxt = PARAM
                else:
                    name = word
                    if word == "message":
                        nxt = MSG
            elif cur == PARAM:
                name = "".join(buf)
            elif cur == MSG:
                if "".join(buf) not in ROLES:
                    raise GoError(f"(line {line}): {_INVALID_ROLE}")
                role = "".join(buf)
            elif cur == VALUE:
                value, ok = _unquote("".join(buf).strip(_GO_SPACE))
                if not ok or r in " \t":
                    buf.append(r)
                    continue
                if role:
                    value, role = f"{role}: {value}", ""
                commands.append((name, value))
            buf, cur = [], nxt
        if out is not None and is_go_printable(out):
            buf.append(out)
    if cur == VALUE:
        value, ok = _unquote("".join(buf).strip(_GO_SPACE))
        if not ok:
            raise GoError("unexpected EOF")
        commands.append((name, f"{role}: {value}" if role else value))
    elif cur not in (NIL, COMMENT):
        raise GoError("unexpected EOF")
    if not any(n == "model" for n, _ in commands):
        raise GoError("no FROM line")
    return commands


def mfops_outcome(text: str) -> tuple[str, object]:
    try:
        mf = parse(text)
    except ModelfileError as err:
        return "error", err.ollama_message
    return "ok", [(c.name, c.args) for c in mf.commands]


def go_outcome(text: str) -> tuple[str, object]:
    try:
        return "ok", go_parse(text)
    except GoError as err:
        return "error", str(err)


# --------------------------------------------------------------------------- generators

_KEYWORD_SPELLINGS = [*KEYWORDS, "FROM", "From", "SYSTEM", "Parameter", "MESSAGE", "fr0m", "x"]
_TOKENS = [
    '"',
    '"""',
    '""',
    " ",
    "  ",
    "\t",
    "#",
    "a",
    "b c",
    ":",
    ": ",
    "FROM",
    "user",
    "system",
    "\x00",
    "\x0b",
    "\u200b",
    "\xa0",
    "\u2028",
    "\ufeff",
    "é",
    "🫨",
    "\ufffd",
    "\\",
    "\\n",
    "<|im_end|>",
    "{{ .Prompt }}",
    "1",
    "0.5",
    "temperature",
    "num-ctx",
]
_BREAKS = ["\n", "\r\n", "\r"]

hostile_text = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=3)), max_size=8).map(
    "".join
)


@st.composite
def instruction_line(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["", "", " ", "\t", "\x00"]))
    keyword = draw(st.sampled_from(_KEYWORD_SPELLINGS))
    sep = draw(st.sampled_from([" ", " ", "\t", "  ", "", '"']))
    middle = ""
    if keyword.lower() == "parameter":
        middle = draw(st.sampled_from(["temperature", "stop", "num_ctx", "", "Temperature"]))
        middle += draw(st.sampled_from([" ", " ", "\t", "", "-x "]))
    elif keyword.lower() == "message":
        middle = draw(st.sampled_from(["user", "assistant", "system", "User", "tool", ""]))
        middle += draw(st.sampled_from([" ", " ", "\t", ""]))
    opener = draw(st.sampled_from(["", "", '"', '"""', ' "', '""""']))
    value = draw(hostile_text)
    closer = draw(st.sampled_from(["", "", '"', '"""', '" x', "  "]))
    return f"{indent}{keyword}{sep}{middle}{opener}{value}{closer}"


any_line = st.one_of(
    instruction_line(),
    st.sampled_from(["", "   ", "# a comment", "  # indented", "#", '"""', '"', 'x"', "FROM m"]),
    hostile_text,
)


@st.composite
def modelfile_text(draw: st.DrawFn) -> str:
    lines = draw(st.lists(any_line, max_size=8))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "FROM base")
    breaks = draw(st.lists(st.sampled_from(_BREAKS), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + brk for line, brk in zip(lines, breaks, strict=True))
    return text if draw(st.booleans()) else text.rstrip("\r\n")


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(modelfile_text())
@example('FROM x\nSYSTEM "foo" bar\nPARAMETER x "y"\n')
@example('FROM x\nSYSTEM """\nHe said """hi"""\nmore\n"""\n')
@example("FROM x\r\nSYSTEM\r\n")
@example("FROM x\nPARAMETER  temperature 0.5\n")
@example('FROM x\nSYSTEM "\n\n  \nx"')
def test_mfops_decides_like_ollamas_state_machine(text: str) -> None:
    assert mfops_outcome(text) == go_outcome(text)


@SETTINGS
@given(st.text(max_size=60))
def test_mfops_decides_like_ollama_on_arbitrary_text(text: str) -> None:
    assert mfops_outcome(text) == go_outcome(text)


@SETTINGS
@given(st.binary(max_size=200))
@example(b"\xef\xbb\xbfFROM \xe2\x82x")
@example(b"\xff\xfeF\x00R\x00O\x00M\x00 \x00\x00\xdc\x00\xdc")
def test_arbitrary_bytes_raise_nothing_but_modelfile_error(data: bytes) -> None:
    try:
        mf = parse(data)
    except ModelfileError:
        return
    format_modelfile(mf)
    mf.parameters()
    assert mfops_outcome(decode(data)) == go_outcome(decode(data))


@SETTINGS
@given(st.text(max_size=120))
def test_arbitrary_text_raises_nothing_but_modelfile_error(text: str) -> None:
    try:
        format_text(text)
        parse("FROM x\n" + text).parameters()
    except ModelfileError:
        pass


def _check_round_trip(text: str) -> None:
    try:
        mf = parse(text)
    except ModelfileError:
        return
    formatted = format_modelfile(mf)
    again = parse(formatted)
    assert again.commands == canonical_commands(mf.commands)
    assert format_modelfile(again) == formatted
    header = [c.text for c in mf.header]  # stays on top (comments of a moved FROM join it)
    assert [c.text for c in again.header][: len(header)] == header


@SETTINGS
@given(modelfile_text())
@example('SYSTEM x\nFROM "a\r\nb"\n')
@example('FROM x\nSYSTEM """\na"""\n')
@example('FROM x\nSYSTEM """"a\nb"""\n')
def test_format_keeps_commands_and_is_idempotent(text: str) -> None:
    _check_round_trip(text)


@st.composite
def valid_modelfile(draw: st.DrawFn) -> str:
    """Modelfiles that parse, with values built to need every quoting form."""
    value = st.lists(st.sampled_from(_TOKENS + _BREAKS), max_size=8).map("".join)
    lines: list[str] = [draw(st.sampled_from(["# header", "", "#"]))]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["SYSTEM", "TEMPLATE", "PARAMETER", "MESSAGE", "LICENSE", "#"]))
        if kind == "#":
            lines.append(draw(st.sampled_from(["# note", "", "   "])))
            continue
        head = {"PARAMETER": "PARAMETER stop", "MESSAGE": "MESSAGE user"}.get(kind, kind)
        try:
            lines.append(f"{head} {quote(draw(value))}")
        except ModelfileError:
            continue
    lines.insert(draw(st.integers(0, len(lines))), "FROM base")
    return draw(st.sampled_from(_BREAKS)).join(lines)


@SETTINGS
@given(valid_modelfile())
def test_generated_valid_modelfiles_round_trip(text: str) -> None:
    parse(text)  # the generator only writes what quote() promises is readable
    _check_round_trip(text)


@SETTINGS
@given(st.lists(st.sampled_from(_TOKENS + _BREAKS), max_size=10).map("".join))
def test_quote_reads_back_exactly_or_refuses(value: str) -> None:
    try:
        written = quote(value)
    except ModelfileError:
        # Refused only when no form can hold it: a character Ollama drops, or a line other
        # than the last that ends in three quotes (it would close either form early).
        dropped = any(not is_go_printable(ch) for ch in value if ch not in "\r\n\t")
        lines = re.split(r"\r\n|\r|\n", value)
        assert dropped or any(line.rstrip(" \t").endswith('"""') for line in lines[:-1])
        return
    assert parse(f"FROM x\nSYSTEM {written}\n").last("SYSTEM").value == value


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_the_go_model_agrees_with_the_reference_examples(size: int) -> None:
    """Sanity check of the model itself against ollama-reference §1.10 (so a bug in it
    cannot hide a bug in mfops)."""
    cases = [
        ("FROM llama3.2 # base\n", ("ok", [("model", "llama3.2 # base")])),
        ('FROM x\nSYSTEM "one\ntwo"\n', ("ok", [("model", "x"), ("system", "one\ntwo")])),
        ("FROM x\nSYSTEM\n", ("error", f"(line 3): {_INVALID_COMMAND}")),
        ("FROM x\nMESSAGE system\n", ("error", "unexpected EOF: system")),
    ]
    text, expected = cases[size]
    assert go_outcome(text) == expected
