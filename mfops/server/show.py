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
    `template` is the stored Go template (the `modelfile`'s TEMPLATE); `shown_template` is
    the `template` key, which newer servers fill with the GGUF's Jinja chat template.
    `architecture` is the weights' `general.architecture`. `weights` is the first FROM of
    the stored Modelfile; `projectors` are the FROM lines after it, one per projector layer
    (a vision model's: `Model.String` prints them after DRAFT), part of what the model is.
    """

    name: str
    template: str = ""
    system: str = ""
    shown_template: str = ""
    parameters: dict[str, object] = field(default_factory=dict)
    messages: tuple[ServerMessage, ...] = ()
    license_text: str = ""
    licenses: tuple[str, ...] = ()
    renderer: str = ""
    parser: str = ""
    requires: str = ""
    parent_model: str = ""
    weights: str = ""
    projectors: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    drafts: tuple[str, ...] = ()
    architecture: str = ""
    modelfile: str = ""
    #: when the manifest was last written (the server's `modified_at`, as `/api/tags` gives
    #: it): not content, but it tells a read-back from a later rewrite (release/deploy.py)
    modified_at: str = ""

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


@dataclass(frozen=True)
class _Stored:
    """What the `modelfile` text of `/api/show` says, read with mfops' own parser."""

    licenses: tuple[str, ...] = ()
    weights: str = ""
    projectors: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    drafts: tuple[str, ...] = ()
    template: str | None = None
    renderer: str = ""
    parser: str = ""


def _stored(text: str, license_text: str) -> _Stored:
    """The commands of the `modelfile` text, tokenised like Ollama's own parser does.

    Never scanned line by line: a multi-line SYSTEM or TEMPLATE can hold a line that starts
    with `PARSER ` (issue 13 item 3). When the text does not parse (a value that holds a
    line of three quotes breaks Ollama's quoting too), nothing is taken from it.
    """
    fallback = (license_text,) if license_text else ()
    lines = text.split("\n")
    for _ in range(64):
        try:
            mf = parse("\n".join(lines))
            break
        except ModelfileError as err:
            # The API stores any message role (`PARAMETER message wizard: x` too), which
            # the Modelfile grammar refuses; messages are read from JSON, so the role of
            # such a line is neutralised and the text read again.
            at = (err.line or 0) - 1
            if not (0 <= at < len(lines) and lines[at].startswith("MESSAGE ")):
                return _Stored(licenses=fallback)
            lines[at] = "MESSAGE user " + lines[at][len("MESSAGE ") :].partition(" ")[2]
    else:
        return _Stored(licenses=fallback)
    licenses = tuple(i.value for i in mf.of("LICENSE"))
    if "\n".join(licenses) != license_text:
        licenses = fallback
    froms = mf.of("FROM")
    template = mf.last("TEMPLATE")
    renderer, parser = mf.last("RENDERER"), mf.last("PARSER")
    return _Stored(
        licenses=licenses,
        weights=froms[0].value if froms else "",
        projectors=tuple(i.value for i in froms[1:]),
        adapters=tuple(i.value for i in mf.of("ADAPTER")),
        drafts=tuple(i.value for i in mf.of("DRAFT")),
        template=template.value if template is not None else None,
        renderer=renderer.value if renderer is not None else "",
        parser=parser.value if parser is not None else "",
    )


def config_from_show(name: str, body: dict[str, Any]) -> ServerConfig:
    """A `ServerConfig` from the full `/api/show` JSON.

    TEMPLATE is the Go template the server *stored*, from the `modelfile` text: since v0.30
    the `template` key holds the GGUF's Jinja chat template instead when the server prefers
    it (`selectedModelTemplate`), which is not what a create sent (issue 13 item 2). The
    `template` key is the fallback when the text cannot be read. RENDERER and PARSER only
    ever appear in the text.
    """
    modelfile = str(body.get("modelfile") or "")
    license_text = str(body.get("license") or "")
    stored = _stored(modelfile, license_text) if modelfile else _Stored()
    shown_template = str(body.get("template") or "")
    renderer = str(body.get("renderer") or "") or stored.renderer
    parser = str(body.get("parser") or "") or stored.parser
    details = body.get("details") or {}
    info = body.get("model_info") or {}
    architecture = info.get("general.architecture") if isinstance(info, dict) else None
    return ServerConfig(
        name=name,
        template=stored.template if stored.template is not None else shown_template,
        shown_template=shown_template,
        system=str(body.get("system") or ""),
        parameters=parse_parameters(str(body.get("parameters") or "")),
        messages=tuple(
            ServerMessage(str(m.get("role", "")), str(m.get("content", "")))
            for m in body.get("messages") or []
        ),
        license_text=license_text,
        licenses=stored.licenses or ((license_text,) if license_text else ()),
        renderer=renderer,
        parser=parser,
        requires=str(body.get("requires") or ""),
        parent_model=str(details.get("parent_model") or ""),
        weights=stored.weights,
        projectors=stored.projectors,
        adapters=stored.adapters,
        drafts=stored.drafts,
        architecture=str(architecture or ""),
        modelfile=modelfile,
        modified_at=str(body.get("modified_at") or ""),
    )
