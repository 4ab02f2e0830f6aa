"""Ollama's PARAMETER registry and its value conversion (`api.FormatParams`), done exactly.

Ollama converts each PARAMETER line on the client side before anything is uploaded: the name
must be a JSON tag of `api.Options` (case-sensitive), the value is parsed with Go's strconv
for the field's type, `stop` lines accumulate into a list and scalar keys are last-wins.
Deprecated names are warned about and dropped without looking at the value. Every rule here
mirrors ollama-reference.md §2, so that `mfops lint` fails exactly where `ollama create` would.
"""

from __future__ import annotations

import functools
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
        _spec("num_ctx", "int", None, "context window; default set by VRAM (4096 below 23 GiB)"),
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
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}
# Go float literal syntax as strconv.ParseFloat reads it; underscores are checked separately
# (`_underscores_ok`), and the mantissa must hold at least one digit.
_DEC_FLOAT = re.compile(
    r"(?P<sign>[+-]?)(?P<mant>[0-9_]*(?:\.[0-9_]*)?)(?:[eE](?P<esign>[+-]?)(?P<exp>[0-9][0-9_]*))?"
)
_HEX_FLOAT = re.compile(
    r"(?P<sign>[+-]?)0[xX](?P<mant>[0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?)"
    r"[pP](?P<esign>[+-]?)(?P<exp>[0-9][0-9_]*)"
)
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_INT64 = (-(2**63), 2**63 - 1)
_F32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]
#: Significant digits kept before the rest is folded into a sticky digit: far more than any
#: float32 rounding boundary needs (their decimal expansions have at most ~115 digits).
_KEEP_DIGITS = 200


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
        if "0" <= ch <= "9" or (hexa and ch in "abcdefABCDEF"):
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
    value: float = struct.unpack("<f", struct.pack("<f", x))[0]
    return value


def _f32_next(f32: float, upward: bool) -> float:
    """The float32 adjacent to a finite float32, towards +inf or -inf."""
    if f32 == 0:
        bits = 1 if upward else 0x80000001
        value: float = struct.unpack("<f", struct.pack("<I", bits))[0]
        return value
    bits = struct.unpack("<I", struct.pack("<f", f32))[0]
    bits += 1 if (upward == (f32 > 0)) else -1
    value = struct.unpack("<f", struct.pack("<I", bits))[0]
    return value


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
    """The number JSON carries for a float32: Go writes the shortest digits that read back
    as the same float32 and, among several, the ones closest to its exact value.

    (Formatting with 1, 2, ... significant digits is not enough: next to a power of two the
    nearest n-digit decimal can miss while the other n-digit neighbour reads back.)
    """
    if f32 == 0 or not math.isfinite(f32):
        return f32
    target = abs(f32)
    x = Fraction(target)
    k = math.floor(math.log10(target))
    while Fraction(10) ** k > x:
        k -= 1
    while Fraction(10) ** (k + 1) <= x:
        k += 1
    for digits in range(1, 10):
        unit = Fraction(10) ** (k - digits + 1)
        low = math.floor(x / unit)
        best: tuple[Fraction, int, Fraction] | None = None
        for count in {low, low + 1}:
            candidate = count * unit
            if count > 0 and candidate < _F32_LIMIT and _to_float32(candidate) == target:
                key = (abs(candidate - x), count % 2, candidate)  # ties: the even last digit
                best = key if best is None or key < best else best
        if best is not None:
            return math.copysign(float(best[2]), f32)
    return f32


def _go_exponent(digits: str) -> int:
    """Go's readFloat stops adding exponent digits once the value reaches 10000."""
    digits = digits.lstrip("0")
    return int(digits[:5]) if digits else 0


def _exact_decimal(mant: str, exponent: int) -> Fraction | None:
    """The value of decimal digits `mant` (one optional '.') times 10**exponent; None means
    too large for any float32. Very long mantissas keep a sticky digit, which rounds alike."""
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    scale = exponent - len(frac)
    stripped = digits.rstrip("0")
    scale += len(digits) - len(stripped)
    digits = stripped
    if not digits:
        return Fraction(0)
    magnitude = len(digits) + scale  # the value is below 10**magnitude
    if magnitude >= 40:
        return None
    if magnitude <= -46:
        return Fraction(0)
    if len(digits) > _KEEP_DIGITS:
        scale += len(digits) - _KEEP_DIGITS - 1
        digits = digits[:_KEEP_DIGITS] + "1"
    return Fraction(int(digits)) * Fraction(10) ** scale


def _exact_hex(mant: str, exponent: int) -> Fraction | None:
    """Like `_exact_decimal` for hex digits and a power-of-two exponent."""
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    scale = exponent - 4 * len(frac)
    if not digits.strip("0"):
        return Fraction(0)
    keep = 40
    if len(digits) > keep:
        sticky = "1" if digits[keep:].strip("0") else "0"
        scale += 4 * (len(digits) - keep - 1)
        digits = digits[:keep] + sticky
    mantissa = int(digits, 16)
    bits = mantissa.bit_length() + scale  # the value is below 2**bits
    if bits >= 129:
        return None
    if bits <= -150:
        return Fraction(0)
    return mantissa * Fraction(2) ** scale


class NonFiniteValue(ValueError):
    """Go parses Inf and NaN, but `ollama create` then cannot encode them as JSON."""


_SIMPLE_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{0,15})?(?:[eE][+-]?[0-9]{1,2})?")


def _fast_float32(text: str) -> float | None:
    """The common case without exact rationals: a short decimal, a float32 that is neither
    at a rounding midpoint nor a power of two (where the shortest digits need care).
    Returns None whenever the exact path is needed."""
    if not _SIMPLE_DECIMAL.fullmatch(text):
        return None
    x = float(text)  # correctly rounded to double
    if x == 0 or not 1e-37 < abs(x) < 1e38:
        return None
    f32 = _pack_f32(x)
    if f32 != x:
        other = _f32_next(f32, upward=x > f32)
        if (f32 + other) / 2 == x:  # a float32 midpoint: double rounding could mislead
            return None
    if math.frexp(f32)[0] in (0.5, -0.5):
        return None
    for digits in range(1, 10):
        candidate = float(f"{f32:.{digits}g}")
        if _pack_f32(candidate) == f32:
            return candidate
    return None


@functools.lru_cache(maxsize=4096)
def parse_go_float32(text: str) -> float:
    """strconv.ParseFloat(text, 32), as the number JSON will carry; ValueError when Go fails.

    Inf and NaN parse in Go; they raise NonFiniteValue, because the create request that
    would carry them cannot be encoded. Cached: repos repeat the same few values.
    """
    fast = _fast_float32(text)
    return fast if fast is not None else _exact_float32(text)


def _exact_float32(text: str) -> float:
    """The general path of `parse_go_float32`: exact rationals, Go's rounding and digits."""
    if _SPECIAL_FLOAT.fullmatch(text):
        raise NonFiniteValue(text)
    match = _HEX_FLOAT.fullmatch(text)
    is_hex = match is not None
    if match is None:
        match = _DEC_FLOAT.fullmatch(text)
    if match is None or not re.search("[0-9a-fA-F]" if is_hex else "[0-9]", match["mant"]):
        raise ValueError("syntax")
    if "_" in text and not _underscores_ok(text):
        raise ValueError("syntax")
    mant = match["mant"].replace("_", "")
    exponent = _go_exponent((match["exp"] or "").replace("_", ""))
    if match["esign"] == "-":
        exponent = -exponent
    exact = _exact_hex(mant, exponent) if is_hex else _exact_decimal(mant, exponent)
    if exact is None:
        raise ValueError("out of range")
    negative = match["sign"] == "-"
    value = shortest_float32(_to_float32(exact))
    if value == 0:
        return -0.0 if negative else 0.0
    return -value if negative else value


def _parse_int64(raw: str) -> int | None:
    """strconv.ParseInt(raw, 10, 64), or None where Go fails (leading zeros are fine)."""
    if not _INT.match(raw):
        return None
    digits = raw.lstrip("+-").lstrip("0")
    if len(digits) > 19:
        return None
    value = -int(digits or "0") if raw.startswith("-") else int(digits or "0")
    return value if _INT64[0] <= value <= _INT64[1] else None


class ParamNonFinite(ParamValueError):
    """A float Go parses (Inf, NaN) that makes `ollama create` fail when it encodes JSON."""

    def __init__(self, raw: str) -> None:
        lowered = raw.lower()
        if "nan" in lowered:
            self.value, shown = math.nan, "NaN"
        else:
            negative = raw.startswith("-")
            self.value, shown = (-math.inf, "-Inf") if negative else (math.inf, "+Inf")
        super().__init__(f"json: unsupported value: {shown}")


def convert(name: str, raw: str) -> object:
    """The typed value Ollama sends for `PARAMETER name raw`; ParamValueError like Ollama's.

    `ParamNonFinite` (a ParamValueError) marks a float Go accepts but the request cannot
    carry; `collect` reports it only if it is still the key's value at the end.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        raise ParamValueError(f"unknown parameter '{name}'")
    if spec.type == "list":
        return [raw]
    if spec.type == "int":
        number = _parse_int64(raw)
        if number is None:
            raise ParamValueError(f"invalid int value [{raw}]")
        return number
    if spec.type == "bool":
        if raw in _BOOLS:
            return _BOOLS[raw]
        raise ParamValueError(f"invalid bool value [{raw}]")
    try:
        return parse_go_float32(raw)
    except NonFiniteValue:
        raise ParamNonFinite(raw) from None
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
    converted before it, which tools may still show. An Inf or NaN float is not an error
    until the end: a later line for the same key replaces it, and only a value still
    non-finite when the request is encoded fails (the first such key in sorted order,
    the order Go writes JSON object keys in).
    """
    values: dict[str, object] = {}
    deprecated: list[str] = []
    non_finite: dict[str, ParamProblem] = {}
    for name, raw, line, column in entries:
        if name in DEPRECATED:
            deprecated.append(name)
            continue
        try:
            value = convert(name, raw)
        except ParamNonFinite as err:
            non_finite[name] = ParamProblem(name, str(err), line, column)
            values.pop(name, None)
            continue
        except ParamValueError as err:
            return Parameters(values, tuple(deprecated), ParamProblem(name, str(err), line, column))
        non_finite.pop(name, None)
        if isinstance(value, list):  # `convert` returns a new list: extend in place, so
            existing = values.get(name)  # a file of a million `stop` lines stays linear
            if isinstance(existing, list):
                existing.extend(value)
            else:
                values[name] = value
        else:
            values[name] = value
    if non_finite:
        return Parameters(values, tuple(deprecated), non_finite[min(non_finite)])
    return Parameters(values, tuple(deprecated))
