"""`outline` (language/outline.py): what it accepts parses, with the same graph lines.

For every text `outline` accepts, the full parser must read it without an error, give the
same FROM/ADAPTER/DRAFT instructions (as `Modelfile.of` answers them, so `PARAMETER model`
counts as a FROM), the same newline and, once the deferred nodes are used, the same nodes.
Texts it refuses are simply parsed in full, so refusing is always safe; the tests also check
that the plain files mfops is tuned for are accepted (else the outline would be dead code).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mfops.errors import ModelfileError
from mfops.language.modelfile import GRAPH_KEYWORDS, parse
from mfops.language.outline import outline
from tests.language.test_modelfile_fastpath import text as edge_text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from genrepo import modelfile as generated_modelfile

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(source: str) -> bool:
    """Compare outline and parse on `source`; True when the outline accepted it."""
    found = outline(source, "m/Modelfile")
    if found is None:
        return False
    try:
        full = parse(source, path="m/Modelfile")
    except ModelfileError as err:  # pragma: no cover - the failure this test exists for
        raise AssertionError(f"outlined, but the parser says: {err}") from None
    for keyword in sorted(GRAPH_KEYWORDS):
        assert found.of(keyword) == full.of(keyword), keyword
    assert found.newline == full.newline and found.path == full.path
    assert "nodes" not in found.__dict__  # nothing parsed yet
    assert found.nodes == full.nodes
    assert found.of("SYSTEM") == full.of("SYSTEM")
    return True


_LINES = [
    "",
    "  ",
    "\t",
    "# comment",
    '  # "quoted" comment',
    "FROM base",
    "from  base:7b  ",
    "FROM\tbase # not a comment",
    "FROM ./w.gguf",
    'FROM "base"',
    "FROM ",
    "ADAPTER ./lora.gguf",
    "Draft small",
    "DRAFT\t\tsmall\t",
    "PARAMETER temperature 0.5",
    "PARAMETER model other",
    "PARAMETER Model other",
    "PARAMETER  model other",
    "PARAMETER adapter ./x",
    "PARAMETER draft d",
    "PARAMETER system be brief",
    "PARAMETER stop <|eot_id|>",
    "PARAMETER n-x 1",
    "MESSAGE user hi",
    "MESSAGE User hi",
    "MESSAGE tool hi",
    "MESSAGE  user hi",
    "SYSTEM plain",
    'SYSTEM "one line"',
    'SYSTEM ""',
    'SYSTEM "',
    'SYSTEM ""x"',
    'SYSTEM """one"""',
    'SYSTEM """"""',
    'SYSTEM """""',
    'SYSTEM """',
    'SYSTEM """  ',
    'TEMPLATE """{{ .Prompt }}',
    'LICENSE """',
    "FROM inside a block",
    '"""',
    'end"""',
    'end"""  ',
    'a """ b',
    '""""',
    "x",
    "SYSTEMx y",
    "REQUIRES 0.5.0",
    "RENDERER r",
    "PARSER p",
    "SYSTEM a\x01b",
    "SYSTEM caf\xe9",
    "\x0bFROM x",
]


#: Lines the outline accepts (drawn more often, so that most files are accepted whole).
_COMMON = [
    ln
    for ln in _LINES
    if outline(f"FROM x\n{ln}\n") is not None and not ln.lstrip().upper().startswith('SYSTEM """')
]


@st.composite
def plain_text(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(_COMMON * 4 + _LINES), max_size=12))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "FROM base")
    brk = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    joined = brk.join(lines)
    return joined + brk if draw(st.booleans()) else joined


@SETTINGS
@given(plain_text())
@example('FROM x\nSYSTEM """\nFROM y\n"""\n')
@example('FROM x\nSYSTEM """\nx"""\nFROM y\n')
@example('SYSTEM """\nFROM y\nz"""')
@example("FROM x\nPARAMETER model y\n")
@example('FROM x\nSYSTEM """\n\n  \n"""')
def test_what_the_outline_accepts_parses_the_same(source: str) -> None:
    check(source)


@SETTINGS
@given(edge_text())
def test_the_outline_on_the_parser_edge_cases(source: str) -> None:
    check(source)


@SETTINGS
@given(st.text(max_size=80))
def test_the_outline_on_arbitrary_text(source: str) -> None:
    check(source)
    check("FROM x\n" + source)


@pytest.mark.parametrize("seed", range(40))
def test_generated_benchmark_modelfiles_are_outlined(seed: int) -> None:
    import random

    rng = random.Random(seed)
    source = generated_modelfile(rng, f"m{seed}", "llama3.2:3b", revision=seed % 2)
    assert check(source)


def test_a_file_outside_the_subset_is_not_outlined() -> None:
    assert outline('FROM x\nSYSTEM "a\nb"\n') is None  # a one-quote block: parsed in full
    assert outline("FROM x\r\n") is None
    assert outline("SYSTEM x\n") is None  # no FROM: the parser's error
    assert outline('FROM x\nSYSTEM """\nnever closed\n') is None
