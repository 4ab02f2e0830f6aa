"""Edit the metadata of a real GGUF file (tiny.gguf) without touching its tensors.

Real-server tests need variants of the tiny model that only differ in metadata: one with a
Jinja `tokenizer.chat_template` (the server may then show that instead of the Go template)
and one whose `general.architecture` is `gemma4` (the server fills in renderer, parser and
stop itself). Tensor data offsets are relative to the aligned start of the data section, so
the data is moved to the new aligned start and nothing else changes.
"""

from __future__ import annotations

import struct
from typing import Any

from mfops.testing.double.gguf import _pack_value, _read_string, _read_value, _type_for

_ALIGN = 32


def _skip_tensor_infos(data: bytes, pos: int, count: int) -> int:
    for _ in range(count):
        _, pos = _read_string(data, pos)
        (dims,) = struct.unpack_from("<I", data, pos)
        pos += 4 + 8 * dims + 4 + 8
    return pos


def with_metadata(data: bytes, changes: dict[str, Any]) -> bytes:
    """`data` with the keys of `changes` set (replaced in place, or added at the end)."""
    version, tensors, count = struct.unpack_from("<IQQ", data, 4)
    pos = 24
    entries: list[tuple[str, bytes]] = []
    alignment = _ALIGN
    for _ in range(count):
        start = pos
        key, pos = _read_string(data, pos)
        (vtype,) = struct.unpack_from("<I", data, pos)
        value, pos = _read_value(data, pos + 4, vtype)
        if key == "general.alignment":
            alignment = int(value)
        entries.append((key, data[start:pos]))
    infos_start = pos
    infos_end = _skip_tensor_infos(data, pos, tensors)
    data_start = -(-infos_end // alignment) * alignment
    raw = dict(entries)
    for key, value in changes.items():
        vtype = _type_for(key, value)
        name = key.encode()
        raw[key] = (
            struct.pack("<Q", len(name))
            + name
            + struct.pack("<I", vtype)
            + _pack_value(vtype, value, key)
        )
    head = data[:4] + struct.pack("<IQQ", version, tensors, len(raw)) + b"".join(raw.values())
    head += data[infos_start:infos_end]
    head += b"\0" * (-len(head) % alignment)
    return head + data[data_start:]
