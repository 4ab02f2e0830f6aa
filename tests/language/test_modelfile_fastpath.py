"""The parser's one-match path for common lines gives exactly what the state machine gives.

`parse` reads most instruction lines with one regular expression (modelfile.py, `_Parser.run`)
and every other line with the full line-by-line state machine; `parse(..., fast=False)` uses
the state machine alone. Both must agree on everything: every node with its positions, the
newline, or the error with its wording, Ollama's text, line, column and hint. The inputs are
built around the edges of the fast path (keyword spellings and look-alikes, blanks and tabs,
quotes, PARAMETER names and MESSAGE roles that are almost valid, control and non-ASCII
characters, Unicode letters that fold to ASCII ones), plus free text and bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mfops.errors import ModelfileError
from mfops.language import modelfile
from mfops.language.modelfile import KEYWORDS, Instruction, parse

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(source: str | bytes, *, fast: bool) -> tuple[object, ...]:
    try:
        mf = parse(source, path="m/Modelfile", fast=fast)
    except ModelfileError as err:
        return ("error", err.message, err.ollama_message, err.path, err.line, err.column, err.hint)
    return ("ok", mf.nodes, mf.newline, mf.path)


def assert_same(source: str | bytes) -> None:
    assert outcome(source, fast=True) == outcome(source, fast=False)


_KEYWORDS = [
    *KEYWORDS,
    *(k.upper() for k in KEYWORDS),
    *(k.title() for k in KEYWORDS),
    "fRoM",
    "FROMX",
    "fr0m",
    "x",
    "_from",
    "1FROM",
    "\u017fystem",  # LATIN SMALL LETTER LONG S: folds to "s" under Unicode rules
    "parameterx",
    "me\u017f\u017fage",
    "\u212a",  # KELVIN SIGN: folds to "k"
    "\x00FROM",
    "\u200bFROM",
    "é",
]
_BLANKS = ["", " ", "  ", "\t", " \t", "\x0b", "\xa0", "\u3000"]
_NAMES = [
    "temperature",
    "num_ctx",
    "stop",
    "",
    "Temperature",
    "n-x",
    "top_k1",
    "stop\u017f",
    "model",  # the names that act as commands (the only FROM can be a PARAMETER model)
    "Model",
    "system",
    "adapter",
    "message",
    "draft",
]
_ROLES = ["user", "assistant", "system", "User", "tool", "", "userx", "us\u0435r"]
_VALUES = [
    "x",
    "llama3.2:3b",
    "0.5",
    "<|eot_id|>",
    "a b  c",
    "a\tb",
    '"',
    '"x"',
    '"""',
    '"""x"""',
    '""""',
    'x"',
    "#",
    "# not a comment",
    "é",
    "\x00",
    "\x7f",
    "\u200b",
    "\ufffd",
    "~",
    "!",
    "./m.gguf",
    "{{ .Prompt }}",
    "",
]


@st.composite
def line(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(_BLANKS[:5]))
    keyword = draw(st.sampled_from(_KEYWORDS))
    sep = draw(st.sampled_from(_BLANKS))
    middle = ""
    if keyword.lower().startswith("parameter"):
        middle = draw(st.sampled_from(_NAMES)) + draw(st.sampled_from(_BLANKS))
    elif keyword.lower().startswith("message"):
        middle = draw(st.sampled_from(_ROLES)) + draw(st.sampled_from(_BLANKS))
    value = "".join(draw(st.lists(st.sampled_from(_VALUES), max_size=3)))
    trail = draw(st.sampled_from(_BLANKS))
    return f"{indent}{keyword}{sep}{middle}{value}{trail}"


any_line = st.one_of(
    line(),
    st.sampled_from(["", "  ", "\t", "# c", "  # c", "FROM base", '"""', "x", '"', *_VALUES]),
    st.text(max_size=12),
)


@st.composite
def text(draw: st.DrawFn) -> str:
    lines = draw(st.lists(any_line, max_size=10))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "FROM base")
    breaks = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(lines)))
    joined = "".join(ln + brk for ln, brk in zip(lines, breaks, strict=False))
    return joined if draw(st.booleans()) else joined.rstrip("\r\n")


@SETTINGS
@given(text())
@example("FROM x\nPARAMETER  temperature 0.5\n")
@example("PARAMETER model x\n")
@example("PARAMETER model x\nPARAMETER message user: hi\n")
@example("FROM x\nMESSAGE  user hi\n")
@example("FROM x\nPARAMETER n-x 1\n")
@example("FROM x\nMESSAGE userx hi\n")
@example("FROM x\n\u017fystem y\n")
@example("FROM x\nme\u017f\u017fage user y\n")
@example("FROM x\nSYSTEM a\tb\t\n")
@example("FROM x \t\nSYSTEM \t a\x7f\n")
@example("FROM\tx\r\nPARAMETER\tstop\t<|eot_id|>\r\n")
@example('  From x\nLicense """\nMIT\n"""\n')
def test_the_fast_path_reads_like_the_state_machine(source: str) -> None:
    assert_same(source)


@SETTINGS
@given(st.text(max_size=80))
def test_the_fast_path_agrees_on_arbitrary_text(source: str) -> None:
    assert_same("FROM x\n" + source)
    assert_same(source)


@SETTINGS
@given(st.binary(max_size=120))
def test_the_fast_path_agrees_on_arbitrary_bytes(data: bytes) -> None:
    assert_same(data)
    assert_same(b"FROM x\n" + data)


@pytest.mark.parametrize(
    "source",
    [
        "# header\n\nFROM llama3.2:3b\n\nPARAMETER temperature 0.5\nPARAMETER stop <|eot_id|>\n"
        'SYSTEM """\nBe brief.\n"""\nMESSAGE user Hello\nMESSAGE assistant Hi! How can I help?\n',
        "FROM ./weights.gguf\nADAPTER ./lora.gguf\nDRAFT small\nRENDERER r\nPARSER p\n",
    ],
)
def test_the_fast_path_agrees_on_realistic_files(source: str) -> None:
    assert_same(source)
    assert_same(source.replace("\n", "\r\n"))


def test_common_lines_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is not vacuous: plain lines never reach the state machine."""

    def refuse(*args: object) -> Instruction:
        raise AssertionError("the state machine read a plain line")

    monkeypatch.setattr(modelfile._Parser, "_instruction", refuse)
    mf = parse("FROM m\nPARAMETER temperature 0.5\nMESSAGE user hi there\nSYSTEM be brief\n")
    assert [(i.keyword, i.param, i.role, i.value) for i in mf.instructions] == [
        ("FROM", "", "", "m"),
        ("PARAMETER", "temperature", "", "0.5"),
        ("MESSAGE", "", "user", "hi there"),
        ("SYSTEM", "", "", "be brief"),
    ]
    with pytest.raises(AssertionError):
        parse('FROM m\nSYSTEM "quoted"\n')
