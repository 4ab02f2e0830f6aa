"""PARAMETER conversion exactly as `api.FormatParams` and `CreateRequest` do it
(ollama-reference.md §2): names, types, Go's strconv rules, repeats, deprecations."""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfops.language.modelfile import parse
from mfops.language.params import (
    DEPRECATED,
    REGISTRY,
    ParamNonFinite,
    ParamValueError,
    collect,
    convert,
    shortest_float32,
)


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_registry_is_exactly_the_options_ollama_accepts() -> None:
    types = {name: spec.type for name, spec in REGISTRY.items()}
    assert types == {
        "num_ctx": "int",
        "num_batch": "int",
        "num_gpu": "int",
        "main_gpu": "int",
        "use_mmap": "bool",
        "num_thread": "int",
        "draft_num_predict": "int",
        "num_keep": "int",
        "seed": "int",
        "num_predict": "int",
        "top_k": "int",
        "top_p": "float",
        "min_p": "float",
        "typical_p": "float",
        "repeat_last_n": "int",
        "temperature": "float",
        "repeat_penalty": "float",
        "presence_penalty": "float",
        "frequency_penalty": "float",
        "stop": "list",
    }


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("temperature", 0.8),
        ("top_k", 40),
        ("top_p", 0.9),
        ("repeat_penalty", 1.0),
        ("seed", -1),
        ("num_predict", -1),
        ("num_keep", 4),
        ("num_batch", 512),
        ("num_gpu", -1),
    ],
)
def test_defaults_are_the_servers(name: str, default: object) -> None:
    assert REGISTRY[name].default == default


def test_deprecated_names() -> None:
    assert (
        frozenset(
            {
                "penalize_newline",
                "low_vram",
                "f16_kv",
                "logits_all",
                "vocab_only",
                "use_mlock",
                "mirostat",
                "mirostat_tau",
                "mirostat_eta",
            }
        )
        == DEPRECATED
    )
    assert not DEPRECATED & REGISTRY.keys()


# --------------------------------------------------------------------------- int


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("8192", 8192),
        ("+5", 5),
        ("-1", -1),
        ("007", 7),
        ("-0", 0),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("0" * 5000 + "42", 42),
    ],
)
def test_int_accepted(raw: str, value: int) -> None:
    assert convert("num_ctx", raw) == value
    assert isinstance(convert("num_ctx", raw), int)


@pytest.mark.parametrize(
    "raw",
    [
        "4096.0",
        "1e3",
        "0x10",
        "1_000",
        " 5",
        "5 ",
        "1 000",
        "",
        "+",
        "--1",
        "٣",
        "9223372036854775808",
        "-9223372036854775809",
        "1" * 5000,
    ],
)
def test_int_rejected_with_ollamas_message(raw: str) -> None:
    with pytest.raises(ParamValueError) as info:
        convert("num_ctx", raw)
    assert str(info.value) == f"invalid int value [{raw}]"


# --------------------------------------------------------------------------- float


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0.1", 0.1),  # float32 0.1 goes out as the shortest digits: 0.1
        ("0.7", 0.7),
        ("1", 1.0),
        ("1e-3", 0.001),
        (".5", 0.5),
        ("5.", 5.0),
        ("+.5e-1", 0.05),
        ("0x1p-2", 0.25),
        ("0X1.8P1", 3.0),
        ("0x_1p1", 2.0),  # an underscore may follow the base prefix
        ("1_000.5", 1000.5),  # ... or sit between digits
        ("16777217", 16777216.0),  # rounded to float32
        ("123456789", 123456790.0),  # shortest digits of that float32
        ("3.4028235e38", 3.4028235e38),  # the largest float32
        ("1e-50", 0.0),  # underflow is not an error
        ("7.1e-46", 1e-45),  # rounds up to the smallest subnormal, printed as Go does
        ("0." + "0" * 5000 + "1", 0.0),  # long inputs are fine
        ("1" + "0" * 30 + "e-30", 1.0),
        ("1e-99999999999999", 0.0),  # Go caps the exponent it reads
    ],
)
def test_float_accepted(raw: str, value: float) -> None:
    got = convert("temperature", raw)
    assert isinstance(got, float)
    assert got == value
    assert shortest_float32(_f32(got)) == got  # the shortest digits of a float32


def test_float_keeps_the_sign_of_zero() -> None:
    assert math.copysign(1, convert("temperature", "-0")) == -1  # type: ignore[arg-type]
    assert math.copysign(1, convert("temperature", "-1e-60")) == -1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        "1e50",
        "3.40282357e38",
        "-1e39",
        "0x1p128",
        "1e99999999999",
        "0x10",
        "0x1",
        "0x.p1",
        "1__0",
        "_1",
        "1_",
        "1._5",
        "1e",
        "1e+",
        "1e_5",
        ".",
        "",
        " 0.5",
        "0.5 ",
        "0,5",
        "1/2",
        "٣",
        "infinit",
        "+nan",
        "0b101",
        "1p5",
    ],
)
def test_float_rejected_with_ollamas_message(raw: str) -> None:
    with pytest.raises(ParamValueError) as info:
        convert("temperature", raw)
    assert not isinstance(info.value, ParamNonFinite)
    assert str(info.value) == f"invalid float value [{raw}]"


def test_float_is_rounded_once_to_float32_from_the_exact_decimal() -> None:
    """1 + 2**-24 + 2**-60 lies just above the midpoint between 1 and the next float32.
    Going through a double first lands exactly on the midpoint and rounds to 1 (wrong)."""
    with localcontext() as ctx:
        ctx.prec = 100
        text = format(Decimal(1) + Decimal(2) ** -24 + Decimal(2) ** -60, "f")
    assert float(text) == 1 + 2**-24  # the double is the midpoint
    assert convert("temperature", text) == 1.0000001
    assert convert("temperature", "0x1.000001000000001p0") == 1.0000001
    assert convert("temperature", "0x1.000001p0") == 1.0  # an exact tie goes to even


def test_shortest_digits_next_to_a_power_of_two() -> None:
    """2**-96 needs only 8 digits because the gap above it is twice the gap below: the
    nearest 8-digit decimal misses, the other 8-digit neighbour reads back."""
    f32 = 2.0**-96
    assert shortest_float32(f32) == 1.2621775e-29
    assert repr(convert("temperature", "1.2621774483536189e-29")) == "1.2621775e-29"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("inf", "+Inf"), ("+Infinity", "+Inf"), ("-inf", "-Inf"), ("NaN", "NaN"), ("nan", "NaN")],
)
def test_inf_and_nan_parse_in_go_but_cannot_be_sent(raw: str, shown: str) -> None:
    with pytest.raises(ParamNonFinite) as info:
        convert("temperature", raw)
    assert str(info.value) == f"json: unsupported value: {shown}"


# --------------------------------------------------------------------------- bool, stop, names


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("t", True),
        ("T", True),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("0", False),
        ("f", False),
        ("F", False),
        ("false", False),
        ("FALSE", False),
        ("False", False),
    ],
)
def test_bool_spellings(raw: str, value: bool) -> None:
    assert convert("use_mmap", raw) is value


@pytest.mark.parametrize("raw", ["yes", "on", "tRUE", "true ", "2", ""])
def test_bool_rejected(raw: str) -> None:
    with pytest.raises(ParamValueError, match=r"^invalid bool value \["):
        convert("use_mmap", raw)


def test_stop_is_a_one_element_list_of_the_raw_string() -> None:
    assert convert("stop", " <|end|> ") == [" <|end|> "]


@pytest.mark.parametrize("name", ["numa", "tfs_z", "num_gqa", "embedding_only", "Temperature", ""])
def test_unknown_and_removed_names(name: str) -> None:
    with pytest.raises(ParamValueError) as info:
        convert(name, "1")
    assert str(info.value) == f"unknown parameter '{name}'"


# --------------------------------------------------------------------------- collecting


def test_stop_accumulates_and_scalars_are_last_wins() -> None:
    params = collect(
        [
            ("stop", "a", 1, 1),
            ("temperature", "0.5", 2, 1),
            ("stop", "b", 3, 1),
            ("temperature", "0.7", 4, 1),
        ]
    )
    assert params.values == {"stop": ["a", "b"], "temperature": 0.7}
    assert params.error is None


def test_deprecated_names_are_dropped_with_the_value_unchecked() -> None:
    params = collect([("mirostat", "banana", 1, 1), ("use_mlock", "", 2, 1)])
    assert params.values == {}
    assert params.deprecated == ("mirostat", "use_mlock")
    assert params.error is None


def test_the_first_error_stops_and_says_where() -> None:
    params = collect([("top_k", "40", 1, 11), ("num_ctx", "4k", 2, 19), ("top_p", "x", 3, 17)])
    assert params.values == {"top_k": 40}
    assert params.error is not None
    assert (params.error.name, params.error.message, params.error.line, params.error.column) == (
        "num_ctx",
        "invalid int value [4k]",
        2,
        19,
    )


def test_a_non_finite_value_fails_only_if_it_is_still_there_at_the_end() -> None:
    assert collect([("temperature", "inf", 1, 1), ("temperature", "0.5", 2, 1)]).error is None
    params = collect([("top_p", "nan", 1, 1), ("temperature", "-inf", 2, 1)])
    assert params.error is not None  # Go writes JSON keys sorted: temperature comes first
    assert (params.error.name, params.error.message) == (
        "temperature",
        "json: unsupported value: -Inf",
    )
    assert params.values == {}
    later = collect([("temperature", "inf", 1, 1), ("top_k", "x", 2, 1)])
    assert later.error is not None and later.error.message == "invalid int value [x]"


def test_modelfile_parameters_come_from_parameter_lines() -> None:
    mf = parse(
        'FROM x\nPARAMETER num_ctx 8192\nPARAMETER stop <|a|>\nPARAMETER stop "<|b|> "\n'
        "PARAMETER mirostat 2\nPARAMETER temperature .2\n"
    )
    params = mf.parameters()
    assert json.dumps(params.values) == (
        '{"num_ctx": 8192, "stop": ["<|a|>", "<|b|> "], "temperature": 0.2}'
    )
    assert params.deprecated == ("mirostat",)


def test_modelfile_parameter_error_points_at_the_value() -> None:
    params = parse("FROM x\n\nPARAMETER  top_k   forty\n").parameters()
    assert params.error is not None
    assert (params.error.message, params.error.line) == ("unknown parameter ''", 3)
    params = parse("FROM x\nPARAMETER top_k   forty\n").parameters()
    assert params.error is not None
    assert (params.error.message, params.error.line, params.error.column) == (
        "invalid int value [forty]",
        2,
        19,
    )


@settings(max_examples=3000)
@given(st.from_regex(r"[+-]?[0-9]{1,15}(\.[0-9]{0,15})?([eE][+-]?[0-9]{1,2})?", fullmatch=True))
def test_fast_float_path_agrees_with_the_exact_one(text):
    """The shortcut for short decimals must give exactly what the exact path gives."""
    from mfops.language.params import _exact_float32, _fast_float32

    fast = _fast_float32(text)
    if fast is not None:
        assert fast == _exact_float32(text)
