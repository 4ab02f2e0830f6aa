"""The formatter: canonical text that Ollama reads back as the same command list."""

from __future__ import annotations

import pytest

from mfops.errors import ModelfileError
from mfops.language.format import canonical_commands, format_text, quote
from mfops.language.modelfile import parse


def _same_commands(source: str | bytes, formatted: str) -> None:
    assert parse(formatted).commands == canonical_commands(parse(source).commands)
    assert format_text(formatted) == formatted


def test_canonical_keywords_spacing_and_values() -> None:
    source = (
        "from   llama3.2\n"
        "parameter\ttemperature   0.2  \n"
        "message\tuser   hi there \n"
        'system "one line"\n'
        'template """{{ .Prompt }}"""\n'
    )
    assert format_text(source) == (
        "FROM llama3.2\n"
        "PARAMETER temperature 0.2\n"
        "MESSAGE user hi there\n"
        "SYSTEM one line\n"
        "TEMPLATE {{ .Prompt }}\n"
    )
    _same_commands(source, format_text(source))


def test_from_moves_first_with_its_comments_and_the_header_stays_on_top() -> None:
    source = (
        "# pirate-bot: talks like a pirate\n"
        "# owner: ml team\n"
        "\n"
        "PARAMETER temperature 1\n"
        "\n"
        "\n"
        "# the base\n"
        "FROM llama3.2\n"
        "SYSTEM Arr.\n"
        "# trailing note\n"
    )
    formatted = format_text(source)
    assert formatted == (
        "# pirate-bot: talks like a pirate\n"
        "# owner: ml team\n"
        "\n"
        "# the base\n"
        "FROM llama3.2\n"
        "\n"
        "PARAMETER temperature 1\n"
        "\n"
        "SYSTEM Arr.\n"
        "# trailing note\n"
    )
    _same_commands(source, formatted)


def test_several_froms_keep_their_order() -> None:
    source = "SYSTEM x\nFROM ./a.gguf\nTEMPLATE t\nFROM ./b.gguf\n"
    assert format_text(source) == "FROM ./a.gguf\nFROM ./b.gguf\n\nSYSTEM x\nTEMPLATE t\n"


def test_layout_kept_when_from_is_already_first() -> None:
    source = "# h\nFROM x\nSYSTEM a\n\n# group two\nPARAMETER stop b\nPARAMETER stop c\n"
    assert format_text(source) == source


def test_blank_runs_collapse_and_edges_are_trimmed() -> None:
    source = "\n\n  \nFROM x\n\n\n\t\nSYSTEM y\n\n\n"
    assert format_text(source) == "FROM x\n\nSYSTEM y\n"


def test_comments_lose_indentation_and_trailing_blanks_only() -> None:
    assert format_text("FROM x\n   #  note  \t\n#\n") == "FROM x\n#  note\n#\n"


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_the_files_line_break_is_kept(newline: str) -> None:
    source = newline.join(["# h", "system s", "from x", 'TEMPLATE """a', 'b"""', ""])
    formatted = format_text(source)
    assert formatted == newline.join(
        ["# h", "FROM x", "", "SYSTEM s", f'TEMPLATE """a{newline}b"""', ""]
    )
    _same_commands(source, formatted)


def test_bytes_with_a_bom_format_to_plain_text() -> None:
    assert format_text(b"\xef\xbb\xbffrom x\n") == "FROM x\n"


def test_empty_parameter_name_round_trips() -> None:
    formatted = format_text("FROM x\nPARAMETER  temperature 0.5\n")
    assert formatted == "FROM x\nPARAMETER  temperature 0.5\n"
    assert parse(formatted).commands[1].name == ""


def test_format_is_idempotent_on_a_messy_file() -> None:
    source = (
        '\n# doc\nsystem "  padded  "\n\n\nfrom m # not a comment\n'
        'message assistant """\nmulti "quoted"\nline"""\nlicense ""\n'
        'TEMPLATE """a"""\nadapter "x\n\n"\n'
    )
    once = format_text(source)
    assert format_text(once) == once
    _same_commands(source, once)


def test_invalid_input_is_a_modelfile_error() -> None:
    with pytest.raises(ModelfileError):
        format_text("FROM x\nSYSTEM\n")


# --------------------------------------------------------------------------- quoting


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("llama3.2", "llama3.2"),  # bare when exact
        ("a # b", "a # b"),
        ('say "hi"', 'say "hi"'),  # quotes inside are fine bare
        ('ends with "', 'ends with "'),
        ("", '""'),  # an empty value needs quotes (a trailing blank would be fragile)
        ("  padded  ", '"  padded  "'),
        ("\tx", '"\tx"'),
        ('"quoted"', '""quoted""'),  # starts with a quote: one more pair
        ('"', '"""""""'),  # '"""' would open a block: three it is
        ('""x', '"""""x"""'),
        ("a\nb", '"""a\nb"""'),  # several lines: three quotes
        ("a\r\nb\r", '"""a\r\nb\r"""'),
        ('first ends in a quote"\nsecond', '"""first ends in a quote"\nsecond"""'),
        ('a\nmiddle ends in a quote"\nb', '"""a\nmiddle ends in a quote"\nb"""'),
        ('a\n"""', '"""a\n""""""'),  # only the last line may end in the delimiter
        ("\n", '"""\n"""'),
    ],
)
def test_quote_choice(value: str, written: str) -> None:
    assert quote(value) == written
    assert parse(f"FROM x\nSYSTEM {written}\n").commands[1].args == value


@pytest.mark.parametrize(
    "value",
    # A line (not the last) ending in three quotes closes both forms early.
    ['line one\nhe said """hi"""\nend', 'x"""\ny', "bad\x00char", "nbsp\u00a0", "\u200b"],
)
def test_quote_refuses_what_no_modelfile_can_hold(value: str) -> None:
    with pytest.raises(ModelfileError, match="value cannot be written in a Modelfile"):
        quote(value)
