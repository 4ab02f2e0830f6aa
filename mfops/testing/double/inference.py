"""`/api/generate`, `/api/chat`, `/api/embed` and `/api/embeddings` around the toy model.

The request checks, the error texts and statuses, the way the model's SYSTEM and MESSAGEs are
merged into the conversation, and the response shapes (chunks, final `done` object with
nanosecond durations) follow `server/routes.go`. Only the text itself comes from the toy
model. Option types are checked like `api.Options.FromMap`, so a model built with a
wrongly-typed PARAMETER fails every inference call with 500, as it would on Ollama.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import toymodel
from .gocompat import go_quote, go_time
from .names import RefError, parse_name, parse_ref
from .show import capabilities
from .store import ApiError, ModelView, Store, load_model

OPTION_TYPES: dict[str, str] = {
    "num_ctx": "int",
    "num_batch": "int",
    "num_gpu": "int",
    "main_gpu": "int",
    "use_mmap": "boolptr",
    "num_thread": "int",
    "draft_num_predict": "int",
    "num_keep": "int",
    "seed": "int",
    "num_predict": "int",
    "top_k": "int",
    "top_p": "float",
    "min_p": "float",
    "typical_p": "float",
    "repeat_last_n": "int",
    "temperature": "float",
    "repeat_penalty": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
    "stop": "list",
}
DEFAULT_OPTIONS: dict[str, Any] = {
    "temperature": 0.8,
    "seed": -1,
    "num_predict": -1,
    "top_k": 40,
    "top_p": 0.9,
}


@dataclass
class Loaded:
    """A model the double pretends to hold in memory (for `/api/ps`)."""

    view: ModelView
    expires_ns: int


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """`Options.FromMap` type rules: unknown keys ignored, wrong types fail the request."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        kind = OPTION_TYPES.get(key)
        if kind is None or value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "int" and not number:
            raise ApiError(500, f'option "{key}" must be of type integer')
        if kind == "float" and not number:
            raise ApiError(500, f'option "{key}" must be of type float32')
        if kind == "boolptr" and not isinstance(value, bool):
            raise ApiError(500, f'option "{key}" must be of type boolean')
        if kind == "list":
            if not isinstance(value, list):
                raise ApiError(500, f'option "{key}" must be of type array')
            if not all(isinstance(v, str) for v in value):
                raise ApiError(500, f'option "{key}" must be of an array of strings')
        out[key] = int(value) if kind == "int" else value
    return out


def effective_options(view: ModelView, request: dict[str, Any] | None) -> dict[str, Any]:
    """Server defaults, then the model's params layer, then the request (key by key)."""
    merged = dict(DEFAULT_OPTIONS)
    merged.update(check_options(view.parameters))
    merged.update(check_options(request or {}))
    return merged


def check_format(fmt: Any) -> None:
    if fmt in (None, "", "json") or isinstance(fmt, dict):
        return
    import json

    raw = json.dumps(fmt)
    raise ApiError(
        500, f'invalid format: {go_quote(raw)}; expected "json" or a valid JSON Schema object'
    )


class Inference:
    """The inference endpoints; holds the `/api/ps` table."""

    def __init__(self, store: Store, *, embed_dim: int = toymodel.EMBED_DIM) -> None:
        self.store = store
        self.embed_dim = embed_dim
        self.loaded: dict[str, Loaded] = {}

    # -- helpers -------------------------------------------------------------------------
    def _model(
        self, raw: str, *, not_found: str, bad_ref_status: int, bad_ref_msg: str
    ) -> ModelView:
        try:
            ref = parse_ref(raw)
        except RefError as exc:
            if "required" in str(exc):
                raise ApiError(bad_ref_status, bad_ref_msg) from None
            raise ApiError(400, str(exc)) from None
        name = parse_name(ref.base)
        if not name.valid:
            raise ApiError(400, "invalid model name")
        if ref.source == "cloud":
            raise ApiError(500, "cloud models are not supported by the Ollama test double")
        name, record = self.store.resolve(name)
        if record is None:
            raise ApiError(404, not_found)
        return load_model(self.store, name, record)

    def _touch(self, view: ModelView, keep_alive: Any) -> None:
        seconds = _keep_alive_seconds(keep_alive)
        if seconds is None:
            seconds = 300.0  # Ollama's default keep_alive: 5 minutes
        key = view.name.short
        if seconds == 0:
            self.loaded.pop(key, None)
        else:
            forever = 10**9  # a negative keep_alive keeps the model loaded indefinitely
            expires = time.time_ns() + int((seconds if seconds > 0 else forever) * 1e9)
            self.loaded[key] = Loaded(view, expires)

    # -- chat / generate -------------------------------------------------------------------
    def chat(self, req: dict[str, Any]) -> Iterator[dict[str, Any]] | dict[str, Any]:
        """`/api/chat`; returns the chunk iterator (stream) or the single response."""
        model = req.get("model") or ""
        view = self._model(
            model,
            not_found=f"model '{model}' not found",
            bad_ref_status=400,
            bad_ref_msg="model is required",
        )
        messages = [dict(m, role=str(m.get("role", "")).lower()) for m in req.get("messages") or []]
        if not messages and _keep_alive_seconds(req.get("keep_alive")) == 0:
            self.loaded.pop(view.name.short, None)
            return self._final(req, "unload", chat=True, stream=False)
        self._check_caps(view, req, "chat")
        options = effective_options(view, req.get("options"))
        check_format(req.get("format"))
        self._touch(view, req.get("keep_alive"))
        if not messages:
            return self._final(req, "load", chat=True, stream=False)
        convo = [dict(m) for m in view.messages] + messages
        if messages[0].get("role") != "system" and view.system:
            convo.insert(0, {"role": "system", "content": view.system})
        reply = toymodel.compose(convo, options, fmt=req.get("format"))
        return self._respond(req, reply, chat=True)

    def generate(self, req: dict[str, Any]) -> Iterator[dict[str, Any]] | dict[str, Any]:
        """`/api/generate`: SYSTEM (or the request's), MESSAGEs, then the prompt."""
        model = req.get("model") or ""
        not_found = f"model '{model}' not found"
        view = self._model(model, not_found=not_found, bad_ref_status=404, bad_ref_msg=not_found)
        prompt = req.get("prompt") or ""
        if not prompt and _keep_alive_seconds(req.get("keep_alive")) == 0:
            self.loaded.pop(view.name.short, None)
            return self._final(req, "unload", chat=False, stream=False)
        if req.get("raw") and (req.get("template") or req.get("system") or req.get("context")):
            raise ApiError(400, "raw mode does not support template, system, or context")
        self._check_caps(view, req, "generate")
        options = effective_options(view, req.get("options"))
        check_format(req.get("format"))
        self._touch(view, req.get("keep_alive"))
        if not prompt:
            return self._final(req, "load", chat=False, stream=False)
        convo: list[dict[str, Any]] = []
        if not req.get("raw"):
            system = req.get("system") or view.system
            if system:
                convo.append({"role": "system", "content": system})
            if req.get("context") is None:
                convo.extend(dict(m) for m in view.messages)
        convo.append({"role": "user", "content": prompt})
        reply = toymodel.compose(convo, options, fmt=req.get("format"))
        return self._respond(req, reply, chat=False)

    def _check_caps(self, view: ModelView, req: dict[str, Any], what: str) -> None:
        caps = capabilities(view)
        think = req.get("think")
        if think not in (None, False) and "thinking" not in caps:
            raise ApiError(400, f"{go_quote(req.get('model') or '')} does not support thinking")
        if "completion" not in caps:
            raise ApiError(400, f"{go_quote(req.get('model') or '')} does not support {what}")
        if what == "generate" and req.get("suffix") and "insert" not in caps:
            raise ApiError(400, f"{go_quote(req.get('model') or '')} does not support insert")
        if what == "chat" and req.get("tools") and "tools" not in caps:
            raise ApiError(400, f"{go_quote(req.get('model') or '')} does not support tools")

    def _final(
        self, req: dict[str, Any], reason: str, *, chat: bool, stream: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"model": req.get("model") or "", "created_at": go_time()}
        if chat:
            out["message"] = {"role": "assistant", "content": ""}
        else:
            out["response"] = ""
        out["done"] = True
        out["done_reason"] = reason
        return out

    def _respond(
        self, req: dict[str, Any], reply: toymodel.Reply, *, chat: bool
    ) -> Iterator[dict[str, Any]] | dict[str, Any]:
        model = req.get("model") or ""
        eval_count = len(reply.tokens)
        metrics = {
            "total_duration": 5_000_000 + reply.prompt_tokens * 200_000 + eval_count * 2_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": reply.prompt_tokens,
            "prompt_eval_duration": reply.prompt_tokens * 200_000,
            "eval_count": eval_count,
            "eval_duration": eval_count * 2_000_000,
        }
        metrics = {k: v for k, v in metrics.items() if v}

        def chunk(text: str, done: bool) -> dict[str, Any]:
            out: dict[str, Any] = {"model": model, "created_at": go_time()}
            if chat:
                out["message"] = {"role": "assistant", "content": text}
            else:
                out["response"] = text
            out["done"] = done
            if done:
                out["done_reason"] = reply.done_reason
                if not chat:
                    out["context"] = [_token_id(t) for t in reply.tokens][:64] or None
                    if out["context"] is None:
                        del out["context"]
                out.update(metrics)
            return out

        if req.get("stream") is False:
            return chunk(reply.text, True)

        def chunks() -> Iterator[dict[str, Any]]:
            for token in reply.tokens:
                yield chunk(token, False)
            yield chunk("", True)

        return chunks()

    # -- embeddings ------------------------------------------------------------------------
    def embed(self, req: dict[str, Any]) -> dict[str, Any]:
        """`/api/embed`: a string or a list of strings, L2-normalised vectors."""
        model = req.get("model") or ""
        raw = req.get("input")
        if isinstance(raw, str):
            inputs = [raw] if raw else []
        elif isinstance(raw, list):
            if not all(isinstance(x, str) for x in raw):
                raise ApiError(400, "invalid input type")
            inputs = list(raw)
        elif raw is None:
            inputs = []
        else:
            raise ApiError(400, "invalid input type")
        not_found = f"model {go_quote(model)} not found, try pulling it first"
        view = self._model(
            model, not_found=not_found, bad_ref_status=404, bad_ref_msg=f"model '{model}' not found"
        )
        effective_options(view, req.get("options"))
        self._touch(view, req.get("keep_alive"))
        if not inputs:
            return {"model": model, "embeddings": []}
        dims = req.get("dimensions") or 0
        vectors = []
        for text in inputs:
            vec = toymodel.embed(text, self.embed_dim)
            if dims and 0 < int(dims) < len(vec):
                vec = toymodel.normalize(vec[: int(dims)])
            vectors.append(vec)
        count = sum(len(t.split()) for t in inputs)
        out: dict[str, Any] = {"model": model, "embeddings": vectors}
        out["total_duration"] = 2_000_000 + count * 100_000
        out["load_duration"] = 1_000_000
        if count:
            out["prompt_eval_count"] = count
        return out

    def embeddings(self, req: dict[str, Any]) -> dict[str, Any]:
        """Legacy `/api/embeddings`: `{model, prompt}` -> `{embedding}`."""
        model = req.get("model") or ""
        view = self._model(
            model,
            not_found=f"model {go_quote(model)} not found, try pulling it first",
            bad_ref_status=400,
            bad_ref_msg="model is required",
        )
        effective_options(view, req.get("options"))
        self._touch(view, req.get("keep_alive"))
        prompt = req.get("prompt") or ""
        if not prompt:
            return {"embedding": []}
        return {"embedding": toymodel.embed(prompt, self.embed_dim)}

    # -- ps ----------------------------------------------------------------------------------
    def ps(self) -> dict[str, Any]:
        from .show import details

        now = time.time_ns()
        models = []
        for key, loaded in sorted(self.loaded.items(), key=lambda kv: -kv[1].expires_ns):
            if loaded.expires_ns < now:
                continue
            view = loaded.view
            models.append(
                {
                    "name": key,
                    "model": key,
                    "size": view.record.size,
                    "digest": view.record.digest,
                    "details": details(view),
                    "expires_at": go_time(loaded.expires_ns, utc=False),
                    "size_vram": view.record.size,
                    "context_length": int(view.parameters.get("num_ctx", 4096)),
                }
            )
        return {"models": models}


def _token_id(token: str) -> int:
    return sum(token.encode()) * 31 % 32000


def _keep_alive_seconds(value: Any) -> float | None:
    """Seconds from a number or a Go duration string; None when not given."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        import re

        total = 0.0
        units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        parts = re.findall(r"(-?[0-9.]+)(ns|us|µs|ms|s|m|h)", value)
        if not parts:
            if value.strip() == "0":
                return 0.0
            raise ApiError(400, f"time: missing unit in duration {go_quote(value)}")
        for number, unit in parts:
            total += float(number) * units[unit]
        return total
    return None
