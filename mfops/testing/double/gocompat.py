"""Byte-exact imitations of the Go library behaviour that Ollama's wire format depends on.

Digests in Ollama are SHA-256 sums of JSON that Go's `encoding/json` wrote, and the text of
`/api/show` comes from Go's `fmt` verbs. If the double used Python's defaults instead, a
manifest digest would still be *a* digest, but the things mfops must get right (copying keeps
a digest, identical inputs reproduce it, `1e+06` in a PARAMETER line) would no longer be
exercised the way a real server exercises them. So this module does what Go does:

* `go_json` - `json.Encoder.Encode`: compact, HTML-escaped (`<`, `>`, `&` as `\\u003c`...),
  raw UTF-8, float64 numbers in Go's shortest form, and a trailing newline.
* `go_fmt_v` / `go_fmt_sharp_v` - `fmt.Sprintf("%v")` and `("%#v")` for JSON-decoded values
  (all numbers are float64 after Go decodes them into `map[string]any`).
* `go_quote` - `strconv.Quote`.
* `modelfile_quote` - `parser.quote` used by `ollama show --modelfile`.
* `go_time` - `time.Time` marshalled as RFC 3339 with nanoseconds.
* `valid_path` - `io/fs.ValidPath`, the check behind `file path must be relative`.
* `human_number` - `format.HumanNumber`, the `parameter_size` string.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of `v` and the decimal-point position (Go's `digs`)."""
    parsed = Decimal(repr(abs(v))).as_tuple()
    assert isinstance(parsed.exponent, int)
    digits = "".join(str(d) for d in parsed.digits).lstrip("0")
    dp = len(digits) + parsed.exponent
    # Decimal keeps repr's trailing zeros ("100.0" is 1000e-1); Go's digit strings never do.
    return digits.rstrip("0") or "0", dp


def go_float_g(v: float) -> str:
    """`strconv.FormatFloat(v, 'g', -1, 64)`, which is what `%v` prints for a float64."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    neg = "-" if v < 0 else ""
    digits, dp = _digits(v)
    exp = dp - 1
    if exp < -4 or exp >= 6:  # shortest formatting decides with precision 6, like Go
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        esign = "-" if exp < 0 else "+"
        return f"{neg}{mantissa}e{esign}{abs(exp):02d}"
    return neg + _fixed(digits, dp)


def _fixed(digits: str, dp: int) -> str:
    """Digits placed around the decimal point without an exponent (Go's `fmtF`)."""
    if dp <= 0:
        return "0." + "0" * (-dp) + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def go_json_float(v: float) -> str:
    """A float64 as `encoding/json` writes it: exponent only outside [1e-6, 1e21)."""
    if math.isnan(v) or math.isinf(v):
        raise ValueError(f"json: unsupported value: {v!r}")
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    neg = "-" if v < 0 else ""
    digits, dp = _digits(v)
    a = abs(v)
    if 1e-6 <= a < 1e21:
        return neg + _fixed(digits, dp)
    exp = dp - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    esign = "-" if exp < 0 else "+"
    return f"{neg}{mantissa}e{esign}{abs(exp)}"  # Go cleans e-07 to e-7


def _encode(value: Any, out: list[str]) -> None:
    import json

    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(go_json_float(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(k), ensure_ascii=False))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as Go JSON")


_PLAIN_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> bool:
    """Whether `value` holds only strings, ints, booleans, None, lists, tuples and dicts
    with string keys (exact types): what `json.dumps` encodes exactly as `_encode` does.
    Floats (Go formats them its own way) and anything else take `_encode`."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    return False


def go_json(value: Any, *, newline: bool = True) -> bytes:
    """Encode like `json.NewEncoder(w).Encode(value)`; dicts keep their insertion order.

    Go sorts map keys and writes struct fields in declaration order, so callers pass maps
    through `sorted_map` and build struct-like dicts in field order.
    """
    if _plain(value):  # no floats: Python's encoder writes what Go's does, much faster
        import json

        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        out: list[str] = []
        _encode(value, out)
        text = "".join(out)
    for raw, esc in _HTML_ESCAPES.items():
        text = text.replace(raw, esc)
    return (text + ("\n" if newline else "")).encode("utf-8")


def sorted_map(value: Any) -> Any:
    """Recursively sort dict keys, as Go does when it encodes a `map[string]any`."""
    if isinstance(value, dict):
        return {k: sorted_map(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_map(v) for v in value]
    return value


def go_number(value: Any) -> Any:
    """What a JSON number becomes after Go decodes it into `any`: always a float64."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(value)


_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(s: str) -> str:
    """`strconv.Quote`: Go escapes, printable Unicode kept as it is."""
    parts = ['"']
    for ch in s:
        if ch in _QUOTE_ESCAPES:
            parts.append(_QUOTE_ESCAPES[ch])
        elif ch == " " or ch.isprintable():
            parts.append(ch)
        elif ord(ch) < 0x80:
            parts.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(f"\\U{ord(ch):08x}")
    parts.append('"')
    return "".join(parts)


def go_fmt_v(value: Any) -> str:
    """`fmt.Sprintf("%v", value)` for a value that came out of Go's JSON decoder."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return go_float_g(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_fmt_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_fmt_v(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_fmt_sharp_v(value: Any) -> str:
    """`fmt.Sprintf("%#v", value)`: like `%v` but strings are Go-quoted."""
    if isinstance(value, str):
        return go_quote(value)
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_fmt_sharp_v(v) for v in value) + "}"
    if isinstance(value, dict):
        inner = ", ".join(f"{go_quote(k)}:{go_fmt_sharp_v(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + inner + "}"
    return go_fmt_v(value)


def modelfile_quote(s: str) -> str:
    """`parser.quote`: quote only values with a newline or a leading/trailing space."""
    if "\n" in s or s.startswith(" ") or s.endswith(" "):
        if '"' in s:
            return '"""' + s + '"""'
        return '"' + s + '"'
    return s


def go_time(ns: int | None = None, *, utc: bool = True) -> str:
    """A `time.Time` as Go marshals it (RFC 3339, nanoseconds without trailing zeros).

    Inference responses use `time.Now().UTC()` (so `Z`); manifest times are local time,
    which Go prints with the local offset.
    """
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    if utc:
        tm = time.gmtime(secs)
        offset = "Z"
    else:
        tm = time.localtime(secs)
        off = tm.tm_gmtoff or 0
        if off == 0:
            offset = "Z"
        else:
            sign = "+" if off > 0 else "-"
            off = abs(off)
            offset = f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
    base = time.strftime("%Y-%m-%dT%H:%M:%S", tm)
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{base}{fraction}{offset}"


def valid_path(name: str) -> bool:
    """`io/fs.ValidPath`: relative, slash-separated, no empty, `.` or `..` elements."""
    if name == ".":
        return True
    if not name:
        return False
    return all(elem not in ("", ".", "..") for elem in name.split("/"))


def human_number(n: int) -> str:
    """`format.HumanNumber`: 3_200_000_000 -> "3.2B", 8_000_000_000 -> "8B", 135e6 -> "135M"."""
    if n >= 1_000_000_000:
        x = n / 1_000_000_000
        return f"{x:.0f}B" if x == math.floor(x) else f"{x:.1f}B"
    if n >= 1_000_000:
        x = n / 1_000_000
        return f"{x:.0f}M" if x == math.floor(x) else f"{x:.2f}M"
    if n >= 1_000:
        return f"{n / 1000:.0f}K"
    return str(n)
