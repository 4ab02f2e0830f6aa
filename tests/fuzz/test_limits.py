"""Big and deeply repetitive inputs: every loader answers with nothing but its typed error,
within bounded memory, and does not hang (cases and limits in tests/fuzz/limits.py; the
line-dense 10 MB Modelfiles are marked slow). No wall-clock budget is asserted here: a
loaded machine would fail it. The child's generous timeout only catches a hang; the
timings are measured by `python benchmarks/fuzz.py --limits`."""

from __future__ import annotations

import pytest

from tests.fuzz.limits import CASES, run_child


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if c.slow else n for n, c in CASES.items()]
)
def test_big_input_is_bounded(name: str):
    case = CASES[name]
    result = run_child(name)
    assert result["rss_mb"] < case.rss_mb, result
