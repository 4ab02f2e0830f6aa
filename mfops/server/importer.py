"""A Modelfile for a model that already exists on the server (`mfops import`).

Hand-made models come under management by writing down what they are. When the server knows
the model's base (`details.parent_model`, the model it was created FROM), the Modelfile says
`FROM <base>` and holds only what differs from that base, the way a person would have
written it; a base that is itself a repo model becomes a source FROM (built together). When
the base is unknown (imported weights; Ollama 0.24 gives the weights' blob path as the base,
which is no model name), FROM names the weights blob on the server and every
field is written out; such a file is a draft (the CLI writes it where mfops does not load it,
since a blob path outside the repo stops the whole graph). The notes say what needs a human
(that FROM, adapters, values a child cannot remove from its base).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.errors import ModelfileError, UnknownModelError
from mfops.language.format import quote
from mfops.language.modelfile import parse
from mfops.language.names import is_valid_name, parse_name
from mfops.server.compare import compare_configs

if TYPE_CHECKING:
    from mfops.server.client import Server
    from mfops.server.show import ServerConfig


@dataclass(frozen=True)
class Imported:
    model: str
    name: str
    base: str | None
    text: str
    notes: tuple[str, ...]


_ROLES = ("system", "user", "assistant")


def _message(role: str, content: str) -> str:
    """A MESSAGE line; a role the grammar refuses (the API stores any) is written the one
    way a Modelfile can carry it, `PARAMETER message role: text` (issue 13 item 10)."""
    if role in _ROLES:
        return f"MESSAGE {role} {quote(content)}"
    return f"PARAMETER message {quote(f'{role}: {content}')}"


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value) if isinstance(value, (int, str)) else repr(value)


def _values(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _body(cfg: ServerConfig, base: ServerConfig | None, notes: list[str]) -> list[str]:
    """The commands that make `cfg` out of `base` (everything when `base` is None)."""
    out: list[str] = []
    for key in ("template", "system", "renderer", "parser", "requires"):
        mine, theirs = cfg.text(key), base.text(key) if base else ""
        if mine and mine != theirs:
            out.append(f"{key.upper()} {quote(mine)}")
        elif not mine and theirs:
            notes.append(
                f"the base sets {key.upper()} and the model has none: a child cannot clear it"
            )
    base_params = base.parameters if base else {}
    for key, value in cfg.parameters.items():
        if key not in base_params or base_params[key] != value:
            out.extend(f"PARAMETER {key} {quote(_param_text(v))}" for v in _values(value))
    for key in sorted(set(base_params) - set(cfg.parameters)):
        notes.append(f"the base sets PARAMETER {key}, the model does not: a child cannot remove it")
    base_lic = base.licenses if base else ()
    if cfg.licenses[: len(base_lic)] == base_lic:
        out.extend(f"LICENSE {quote(text)}" for text in cfg.licenses[len(base_lic) :])
    else:
        notes.append("the model's licenses do not extend its base's; written out in full")
        out.extend(f"LICENSE {quote(text)}" for text in cfg.licenses)
    mine_msgs = [(m.role, m.content) for m in cfg.messages]
    base_msgs = [(m.role, m.content) for m in base.messages] if base else []
    if mine_msgs and mine_msgs != base_msgs:
        out.extend(_message(role, content) for role, content in mine_msgs)
    elif not mine_msgs and base_msgs:
        notes.append("the base has MESSAGEs and the model none: a child cannot clear them")
    extra_adapters = cfg.adapters[len(base.adapters) :] if base else cfg.adapters
    if extra_adapters:
        notes.append(
            f"{len(extra_adapters)} adapter layer(s) are blobs on the server: add "
            "the ADAPTER file to the repo and uncomment the line"
        )
        out.extend(f"# ADAPTER {a}" for a in extra_adapters)
    return out


def _against_current(
    server: Server, parent: str, parent_cfg: ServerConfig, now: str, notes: list[str]
) -> ServerConfig:
    """The base the written FROM will inherit: the repo's current build `now` when the
    server has it and it differs from `parent` (otherwise the rebuilt model would silently
    differ by whatever changed in the base since), with a note either way it matters."""
    now_cfg = server.show(now)
    if now_cfg is None:
        notes.append(
            f"the model was built on {parent}, and the repo's current build of that model "
            f"({now}) is not on the server to compare with: if the base changed since, the "
            "rebuilt model inherits the change (build the base, then import again)"
        )
        return parent_cfg
    if not compare_configs(parent_cfg, now_cfg):
        return parent_cfg
    notes.append(
        f"the model was built on {parent}, which is not what the repo builds now ({now}): "
        "the Modelfile sets what differs from the current build, so it builds the same model"
    )
    return now_cfg


def import_model(
    server: Server,
    model: str,
    *,
    name: str,
    repo_models: set[str],
    host: str,
    today: str,
    current: Mapping[str, str] | None = None,
) -> Imported:
    """Read `model` from the server and write its Modelfile text (nothing is written here).

    `current` maps a repo model to `name:mf-<digest>`, what the repo builds for it now. A
    base that is a repo model becomes a source FROM, so the file inherits the repo's current
    build of it, not necessarily the server's base (an older content tag, a release): the
    differences are then taken against the current build, when the server has it."""
    cfg = server.show(model)
    if cfg is None:
        raise UnknownModelError(f"no model {model!r} on {host}", hint="see `ollama list`")
    notes: list[str] = []
    # Ollama 0.24 names an uploaded weights file's blob path here (`/…/blobs/sha256-…`), not
    # a model: no base to ask for (the server refuses the path as a model name, HTTP 400).
    parent = cfg.parent_model if is_valid_name(cfg.parent_model) else ""
    base_cfg = server.show(parent) if parent else None
    header = [f"# {name}: imported by `mfops import` from {model} on {host} ({today})."]
    if parent and base_cfg is not None:
        untagged = parse_name(parent).untagged
        source = next((m for m in repo_models if m.casefold() == untagged.casefold()), None)
        from_line = f"FROM {source}" if source else f"FROM {parent}"
        header.append(f"# Built on {parent}; what it provides is inherited, not repeated.")
        base = parent
        now = (current or {}).get(source) if source else None
        if now is not None and now.casefold() != parent.casefold():
            base_cfg = _against_current(server, parent, base_cfg, now, notes)
    else:
        if parent:
            notes.append(
                f"the base {parent} is no longer on the server; every field is written out"
            )
        base_cfg = None
        weights = cfg.weights or "<weights>"
        # a vision model's projectors are FROM lines too (one per layer, after the weights)
        from_line = "\n".join(f"FROM {ref}" for ref in (weights, *cfg.projectors))
        if cfg.projectors:
            notes.append(
                f"{len(cfg.projectors)} projector layer(s) are blobs on the server: point "
                "each extra FROM at the projector file (in the repo)"
            )
        header.append(
            "# DRAFT: FROM names the weights blob on the server: replace it with the GGUF "
            "file (in the repo) or a registry model, then rename this file to Modelfile."
        )
        notes.append(
            "FROM names a blob on the server: point it at the weights file or a "
            "registry model before building"
        )
        base = None
    body = _body(cfg, base_cfg, notes)
    text = "\n".join([*header, "", from_line, *(["", *body] if body else [])]) + "\n"
    try:
        parse(text, path=f"{name}/Modelfile")
    except ModelfileError as err:  # pragma: no cover - quote() guarantees a valid file
        raise ModelfileError(f"the generated Modelfile does not parse: {err}") from None
    return Imported(model, name, base, text, tuple(notes))
