"""Reading Ollama's `/api/show` answer back into typed values (no network here).

`/api/show` reports parameters as one string, `%-30s %#v` per value (ollama-reference §6.5):
Go-quoted strings, float64 numbers (`4096`, `0.7`, `1e+06`), `true`/`false`, one line per
element of a list, and in random order on every call. To compare that with what a Modelfile
declares, values are typed back with mfops' parameter registry (an int parameter that comes
back as `4096` is the int 4096, `stop` is always a list) and keys are sorted.

License layers come back joined with newlines in `license`; the `modelfile` text has one
LICENSE line per layer, but its quoting is lossy for some values, so the layers are taken
from it only when they join back to exactly the `license` text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from mfops.errors import ModelfileError
from mfops.language.modelfile import parse
from mfops.language.params import REGISTRY


@dataclass(frozen=True)
class ServerMessage:
    role: str
    content: str


@dataclass(frozen=True)
class ServerConfig:
    """What a model on the server holds, from the full `/api/show` answer.

    `parameters` is typed (`stop` a list) and in sorted key order; `licenses` is the list
    of license layers when `modelfile` could be read, else the joined `license` text as one
    item. `license_text` is always the server's joined text, the exact thing to compare.
    """

    name: str
    template: str = ""
    system: str = ""
    parameters: dict[str, object] = field(default_factory=dict)
    messages: tuple[ServerMessage, ...] = ()
    license_text: str = ""
    licenses: tuple[str, ...] = ()
    renderer: str = ""
    parser: str = ""
    requires: str = ""
    parent_model: str = ""
    weights: str = ""
    adapters: tuple[str, ...] = ()
    modelfile: str = ""

    def text(self, key: str) -> str:
        return str(getattr(self, key) or "")


def go_unquote(text: str) -> str:
    """A Go `strconv.Quote` string back to its value (its escapes are a subset of Python's)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, str) else text


def parse_scalar(text: str) -> object:
    """One `%#v` value: a quoted string, a bool or a number (float64 on the server)."""
    if text.startswith('"'):
        return go_unquote(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def typed(name: str, value: object) -> object:
    """A value as mfops' registry types it: ints as int, floats as float."""
    spec = REGISTRY.get(name)
    if spec is None or isinstance(value, bool):
        return value
    if spec.type == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if spec.type == "float" and isinstance(value, (int, float)):
        return float(value)
    return value


def parse_parameters(text: str) -> dict[str, object]:
    """The `parameters` string of `/api/show` as a typed dict in sorted key order."""
    values: dict[str, list[object]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, raw = line.partition(" ")
        values.setdefault(name, []).append(parse_scalar(raw.strip()))
    out: dict[str, object] = {}
    for name in sorted(values):
        items = values[name]
        spec = REGISTRY.get(name)
        if (spec is not None and spec.type == "list") or len(items) > 1:
            out[name] = [typed(name, v) for v in items]
        else:
            out[name] = typed(name, items[0])
    return out


def _modelfile_parts(text: str, license_text: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(license layers, weights, adapters) from the `modelfile` text; the last two as the
    server prints them (blob paths, which hold the digests)."""
    fallback = (license_text,) if license_text else ()
    try:
        mf = parse(text)
    except ModelfileError:
        return fallback, "", ()
    licenses = tuple(i.value for i in mf.of("LICENSE"))
    if "\n".join(licenses) != license_text:
        licenses = fallback

    froms = mf.of("FROM")
    weights = froms[0].value if froms else ""
    return licenses, weights, tuple(i.value for i in mf.of("ADAPTER"))


def config_from_show(name: str, body: dict[str, Any]) -> ServerConfig:
    """A `ServerConfig` from the full `/api/show` JSON."""
    modelfile = str(body.get("modelfile") or "")
    license_text = str(body.get("license") or "")
    licenses, weights, adapters = _modelfile_parts(modelfile, license_text)
    renderer = str(body.get("renderer") or "")
    parser = str(body.get("parser") or "")
    if modelfile and not (renderer and parser):  # the server leaves these empty (§7)
        for line in modelfile.splitlines():
            keyword, _, value = line.partition(" ")
            if keyword == "RENDERER" and not renderer:
                renderer = value.strip()
            elif keyword == "PARSER" and not parser:
                parser = value.strip()
    details = body.get("details") or {}
    return ServerConfig(
        name=name,
        template=str(body.get("template") or ""),
        system=str(body.get("system") or ""),
        parameters=parse_parameters(str(body.get("parameters") or "")),
        messages=tuple(
            ServerMessage(str(m.get("role", "")), str(m.get("content", "")))
            for m in body.get("messages") or []
        ),
        license_text=license_text,
        licenses=licenses,
        renderer=renderer,
        parser=parser,
        requires=str(body.get("requires") or ""),
        parent_model=str(details.get("parent_model") or ""),
        weights=weights,
        adapters=adapters,
        modelfile=modelfile,
    )
