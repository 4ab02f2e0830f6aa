"""Tiny but genuine GGUF files: what the double stores as "weights".

Ollama reads the GGUF header of a weights blob to fill `details` (family, parameter size,
quantization), `model_info` and `capabilities`, and rejects files that are not GGUF. The
double does the same, so the fake weights are real GGUF v3 files with a metadata section and
no tensors, padded with deterministic filler bytes (distinct models get distinct digests,
identical inputs give identical bytes). `fake_gguf` is public so that tests can write a
weights file to disk and build from it with `FROM ./model.gguf`.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any

MAGIC = b"GGUF"

#: `ggml.FileType` numbers and their names (the subset Ollama prints).
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}
FILE_TYPE_NUMBERS = {name: num for num, name in FILE_TYPES.items()}

# GGUF value types
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = 8, 9, 10, 11, 12
_SCALAR = {
    _UINT8: "<B",
    _INT8: "<b",
    _UINT16: "<H",
    _INT16: "<h",
    _UINT32: "<I",
    _INT32: "<i",
    _FLOAT32: "<f",
    _BOOL: "<?",
    _UINT64: "<Q",
    _INT64: "<q",
    _FLOAT64: "<d",
}


class GGUFError(ValueError):
    """The bytes are not a GGUF file the double can read."""


def parse_parameter_size(size: str | int) -> int:
    """ "3.2B" -> 3_200_000_000, "135M" -> 135_000_000, an int is taken as a count."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMBT]?)\s*", size, re.IGNORECASE)
    if not m:
        raise ValueError(f"bad parameter size {size!r}; use e.g. '3.2B' or '135M'")
    scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[m.group(2).upper()]
    return round(float(m.group(1)) * scale)


def _type_for(key: str, value: Any) -> int:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _UINT64 if key.endswith("parameter_count") else _UINT32
    if isinstance(value, float):
        return _FLOAT32
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list):
        return _ARRAY
    raise TypeError(f"cannot store {type(value).__name__} in GGUF")


def _pack_string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _pack_value(vtype: int, value: Any, key: str) -> bytes:
    if vtype == _STRING:
        return _pack_string(value)
    if vtype == _ARRAY:
        etype = _type_for(key, value[0]) if value else _STRING
        body = b"".join(_pack_value(etype, v, key) for v in value)
        return struct.pack("<IQ", etype, len(value)) + body
    return struct.pack(_SCALAR[vtype], value)


def write_gguf(kv: dict[str, Any], *, filler: bytes = b"") -> bytes:
    """A GGUF v3 file with these key/values, no tensors, then `filler` after 32-byte alignment."""
    parts = [MAGIC, struct.pack("<IQQ", 3, 0, len(kv))]
    for key, value in kv.items():
        vtype = _type_for(key, value)
        parts.append(_pack_string(key) + struct.pack("<I", vtype) + _pack_value(vtype, value, key))
    data = b"".join(parts)
    data += b"\0" * (-len(data) % 32)
    return data + filler


def fake_gguf(
    *,
    architecture: str = "llama",
    parameter_size: str | int = "3.2B",
    quantization: str = "Q4_K_M",
    context_length: int = 131072,
    embedding_length: int = 3072,
    kind: str = "model",
    embedding: bool = False,
    name: str = "",
    filler_bytes: int = 256,
) -> bytes:
    """Deterministic fake weights. `kind` is "model", "adapter" or "projector".

    `name` goes into `general.name` and seeds the filler, so two models with different names
    never share a weights digest; `embedding=True` adds a pooling type, which makes Ollama
    (and the double) report the `embedding` capability instead of `completion`.
    """
    if quantization not in FILE_TYPE_NUMBERS:
        raise ValueError(
            f"unknown quantization {quantization!r}; one of {sorted(FILE_TYPE_NUMBERS)}"
        )
    kv: dict[str, Any] = {"general.architecture": architecture}
    if kind != "model":
        kv["general.type"] = kind
    if name:
        kv["general.name"] = name
    kv["general.file_type"] = FILE_TYPE_NUMBERS[quantization]
    if kind == "model":
        kv["general.parameter_count"] = parse_parameter_size(parameter_size)
        kv["general.quantization_version"] = 2
        kv[f"{architecture}.block_count"] = 28
        kv[f"{architecture}.context_length"] = context_length
        kv[f"{architecture}.embedding_length"] = embedding_length
        if embedding:
            kv[f"{architecture}.pooling_type"] = 1
        kv["tokenizer.ggml.model"] = "gpt2"
    elif kind == "adapter":
        kv["adapter.type"] = "lora"
        kv["adapter.lora.alpha"] = 16.0
    seed = f"{kind}|{architecture}|{name}|{parameter_size}|{quantization}".encode()
    filler = b""
    block = hashlib.sha256(seed).digest()
    while len(filler) < filler_bytes:
        filler += block
        block = hashlib.sha256(block).digest()
    return write_gguf(kv, filler=filler[:filler_bytes])


def is_gguf(data: bytes) -> bool:
    """Ollama's content sniffing: the GGUF magic in either byte order."""
    return data[:4] in (b"GGUF", b"FUGG")


def read_gguf_kv(data: bytes) -> dict[str, Any]:
    """The metadata key/values of a GGUF file (tensors are not read)."""
    if data[:4] != MAGIC:
        raise GGUFError("invalid file magic")
    try:
        version, _tensors, count = struct.unpack_from("<IQQ", data, 4)
        if version not in (2, 3):
            raise GGUFError(f"unsupported GGUF version {version}")
        pos = 24
        kv: dict[str, Any] = {}
        for _ in range(count):
            key, pos = _read_string(data, pos)
            (vtype,) = struct.unpack_from("<I", data, pos)
            pos += 4
            kv[key], pos = _read_value(data, pos, vtype)
        return kv
    except struct.error as exc:
        raise GGUFError(f"truncated GGUF: {exc}") from None


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    if pos + n > len(data):
        raise GGUFError("truncated GGUF string")
    return data[pos : pos + n].decode("utf-8", "replace"), pos + n


def _read_value(data: bytes, pos: int, vtype: int) -> tuple[Any, int]:
    if vtype == _STRING:
        return _read_string(data, pos)
    if vtype == _ARRAY:
        etype, n = struct.unpack_from("<IQ", data, pos)
        pos += 12
        items = []
        for _ in range(n):
            item, pos = _read_value(data, pos, etype)
            items.append(item)
        return items, pos
    fmt = _SCALAR.get(vtype)
    if fmt is None:
        raise GGUFError(f"unknown GGUF value type {vtype}")
    (value,) = struct.unpack_from(fmt, data, pos)
    return value, pos + struct.calcsize(fmt)


def rewrite_gguf(data: bytes, *, file_type: int | None = None, marker: str = "copy") -> bytes:
    """What `llama-quantize` does to an imported GGUF in the double: new bytes, same meaning.

    Real Ollama rewrites every imported GGUF weights file ("validating GGUF model"), so the
    stored `.model` digest differs from the uploaded one (reference §6.3); quantizing changes
    the file type as well. The double re-serialises the header with a marker key so that the
    digest changes deterministically.
    """
    kv = read_gguf_kv(data)
    if file_type is not None:
        kv["general.file_type"] = file_type
    kv["general.quantized_by"] = f"ollama-double ({marker})"
    header_len = len(write_gguf(read_gguf_kv(data)))
    return write_gguf(kv, filler=data[header_len:])
