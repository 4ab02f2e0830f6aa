"""The Modelfile grammar (ollama-reference.md §1): snapshot cases and targeted rules.

Each `tests/data/modelfiles/<case>.Modelfile` sits beside `<case>.json`, which holds what
Ollama does with those exact bytes, worked out by hand from the reference and parser.go:
either the command list (plus, for some, the converted parameters) or Ollama's error text
and the true line of the problem.
"""

from __future__ import annotations

import codecs
import difflib
import json
from pathlib import Path

import pytest

from mfops.errors import ModelfileError
from mfops.language.modelfile import (
    Blank,
    Comment,
    Instruction,
    decode,
    is_go_printable,
    parse,
    parse_file,
)

CASES = Path(__file__).resolve().parents[1] / "data" / "modelfiles"
INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'


def _outcome(path: Path, expected: dict[str, object]) -> dict[str, object]:
    """What mfops makes of the file, in the shape of the expected JSON."""
    got: dict[str, object] = {"about": expected["about"]}
    try:
        mf = parse_file(path)
    except ModelfileError as err:
        got.update(error=err.ollama_message, line=err.line)
        return got
    got["commands"] = [{"name": c.name, "args": c.args} for c in mf.commands]
    if "params" in expected:
        params = mf.parameters()
        got["params"] = params.values
        got["deprecated"] = list(params.deprecated)
        got["param_error"] = params.error.message if params.error else None
    return got


def test_snapshot_folder_is_complete() -> None:
    modelfiles = {p.stem for p in CASES.glob("*.Modelfile")}
    expectations = {p.stem for p in CASES.glob("*.json")}
    assert modelfiles == expectations
    assert len(modelfiles) >= 50


@pytest.mark.parametrize("case", sorted(p.stem for p in CASES.glob("*.Modelfile")))
def test_snapshot(case: str) -> None:
    expected = json.loads((CASES / f"{case}.json").read_text())
    got = _outcome(CASES / f"{case}.Modelfile", expected)
    if got != expected:
        want = json.dumps(expected, indent=2, ensure_ascii=True).splitlines()
        have = json.dumps(got, indent=2, ensure_ascii=True).splitlines()
        diff = "\n".join(difflib.unified_diff(want, have, "expected", "mfops", lineterm=""))
        pytest.fail(f"{case}: {expected['about']}\n{diff}", pytrace=False)


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"a\xe2\x82b", "a\ufffdb"),  # truncated sequence: one replacement
        (b"\xef\xbb\xbfa\xe2\x82b", "a\ufffd\ufffdb"),  # after a BOM: one per byte
        (b"\xed\xa0\x80", "\ufffd" * 3),  # an encoded surrogate is three bad bytes
        (b"\xc0\x80x", "\ufffd\ufffdx"),  # overlong
        (b"\xef\xbb", "\ufffd"),  # half a BOM is just bad UTF-8
        (b"\xef\xbb\xbf\xef\xbb\xbfx", "\ufeffx"),  # only the first BOM is removed
        (codecs.BOM_UTF16_LE + "hé".encode("utf-16-le"), "hé"),
        (codecs.BOM_UTF16_BE + "h\U0001f600".encode("utf-16-be"), "h\U0001f600"),
        (codecs.BOM_UTF16_LE + b"\x00\xdc\x00\xdc", "\ufffd"),  # two trailing: one bad pair
        (codecs.BOM_UTF16_LE + b"\x00\xd8\x00\xd8\x00\xdc", "\ufffd\U00010000"),
        (codecs.BOM_UTF16_LE + b"\x00\xdcA\x00", "\ufffdA"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "\ufffd"),  # a surrogate at the very end
        (codecs.BOM_UTF16_LE + b"A\x00\x00\xd8B", "A\ufffd\ufffd"),  # ... then an odd byte
        (codecs.BOM_UTF16_BE, ""),
    ],
)
def test_decode_like_go(data: bytes, text: str) -> None:
    assert decode(data) == text


def test_a_str_source_is_not_decoded_again() -> None:
    assert parse("FROM x\nSYSTEM h\u00e9\n").last("SYSTEM").value == "h\u00e9"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- Go's IsPrint


@pytest.mark.parametrize(
    ("char", "printable"),
    [
        ("a", True),
        (" ", True),
        ("\t", False),
        ("\x00", False),
        ("\x7f", False),
        ("\u00a0", False),
        ("\u00ad", False),
        ("\u200b", False),
        ("\u200d", False),
        ("\u2028", False),
        ("\ufeff", False),
        ("\ufffd", True),
        ("\ufffe", False),
        ("\U0001f600", True),
        ("\U0001fae8", True),
        ("\u0cf3", True),
        ("\U000e0001", False),
        ("\U0010fffd", False),
        ("\ud800", False),
        ("漢", True),
    ],
)
def test_go_printable(char: str, printable: bool) -> None:
    assert is_go_printable(char) is printable


def test_go_printable_table_agrees_with_python_wherever_both_know_the_character() -> None:
    """The Unicode 15.0 table equals `isprintable` for every code point Python's database
    has assigned (all of them on Python 3.12, whose database is 15.0.0)."""
    import unicodedata

    version = tuple(map(int, unicodedata.unidata_version.split(".")))
    differ = [
        cp
        for cp in range(0x110000)
        if cp != 9
        and (version <= (15, 0, 0) or unicodedata.category(chr(cp)) != "Cn")
        and is_go_printable(chr(cp)) != chr(cp).isprintable()
        and not (version < (15, 0, 0) and unicodedata.category(chr(cp)) == "Cn")
    ]
    assert differ == []


# --------------------------------------------------------------------------- line numbers


def _error(text: str | bytes) -> ModelfileError:
    with pytest.raises(ModelfileError) as info:
        parse(text, path="Modelfile")
    return info.value


def test_crlf_error_keeps_ollamas_count_in_the_message_and_the_true_line() -> None:
    err = _error(b"FROM x\r\n\r\nSYSTEM\r\n")
    assert err.ollama_message == f"(line 6): {INVALID_COMMAND}"
    assert (err.line, err.column) == (3, 7)
    assert str(err) == "Modelfile:3: 'SYSTEM' must be followed by a space and a value"


def test_error_located_on_the_value_line_of_an_unterminated_block() -> None:
    err = _error('FROM x\n\nTEMPLATE   """{{ .Prompt }}\nmore\n')
    assert err.ollama_message == "unexpected EOF"
    assert (err.line, err.column) == (3, 12)
    assert err.hint == "a closing quote counts only at the end of a line"


def test_no_from_line_message_and_hint() -> None:
    err = _error("# just a comment\nSYSTEM hi\n")
    assert str(err) == (
        "Modelfile:1: no FROM line (a Modelfile must name its base: FROM <model> or FROM <path>)"
    )


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("FR0M x", "unknown command 'FR0M'", 1),
        ("  FOO x", "unknown command 'FOO'", 3),
        ("FOO\nFROM x", "unknown command 'FOO'", 1),
        ("\u200b# x\nFROM x", "unknown command '\\u200b#'", 1),
        ('SYSTEM"hi"\nFROM x', "'SYSTEM' must be followed by a space, not '\"'", 7),
        ("FROM x\nPARAMETER num-ctx 8", "invalid character '-' in PARAMETER name", 14),
        ("FROM x\nPARAMETER temperature\n", "PARAMETER temperature has no value", 22),
        ("FROM x\nPARAMETER", "'PARAMETER' must be followed by a space and a value", 10),
        ("FROM x\nPARAMETER ", "PARAMETER needs a name and a value", 11),
        ("FROM x\nMESSAGE user", "MESSAGE user has no value", 13),
        ("FROM x\nMESSAGE User hi", f"invalid message role 'User': {INVALID_ROLE}", 9),
    ],
)
def test_error_messages_say_what_is_wrong_and_where(text: str, message: str, column: int) -> None:
    err = _error(text)
    assert err.message == message
    assert err.column == column


def test_error_hint_for_a_role_in_the_wrong_case() -> None:
    assert _error("FROM x\nMESSAGE Assistant hi").hint == "roles are case-sensitive"


def test_unreadable_file_is_a_modelfile_error(tmp_path: Path) -> None:
    with pytest.raises(ModelfileError) as info:
        parse_file(tmp_path / "missing")
    assert info.value.path == str(tmp_path / "missing")
    assert "cannot read Modelfile" in info.value.message


def test_huge_binary_input_is_one_modelfile_error() -> None:
    data = bytes(range(256)) * 40_000  # 10 MB
    with pytest.raises(ModelfileError):
        parse(data)


# --------------------------------------------------------------------------- syntax tree


def test_tree_keeps_comments_blank_runs_and_positions() -> None:
    mf = parse(
        "# title\n\n\n  \nfrom llama3.2\nPARAMETER  temperature 1\n"
        'SYSTEM   """\nline\n"""\n# tail\n'
    )
    assert mf.nodes[0] == Comment("# title", 1)
    assert mf.nodes[1] == Blank(2, 3)
    frm, param, system = (n for n in mf.nodes if isinstance(n, Instruction))
    assert (frm.keyword, frm.written, frm.line, frm.column, frm.value_column) == (
        "FROM",
        "from",
        5,
        1,
        6,
    )
    assert (param.param, param.value, param.value_column) == ("", "temperature 1", 12)
    assert (system.line, system.end_line, system.quote, system.value_column) == (7, 9, '"""', 10)
    assert mf.nodes[-1] == Comment("# tail", 10)
    assert [c.text for c in mf.header] == ["# title"]
    assert mf.last("FROM") is frm and mf.of("SYSTEM") == (system,)


def test_message_instruction_keeps_role_apart_from_text() -> None:
    msg = parse("FROM x\nMESSAGE assistant a: b\n").last("MESSAGE")
    assert msg is not None
    assert (msg.role, msg.value, msg.args) == ("assistant", "a: b", "assistant: a: b")
    assert msg.name == "message"


def test_written_keeps_an_invisible_first_character() -> None:
    frm = parse("\u200bfrom x\n").last("FROM")
    assert frm is not None and frm.written == "\u200bfrom"


@pytest.mark.parametrize(
    ("text", "newline"),
    [
        ("FROM x\r\nSYSTEM y\r\n", "\r\n"),
        ("FROM x\rSYSTEM y", "\r"),
        ("FROM x", "\n"),
        ('FROM "a\r\nb"\nSYSTEM y\n', "\n"),  # the break inside a value does not count
        ("\r\n\nFROM x\n", "\r\n"),
    ],
)
def test_newline_is_the_first_break_outside_a_value(text: str, newline: str) -> None:
    assert parse(text).newline == newline


def test_no_inline_comments_and_no_escapes() -> None:
    mf = parse('FROM m # base\nSYSTEM "say \\"hi\\"\\n"\n')
    assert [c.args for c in mf.commands] == ["m # base", 'say \\"hi\\"\\n']


def test_tabs_are_kept_inside_values_and_trimmed_at_the_edges() -> None:
    system = parse('FROM x\nSYSTEM \t a\tb \t\nTEMPLATE "\ta\t"\n').commands[1:]
    assert [c.args for c in system] == ["a\tb", "\ta\t"]
