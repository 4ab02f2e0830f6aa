"""Big and deeply repetitive inputs: every loader answers in bounded time and memory, with
nothing but its typed error (cases and limits in tests/fuzz/limits.py; the line-dense
10 MB Modelfiles are marked slow)."""

from __future__ import annotations

import pytest

from tests.fuzz.limits import CASES, run_child


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if c.slow else n for n, c in CASES.items()]
)
def test_big_input_is_bounded(name: str):
    case = CASES[name]
    result = run_child(name)
    assert result["seconds"] < case.seconds, result
    assert result["rss_mb"] < case.rss_mb, result
