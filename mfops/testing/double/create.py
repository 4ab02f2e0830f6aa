"""`POST /api/create` and `POST /api/pull`, step for step as `server/create.go` does them.

Both are generators of progress dicts that raise `ApiError`; the HTTP layer turns them into
NDJSON (an error becomes a status code if nothing was sent yet, else a final error line) or
into one JSON object for `stream: false`. Work happens lazily between yields, so a connection
dropped by fault injection before `writing manifest` leaves no model behind, as with a server
that dies mid-create.

The inheritance rules are ollama-reference §4, implemented the way Go implements them rather
than as a summary of them, because mfops' effective-config folding is checked against this:

* every base layer is copied by digest, in order, with `from` = the base's short name;
* TEMPLATE / SYSTEM: a non-empty value removes the old layer and appends a new one;
* LICENSE: every string (even "") appends a layer;
* PARAMETERS: request keys win, the base's params layer fills in the rest; if the merged map
  is non-empty the old params layer is removed and a new one appended (so even an unchanged
  map moves to the end and loses `from`);
* MESSAGES: replaced only by a non-empty list;
* ADAPTERS: appended after the base's adapter layers (stacked);
* config: renderer, parser, requires, model_format, capabilities inherited unless set;
  family, type and file type recomputed from the weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .gguf import FILE_TYPES, GGUFError, is_gguf, read_gguf_kv, rewrite_gguf
from .gocompat import go_json, go_number, human_number, sorted_map, valid_path
from .names import ModelName, RefError, parse_name, parse_ref
from .pull import Event, progress, pull_events
from .store import (
    DIGEST_RE,
    GGUF_MEDIA_TYPES,
    MT_ADAPTER,
    MT_CONFIG,
    MT_DRAFT,
    MT_LICENSE,
    MT_MESSAGES,
    MT_MODEL,
    MT_PARAMS,
    MT_PROJECTOR,
    MT_SYSTEM,
    MT_TEMPLATE,
    ApiError,
    Layer,
    Store,
    encode_config,
    encode_manifest,
)

ZERO_DIGEST = "0000000000000000000"
QUANTIZE_TYPES = {"F32": 0, "F16": 1, "Q8_0": 7, "Q4_K_S": 14, "Q4_K_M": 15, "Q4_K": 15, "BF16": 32}


class CreateContext:
    """Settings of the double that change what a create stores."""

    def __init__(
        self, store: Store, *, models_dir: str, rewrite_gguf: bool = True, version: str = ""
    ) -> None:
        self.store = store
        self.models_dir = models_dir
        self.rewrite_gguf = rewrite_gguf
        #: A layer made from an uploaded file names that file's path in the server's
        #: models directory as its `from` (in the manifest, and as `details.parent_model`)
        #: on Ollama 0.24.0, so one GGUF created on two servers whose OLLAMA_MODELS differ
        #: gets two manifest digests; 0.33.0-rc2 records no `from` for it (and shows an
        #: empty parent_model). Both seen on the real servers; which release in between
        #: changed it is not known, so the double switches at 0.33.
        self.file_origin = _before(version, (0, 33))

    def blob_path(self, digest: str) -> str:
        return f"{self.models_dir}/blobs/{digest.replace(':', '-')}"


def _before(version: str, release: tuple[int, int]) -> bool:
    """Whether Ollama `version` ("0.24.0", "0.33.0-rc2") is older than `release`; an
    unparsable one counts as current."""
    parts = version.split("-")[0].split(".")[:2]
    try:
        return tuple(int(p) for p in parts) < release
    except ValueError:
        return False


# -- validation before the stream starts ---------------------------------------------------


def validate_create(ctx: CreateContext, req: dict[str, Any]) -> ModelName:
    """Checks `CreateHandler` makes before it starts streaming (all 400s)."""
    for key in ("files", "draft_files"):
        for path, digest in (req.get(key) or {}).items():
            if not valid_path(path):
                raise ApiError(400, "file path must be relative")
            if not digest:
                raise ApiError(400, "invalid digest format")
    if req.get("draft_quantize") and not req.get("draft_files"):
        raise ApiError(400, "--draft-quantize requires a DRAFT model")
    for digest in (req.get("adapters") or {}).values():
        if not digest:
            raise ApiError(400, "invalid digest format")
    name = parse_name(req.get("model") or req.get("name") or "")
    if not name.valid:
        raise ApiError(400, "invalid model name")
    return ctx.store.existing_name(name)


# -- create -----------------------------------------------------------------------------------


def create_events(ctx: CreateContext, req: dict[str, Any], name: ModelName) -> Iterator[Event]:
    """The streamed part of `CreateHandler` (after `validate_create` passed)."""
    with ctx.store.writing():
        yield from _create(ctx, req, name)


def _create(ctx: CreateContext, req: dict[str, Any], name: ModelName) -> Iterator[Event]:
    store = ctx.store
    old = store.get_manifest(name)
    config: dict[str, Any] = {
        "renderer": req.get("renderer") or "",
        "parser": req.get("parser") or "",
        "requires": req.get("requires") or "",
        "architecture": "amd64",
        "os": "linux",
    }
    base: list[Layer]
    if req.get("from"):
        base = yield from _base_from_model(ctx, req["from"], config)
    elif req.get("files") is not None:
        base = yield from _layers_from_files(ctx, req["files"], adapter=False)
    else:
        raise ApiError(400, "neither 'from' or 'files' was specified")

    if req.get("draft_files"):  # v0.30+: the draft's weights, as a draft layer
        drafts = yield from _layers_from_files(ctx, req["draft_files"], adapter=False)
        base = _remove(base, MT_DRAFT) + [
            Layer(MT_DRAFT, d.digest, d.size, d.from_, d.name, d.status) for d in drafts
        ]
    if req.get("adapters") is not None:
        try:
            adapters = yield from _layers_from_files(ctx, req["adapters"], adapter=True)
        except ApiError as exc:
            raise ApiError(400, exc.message) from None
        base = base + adapters

    layers = yield from _create_model(ctx, req, base, config)
    config_layer = ctx.store.new_layer(encode_config(config), MT_CONFIG)
    for layer in layers:
        if layer.status:
            yield progress(layer.status)
    yield progress("writing manifest")
    store.write_manifest(name, encode_manifest(config_layer, layers))
    if old is not None:
        store.remove_unused(old)
    yield progress("success")


def _base_from_model(ctx: CreateContext, raw: str, config: dict[str, Any]) -> Iterator[Event]:
    """`parseFromModel` plus the config inheritance: FROM <model name>, exact spelling."""
    store = ctx.store
    try:
        ref = parse_ref(raw)
    except RefError:
        raise ApiError(400, "invalid model name") from None
    base_name = parse_name(ref.base)
    if not base_name.valid:
        raise ApiError(400, "invalid model name")
    if ref.source == "cloud":
        raise ApiError(500, "cloud models are not supported by the Ollama test double")
    record = store.get_manifest(base_name)  # no case folding here (reference §4)
    if record is None:
        yield from pull_events(store, base_name)
        record = store.get_manifest(base_name)
        if record is None:
            raise ApiError(500, "pull model manifest: file does not exist")
    layers = []
    for src in record.layers:
        if not store.has_blob(src.digest):
            raise ApiError(500, f"stat {ctx.blob_path(src.digest)}: no such file or directory")
        layers.append(
            Layer(
                src.media_type,
                src.digest,
                src.size,
                base_name.short,
                src.name,
                f"using existing layer {src.digest}",
            )
        )
    raw_config = store.get_blob(record.config.digest)
    if raw_config:
        base_config = json.loads(raw_config)
        for key in ("renderer", "parser", "requires", "model_format"):
            if not config.get(key):
                config[key] = base_config.get(key) or ""
        if not config.get("capabilities"):
            config["capabilities"] = base_config.get("capabilities") or []
    return layers


def _layers_from_files(
    ctx: CreateContext, files: dict[str, str], *, adapter: bool
) -> Iterator[Event]:
    """`convertModelFromFiles` for GGUF: one layer per file, media type from its header."""
    store = ctx.store
    kind = _detect_type(store, files)
    if kind == "safetensors":
        raise ApiError(500, "safetensors conversion is not supported by the Ollama test double")
    if kind != "gguf":
        raise ApiError(400, "unknown type")
    if not files:
        raise ApiError(400, "no files provided to convert")
    if adapter and len(files) > 1:
        raise ApiError(400, "only one adapter is currently supported")
    layers = []
    for path in sorted(files):
        digest = files[path]
        yield progress("parsing GGUF")
        if not DIGEST_RE.match(digest):
            raise ApiError(500, "invalid digest format")
        blob = store.get_blob("sha256:" + digest[7:])
        if blob is None:
            raise ApiError(500, f"open {ctx.blob_path(digest)}: no such file or directory")
        if not is_gguf(blob):
            raise ApiError(400, "supplied file was not in GGUF format")
        try:
            kv = read_gguf_kv(blob)
        except GGUFError as exc:
            raise ApiError(500, str(exc)) from None
        media = {"adapter": MT_ADAPTER, "projector": MT_PROJECTOR}.get(
            kv.get("general.type", ""), MT_MODEL
        )
        status = f"using existing layer {digest}"
        origin = ctx.blob_path(digest) if ctx.file_origin else ""
        layers.append(
            Layer(media, "sha256:" + digest[7:], len(blob), origin, status=status, rewrite=True)
        )
    return layers


def _detect_type(store: Store, files: dict[str, str]) -> str:
    for path, digest in files.items():  # like Go, the first key decides
        if path.endswith(".safetensors"):
            return "safetensors"
        if path.endswith(".gguf"):
            return "gguf"
        blob = store.get_blob("sha256:" + digest[7:]) if len(digest) > 7 else None
        if blob is not None and is_gguf(blob):
            return "gguf"
    return ""


#: `general.architecture` -> (renderer, parser, stop) the server fills in on create when
#: renderer or parser is empty after inheritance (server/create.go, v0.24 and v0.33).
SERVER_FILLED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gemma4": ("gemma4", "gemma4", ("<turn|>",)),
    "laguna": ("laguna", "laguna", ()),
    "nemotron_h": ("nemotron-3-nano", "nemotron-3-nano", ()),
    "nemotron_h_moe": ("nemotron-3-nano", "nemotron-3-nano", ()),
    "nemotron_h_omni": ("nemotron-3-nano", "nemotron-3-nano", ()),
}


def _create_model(
    ctx: CreateContext, req: dict[str, Any], base: list[Layer], config: dict[str, Any]
) -> Iterator[Event]:
    """`createModel`: weights bookkeeping, then the text layers in Go's order."""
    store = ctx.store
    layers: list[Layer] = []
    families: list[str] = []
    for layer in base:
        if layer.media_type in GGUF_MEDIA_TYPES:
            blob = store.get_blob(layer.digest) or b""
            kv = read_gguf_kv(blob)
            if layer.media_type == MT_MODEL:
                layer, kv = yield from _maybe_rewrite(ctx, req, layer, blob, kv)
                arch = str(kv.get("general.architecture", ""))
                config["model_format"] = config.get("model_format") or "gguf"
                config["model_family"] = config.get("model_family") or arch
                count = int(kv.get("general.parameter_count", 0))
                config["model_type"] = config.get("model_type") or human_number(count)
                ftype = FILE_TYPES.get(int(kv.get("general.file_type", 1024)), "unknown")
                config["file_type"] = config.get("file_type") or ftype
                families.append(arch)
            elif layer.media_type == MT_DRAFT:
                config["draft"] = {
                    "model_format": "gguf",
                    "architecture": kv.get("general.architecture", ""),
                }
        layers.append(layer)
    config["model_families"] = families or None
    params = dict(req.get("parameters") or {})
    for arch in families:  # `createModel` fills these for some families (cmp.Or: set wins)
        filled = SERVER_FILLED.get(arch)
        if filled is None or (config.get("renderer") and config.get("parser")):
            continue
        config["renderer"] = config.get("renderer") or filled[0]
        config["parser"] = config.get("parser") or filled[1]
        if filled[2] and "stop" not in params:
            params["stop"] = list(filled[2])

    if req.get("template"):
        _check_template(req["template"])
        layers = _remove(layers, MT_TEMPLATE)
        layers.append(store.new_layer(req["template"].encode(), MT_TEMPLATE))
    if req.get("system"):
        layers = _remove(layers, MT_SYSTEM)
        layers.append(store.new_layer(req["system"].encode(), MT_SYSTEM))
    licenses = req.get("license")
    if isinstance(licenses, str):
        licenses = [licenses] if licenses else []
    for text in licenses or []:
        layers.append(store.new_layer(str(text).encode(), MT_LICENSE))
    layers = _set_parameters(store, layers, params or None)
    messages = req.get("messages") or []
    if messages:
        layers = _remove(layers, MT_MESSAGES)
        layers.append(store.new_layer(go_json([message_json(m) for m in messages]), MT_MESSAGES))
    return layers


def _maybe_rewrite(
    ctx: CreateContext, req: dict[str, Any], layer: Layer, blob: bytes, kv: dict[str, Any]
) -> Iterator[Event]:
    """Quantize, or the llama-quantize copy Ollama makes of every imported GGUF."""
    quant = str(req.get("quantize") or req.get("quantization") or "").upper()
    ftype_num = int(kv.get("general.file_type", 1024))
    ftype = FILE_TYPES.get(ftype_num, "unknown")
    new_blob = None
    if quant:
        if quant not in QUANTIZE_TYPES:
            supported = "F32, F16, Q4_K_S, Q4_K_M, Q8_0"
            message = f"unsupported quantization type {quant} - supported types are {supported}"
            raise ApiError(500, message)
        if ftype not in ("F16", "BF16", "F32"):
            raise ApiError(500, "quantization is only supported for F16, BF16 and F32 models")
        want = QUANTIZE_TYPES[quant]
        if want != ftype_num:
            status = f"quantizing {ftype} model to {FILE_TYPES.get(want, quant)}"
            yield progress(status, ZERO_DIGEST, len(blob), len(blob))
            new_blob = rewrite_gguf(blob, file_type=want, marker=f"quantize {quant}")
    if new_blob is None and layer.rewrite and ctx.rewrite_gguf:
        yield progress("validating GGUF model", ZERO_DIGEST, len(blob), len(blob))
        new_blob = rewrite_gguf(blob)
    if new_blob is None:
        return layer, kv
    yield progress("verifying conversion")
    return ctx.store.new_layer(new_blob, layer.media_type), read_gguf_kv(new_blob)


def _remove(layers: list[Layer], media_type: str) -> list[Layer]:
    return [layer for layer in layers if layer.media_type != media_type]


def _set_parameters(
    store: Store, layers: list[Layer], params: dict[str, Any] | None
) -> list[Layer]:
    """`setParameters`: per-key merge, then one new params layer at the end."""
    merged: dict[str, Any] = {k: go_value(v) for k, v in (params or {}).items()}
    for layer in layers:
        if layer.media_type != MT_PARAMS:
            continue
        existing = json.loads(store.get_blob(layer.digest) or b"{}")
        for key, value in existing.items():
            merged.setdefault(key, value)
    if not merged:
        return layers
    layers = _remove(layers, MT_PARAMS)
    layers.append(store.new_layer(go_json(sorted_map(merged)), MT_PARAMS))
    return layers


def go_value(value: Any) -> Any:
    """A request value after Go decoded it into `any` (numbers become float64)."""
    if isinstance(value, list):
        return [go_value(v) for v in value]
    if isinstance(value, dict):
        return {k: go_value(v) for k, v in value.items()}
    return go_number(value)


def message_json(msg: dict[str, Any]) -> dict[str, Any]:
    """An `api.Message` as Go re-encodes it: role, content, then non-empty extras."""
    out: dict[str, Any] = {"role": msg.get("role", ""), "content": msg.get("content", "")}
    for key in ("thinking", "images", "tool_calls", "tool_name", "tool_call_id"):
        if msg.get(key):
            out[key] = msg[key]
    return out


def _check_template(text: str) -> None:
    """A small stand-in for `template.Parse`: unbalanced actions are template errors."""
    depth_ok = text.count("{{") == text.count("}}")
    if not depth_ok:
        raise ApiError(400, "template error: template: :1: unclosed action")
