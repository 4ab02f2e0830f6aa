"""The endpoints: request JSON in, a `Result` out, with Ollama's checks, texts and statuses.

This layer knows nothing about sockets (that is `server.py`) and nothing about the toy
model's rules (that is `toymodel.py`); it is the `server/routes.go` of the double. Results
are plain JSON, empty bodies, text, or a `Stream` of progress/chunk dicts that the HTTP layer
writes as NDJSON or collapses for `stream: false`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .create import CreateContext, create_events, validate_create
from .gocompat import go_quote
from .inference import Inference
from .names import RefError, parse_name, parse_ref
from .pull import pull_events
from .show import list_body, show_body
from .store import ApiError, Store, check_digest, load_model, sha256_digest


@dataclass
class Result:
    """A complete response: JSON (`body` not None), empty, or plain text."""

    status: int = 200
    body: Any = None
    text: str | None = None


@dataclass
class Stream:
    """A streamed response; `collapse` says how `stream: false` turns it into one object.

    `"last"` answers with the last event (`waitForStream`); `"none"` means the endpoint
    already handled `stream: false` and this is always NDJSON.
    """

    events: Iterator[dict[str, Any]]
    stream: bool = True
    collapse: str = "last"


_GO_TYPES = {
    "files": (dict, "map[string]string"),
    "adapters": (dict, "map[string]string"),
    "draft_files": (dict, "map[string]string"),
    "parameters": (dict, "map[string]interface {}"),
    "messages": (list, "[]api.Message"),
    "model": (str, "string"),
    "from": (str, "string"),
    "template": (str, "string"),
    "system": (str, "string"),
}


def _check_types(req: dict[str, Any], struct: str) -> None:
    """The `json: cannot unmarshal` errors gin returns for wrongly-typed fields."""
    for key, (kind, go_type) in _GO_TYPES.items():
        value = req.get(key)
        if value is not None and not isinstance(value, kind):
            found = {
                str: "string",
                int: "number",
                float: "number",
                bool: "bool",
                list: "array",
                dict: "object",
            }
            got = found.get(type(value), "value")
            field = f"{struct}.{key}"
            message = f"json: cannot unmarshal {got} into Go struct field {field} of type {go_type}"
            raise ApiError(400, message)


class OllamaApi:
    """All routes of the double, bound to one store."""

    def __init__(
        self,
        store: Store,
        *,
        version: str,
        models_dir: str,
        rewrite_gguf: bool = True,
        embed_dim: int = 256,
    ) -> None:
        self.store = store
        self.version = version
        self.ctx = CreateContext(
            store, models_dir=models_dir, rewrite_gguf=rewrite_gguf, version=version
        )
        self.inference = Inference(store, embed_dim=embed_dim)

    # -- general ------------------------------------------------------------------------------
    def root(self, _req: Any) -> Result:
        return Result(text="Ollama is running")

    def get_version(self, _req: Any) -> Result:
        return Result(body={"version": self.version})

    def tags(self, _req: Any) -> Result:
        return Result(body=list_body(self.store))

    def ps(self, _req: Any) -> Result:
        return Result(body=self.inference.ps())

    # -- blobs --------------------------------------------------------------------------------
    def head_blob(self, digest: str) -> Result:
        digest = unquote(digest)
        canonical = check_digest(digest)
        if not self.store.has_blob(canonical):
            return Result(404, {"error": f"blob {go_quote(digest)} not found"})
        return Result()

    def post_blob(self, digest: str, data: bytes) -> Result:
        digest = unquote(digest)
        canonical = check_digest(digest)
        if self.store.has_blob(canonical):
            return Result(200)
        actual, _ = self.store.put_blob(data)  # stored under its real digest, like NewLayer
        if actual != digest:
            message = f"digest mismatch, expected {go_quote(digest)}, got {go_quote(actual)}"
            return Result(400, {"error": message})
        return Result(201)

    # -- models -------------------------------------------------------------------------------
    def create(self, req: dict[str, Any]) -> Stream:
        _check_types(req, "CreateRequest")
        name = validate_create(self.ctx, req)
        return Stream(create_events(self.ctx, req, name), stream=req.get("stream") is not False)

    def pull(self, req: dict[str, Any]) -> Stream:
        raw = req.get("model") or req.get("name") or ""
        try:
            ref = parse_ref(raw)
        except RefError as exc:
            message = "invalid model name" if "required" in str(exc) else str(exc)
            raise ApiError(400, message) from None
        name = parse_name(ref.base)
        if not name.valid:
            raise ApiError(400, "invalid model name")
        name = self.store.existing_name(name)
        events = pull_events(self.store, name, insecure=bool(req.get("insecure")))
        return Stream(events, stream=req.get("stream") is not False)

    def show(self, req: dict[str, Any]) -> Result:
        raw = req.get("model") or req.get("name") or ""
        if not raw:
            raise ApiError(400, "model is required")
        try:
            ref = parse_ref(raw)
        except RefError as exc:
            raise ApiError(400, str(exc)) from None
        name = parse_name(ref.base)
        if not name.valid:
            raise ApiError(400, "invalid model name")
        name, record = self.store.resolve(name)
        if record is None:
            raise ApiError(404, f"model '{name.short}' not found")
        view = load_model(self.store, name, record)
        return Result(body=show_body(view, req, blob_path=self.ctx.blob_path))

    def copy(self, req: dict[str, Any]) -> Result:
        source, destination = req.get("source") or "", req.get("destination") or ""
        src = parse_name(source)
        if not src.valid:
            raise ApiError(400, f"source {go_quote(source)} is invalid")
        src = self.store.existing_name(src)
        dst = parse_name(destination)
        if not dst.valid:
            raise ApiError(400, f"destination {go_quote(destination)} is invalid")
        dst = self.store.existing_name(dst)
        with self.store.lock:
            record = self.store.get_manifest(src)
            if record is None:
                raise ApiError(404, f"model {go_quote(source)} not found")
            if src.key != dst.key:
                self.store.write_manifest(dst, record.data)
        return Result()

    def delete(self, req: dict[str, Any]) -> Result:
        raw = req.get("model") or req.get("name") or ""
        try:
            ref = parse_ref(raw)
        except RefError as exc:
            raise ApiError(400, str(exc)) from None
        name = parse_name(ref.base)
        if not name.valid:
            raise ApiError(400, f"name {go_quote(raw)} is invalid")
        with self.store.lock:
            name, record = self.store.resolve(name)
            if record is None:
                raise ApiError(404, f"model '{raw}' not found")
            self.store.remove_manifest(name)
            self.store.remove_unused(record)
        self.inference.loaded.pop(name.short, None)
        return Result()

    def push(self, req: dict[str, Any]) -> Stream:
        """Push the local manifest and blobs to the pretend registry."""
        raw = req.get("model") or req.get("name") or ""
        if not raw:
            raise ApiError(400, "model is required")
        name = parse_name(raw)
        if not name.valid:
            raise ApiError(400, "invalid model name")

        def events() -> Iterator[dict[str, Any]]:
            yield {"status": "retrieving manifest"}
            resolved, record = self.store.resolve(name)
            if record is None:
                raise ApiError(500, f"open {resolved}: no such file or directory")
            for layer in [*record.layers, record.config]:
                blob = self.store.get_blob(layer.digest) or b""
                status = f"pushing {layer.digest[7:19]}"
                yield {
                    "status": status,
                    "digest": layer.digest,
                    "total": layer.size,
                    "completed": layer.size,
                }
                with self.store.lock:
                    self.store.registry.blobs[sha256_digest(blob)] = blob
            yield {"status": "pushing manifest"}
            with self.store.lock:
                self.store.registry.manifests[resolved.folded] = record.data
            yield {"status": "success"}

        return Stream(events(), stream=req.get("stream") is not False)

    # -- inference ----------------------------------------------------------------------------
    def generate(self, req: dict[str, Any]) -> Result | Stream:
        out = self.inference.generate(req)
        return Result(body=out) if isinstance(out, dict) else Stream(out, collapse="none")

    def chat(self, req: dict[str, Any]) -> Result | Stream:
        out = self.inference.chat(req)
        return Result(body=out) if isinstance(out, dict) else Stream(out, collapse="none")

    def embed(self, req: dict[str, Any]) -> Result:
        return Result(body=self.inference.embed(req))

    def embeddings(self, req: dict[str, Any]) -> Result:
        return Result(body=self.inference.embeddings(req))
