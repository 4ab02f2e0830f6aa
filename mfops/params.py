"""Ollama's PARAMETER registry and its value conversion (`api.FormatParams`), done exactly.

Ollama converts each PARAMETER line on the client side before anything is uploaded: the name
must be a JSON tag of `api.Options` (case-sensitive), the value is parsed with Go's strconv
for the field's type, `stop` lines accumulate into a list and scalar keys are last-wins.
Deprecated names are warned about and dropped without looking at the value. Every rule here
mirrors ollama-reference.md §2, so that `mfops lint` fails exactly where `ollama create` would.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One valid PARAMETER: its JSON type and what the server uses when nobody sets it."""

    name: str
    type: str  # "int" | "float" | "bool" | "list"
    default: object
    doc: str


def _spec(name: str, type_: str, default: object, doc: str) -> tuple[str, ParamSpec]:
    return name, ParamSpec(name, type_, default, doc)


#: Every name `api.FormatParams` accepts (Ollama v0.33), with the server-side default.
REGISTRY: dict[str, ParamSpec] = dict(
    [
        _spec("num_ctx", "int", None, "context window; default depends on VRAM (4096 below 23 GiB)"),
        _spec("num_batch", "int", 512, "prompt batch size"),
        _spec("num_gpu", "int", -1, "layers to offload to the GPU (-1: automatic)"),
        _spec("main_gpu", "int", None, "GPU used for small tensors"),
        _spec("use_mmap", "bool", None, "memory-map the weights (unset: automatic)"),
        _spec("num_thread", "int", 0, "CPU threads (0: runtime decides)"),
        _spec("draft_num_predict", "int", 0, "tokens the draft model predicts (4 with a DRAFT)"),
        _spec("num_keep", "int", 4, "tokens kept from the prompt when the context shifts"),
        _spec("seed", "int", -1, "random seed (-1: random)"),
        _spec("num_predict", "int", -1, "maximum tokens to generate (-1: no limit)"),
        _spec("top_k", "int", 40, "sample from the k most likely tokens"),
        _spec("top_p", "float", 0.9, "nucleus sampling threshold"),
        _spec("min_p", "float", 0.0, "minimum probability relative to the top token"),
        _spec("typical_p", "float", 1.0, "locally typical sampling"),
        _spec("repeat_last_n", "int", 64, "how far back to look for repetitions"),
        _spec("temperature", "float", 0.8, "sampling temperature"),
        _spec("repeat_penalty", "float", 1.0, "penalty for repeated tokens (1.1 before v0.32.10)"),
        _spec("presence_penalty", "float", 0.0, "penalty for tokens already present"),
        _spec("frequency_penalty", "float", 0.0, "penalty by token frequency"),
        _spec("stop", "list", None, "stop sequence; repeated lines accumulate"),
    ]
)

#: Names Ollama warns about and drops (`parser.deprecatedParameters`), value unchecked.
DEPRECATED: frozenset[str] = frozenset(
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

#: Names that older Modelfiles use but Ollama now rejects: lint explains them.
REMOVED: dict[str, str] = {
    "numa": "removed in Ollama v0.3.4",
    "num_gqa": "removed in Ollama v0.1.35",
    "tfs_z": "removed in Ollama v0.5.2",
    "embedding_only": "removed from Ollama",
    "rope_frequency_base": "removed from Ollama",
    "rope_frequency_scale": "removed from Ollama",
}


class ParamValueError(ValueError):
    """A PARAMETER Ollama refuses; `str()` is Ollama's own message."""


_INT = re.compile(r"[+-]?[0-9]+\Z")
_BOOLS = {
    "1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
    "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False,
}  # fmt: skip
# Go float literal syntax as strconv.ParseFloat reads it (underscores checked separately).
_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?\Z")
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+\Z"
)
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)\Z|nan\Z", re.IGNORECASE)
_INT64 = (-(2**63), 2**63 - 1)
_F32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]


def _underscores_ok(s: str) -> bool:
    """Go's strconv.underscoreOK: `_` only between digits, or after a base prefix."""
    if s[:1] in "+-":
        s = s[1:]
    saw = "^"
    i = 0
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "xXbBoO":
        i, saw, hexa = 2, "0", s[1] in "xX"
    for ch in s[i:]:
        if ch.isdigit() or (hexa and ch in "abcdefABCDEF"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


_F32_LIMIT = Fraction(_F32_MAX) + Fraction(2) ** 103  # MaxFloat32 + half an ulp: rounds to Inf


def _pack_f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _f32_next(f32: float, upward: bool) -> float:
    """The float32 adjacent to a finite float32, towards +inf or -inf."""
    if f32 == 0:
        bits = 1 if upward else 0x80000001
        return struct.unpack("<f", struct.pack("<I", bits))[0]
    bits = struct.unpack("<I", struct.pack("<f", f32))[0]
    bits += 1 if (upward == (f32 > 0)) else -1
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _to_float32(exact: Fraction) -> float:
    """Round an exact rational to the nearest float32 (ties to even), as Go does.

    Going through a Python float first can round twice; when the double lands exactly on a
    float32 midpoint, the exact value decides the direction.
    """
    if abs(exact) >= _F32_LIMIT:
        raise ValueError("out of range")
    x = float(exact)
    if abs(x) > _F32_MAX:  # only when the double rounded up to the limit itself
        return math.copysign(_F32_MAX, x)
    f32 = _pack_f32(x)
    if f32 != x and Fraction(x) != exact:
        other = _f32_next(f32, upward=x > f32)
        mid = (Fraction(f32) + Fraction(other)) / 2
        if Fraction(x) == mid and (exact > mid) == (other > f32):
            f32 = other
    return f32


def shortest_float32(f32: float) -> float:
    """The float JSON will carry: Go marshals a float32 with its shortest round-trip digits."""
    if f32 == 0 or not math.isfinite(f32):
        return f32
    for digits in range(1, 10):
        candidate = float(f"{f32:.{digits}g}")
        try:
            if _pack_f32(candidate) == f32:
                return candidate
        except OverflowError:  # a candidate past the largest float32
            continue
    return f32


def parse_go_float32(text: str) -> float:
    """strconv.ParseFloat(text, 32) followed by JSON encoding; raises ValueError when Go fails.

    Inf and NaN parse in Go, but `ollama create` then fails to encode the request as JSON, so
    they are refused here too.
    """
    if _SPECIAL_FLOAT.match(text):
        raise ValueError("not a finite number")
    is_hex = _HEX_FLOAT.match(text) is not None
    if not (is_hex or _DEC_FLOAT.match(text)) or not _underscores_ok(text):
        raise ValueError("syntax")
    clean = text.replace("_", "")
    if is_hex:
        sign = -1 if clean.startswith("-") else 1
        mant, _, exp = clean.lstrip("+-")[2:].replace("P", "p").partition("p")
        whole, _, frac = mant.partition(".")
        if not (whole or frac):
            raise ValueError("syntax")
        exact = sign * Fraction(int(whole + frac, 16), 16 ** len(frac)) * Fraction(2) ** int(exp)
    else:
        exact = Fraction(clean)
    value = shortest_float32(_to_float32(exact))
    return -0.0 if value == 0 and clean.startswith("-") else value


def convert(name: str, raw: str) -> object:
    """The typed value Ollama sends for `PARAMETER name raw`; ParamValueError like Ollama's."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise ParamValueError(f"unknown parameter '{name}'")
    if spec.type == "list":
        return [raw]
    if spec.type == "int":
        if _INT.match(raw) and _INT64[0] <= int(raw) <= _INT64[1]:
            return int(raw)
        raise ParamValueError(f"invalid int value [{raw}]")
    if spec.type == "bool":
        if raw in _BOOLS:
            return _BOOLS[raw]
        raise ParamValueError(f"invalid bool value [{raw}]")
    try:
        return parse_go_float32(raw)
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ParamValueError(f"invalid float value [{raw}]") from None


@dataclass(frozen=True)
class ParamProblem:
    """The first PARAMETER Ollama would refuse, with where it is."""

    name: str
    message: str
    line: int | None
    column: int | None


@dataclass(frozen=True)
class Parameters:
    """The `parameters` object of the create request, built the way Ollama builds it."""

    values: dict[str, object] = field(default_factory=dict)
    deprecated: tuple[str, ...] = ()
    error: ParamProblem | None = None


def collect(entries: Iterable[tuple[str, str, int | None, int | None]]) -> Parameters:
    """Fold `(name, raw value, line, column)` PARAMETER lines in file order.

    Stops at the first error, as `ollama create` does; `values` then holds what was
    converted before it, which tools may still show.
    """
    values: dict[str, object] = {}
    deprecated: list[str] = []
    for name, raw, line, column in entries:
        if name in DEPRECATED:
            deprecated.append(name)
            continue
        try:
            value = convert(name, raw)
        except ParamValueError as err:
            return Parameters(values, tuple(deprecated), ParamProblem(name, str(err), line, column))
        if isinstance(value, list):
            existing = values.get(name)
            values[name] = [*existing, *value] if isinstance(existing, list) else value
        else:
            values[name] = value
    return Parameters(values, tuple(deprecated))
