"""`to_json` (cli/render.py) writes exactly what `json.dumps(obj, indent=2, ensure_ascii=False)`
writes, only faster: every command's JSON output depends on it byte for byte."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfops.cli.render import to_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=30,
)


def standard(obj: object) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


@given(values)
def test_the_same_text_as_json_dumps(obj):
    assert to_json(obj) == standard(obj)


@pytest.mark.parametrize(
    "obj",
    [
        -0.0,
        math.nan,
        [math.inf, -math.inf],
        '\u2028 é \x00 " \\ \ud800',
        {"a": [], "b": {}, "c": [[]], "d": ()},
        {1: "int key", None: "none key", 2.5: "float key", False: "bool key"},
        [True, 1, 1.0],
        10**40,
    ],
)
def test_the_edges_of_json_dumps(obj):
    assert to_json(obj) == standard(obj)


def test_what_json_cannot_write_fails_as_json_dumps_fails():
    with pytest.raises(TypeError, match="not JSON serializable"):
        to_json({"x": {1, 2}})
    with pytest.raises(TypeError, match="keys must be"):
        to_json({(1, 2): 3})
