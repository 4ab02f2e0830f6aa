"""The one place that talks to Ollama: a thin, typed wrapper over `ollama.Client`.

Everything else in mfops speaks in frozen dataclasses (`ServerModel`, `ServerConfig`,
`Progress`) and `ServerError`s; only this module imports `ollama` and `httpx`, and only
inside functions, so `mfops --help` never pays for them.

What the wrapper adds to the client, and why:

- **One error per situation.** A dead server is `ServerUnreachable`, one line naming the host
  and how to start Ollama (the client raises a builtin `ConnectionError` for plain calls but
  `httpx.ConnectError` on the first `next()` of a stream); an HTTP error is `ServerHTTPError`
  naming the action, the model and the server's own message; an answer that cannot be
  Ollama's (an HTML page with status 200, truncated JSON, fields of the wrong type) is a
  `ServerProtocolError` naming the call, never a traceback and never retried.
- **Bounded retries** with exponential backoff on connection errors and 5xx answers, for the
  calls that are safe to repeat. `create` counts as one: it names its target and replaces
  it, and identical inputs give an identical manifest (ollama-reference §6.4). An `{"error"}`
  line inside a stream is the server's verdict on the request and is never retried.
- **Timeouts.** The client's default is none at all; mfops always sets connect and read
  timeouts (a create that pulls a base can stream for long, so the read timeout is per line).
- **Fields the client lacks.** `create` has no arguments for RENDERER, PARSER, REQUIRES or
  DRAFT, and `show` drops `system` and `messages`. When a request needs those fields it is
  posted as raw JSON through the client's own request machinery (`Client._request` /
  `_request_raw`, private, so `ollama` is capped below the next minor and
  tests/test_ollama_private_api.py guards their shape), so errors are converted the same way.
- **Blobs** are HEAD-checked first and uploaded streaming from disk, never read whole.
- **Inference** for behavioural tests: `chat` (not streamed, with its measured latency) and
  `embed`, the two calls `mfops.behave` needs (its `ModelClient` protocol).

Which host to talk to is decided in hosts.py; what to send for a repo model in request.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mfops.errors import ServerError
from mfops.server.hosts import DEFAULT_HOST, Host, normalize_host, resolve_host
from mfops.server.request import CreateRequest
from mfops.server.show import ServerConfig, config_from_show

__all__ = [
    "DEFAULT_HOST",
    "CreateRequest",
    "Host",
    "Progress",
    "Server",
    "ServerConfig",
    "ServerError",
    "ServerHTTPError",
    "ServerModel",
    "ServerOptions",
    "ServerProtocolError",
    "ServerTimeout",
    "ServerUnreachable",
    "file_sha256",
    "normalize_host",
    "resolve_host",
]

_CHUNK = 1 << 20

T = TypeVar("T")


# --------------------------------------------------------------------------- errors


class ServerUnreachable(ServerError):
    """Nothing answers at the host: Ollama is not running there (exit 2)."""

    def __init__(self, host: Host, detail: str = "") -> None:
        super().__init__(
            f"cannot reach Ollama at {host.display}" + (f" ({detail})" if detail else ""),
            hint="start it with `ollama serve`, or point --host / OLLAMA_HOST at a running server",
        )
        self.host = host


class ServerHTTPError(ServerError):
    """The server answered a request with an error; `status` is -1 for a mid-stream error."""

    def __init__(self, host: Host, action: str, model: str | None, status: int, error: str) -> None:
        what = f"{action} {model}" if model else action
        shown = f"HTTP {status}" if status > 0 else "during the stream"
        super().__init__(f"Ollama at {host.display}: {what}: {error} ({shown})")
        self.host = host
        self.action = action
        self.model = model
        self.status = status
        self.error = error


class ServerTimeout(ServerError):
    """The server accepted the connection but did not answer in time."""


class ServerProtocolError(ServerError):
    """The connection broke mid-answer, or the answer is not what Ollama sends."""


class _BadAnswer(Exception):
    """Raised inside a call when an answer cannot be Ollama's (an HTML login page with
    status 200, truncated JSON, a list where an object belongs, fields of the wrong type):
    `call` turns it into one ServerProtocolError naming the call, and never retries it."""


#: What decoding a malformed answer raises: JSON syntax and pydantic validation errors are
#: ValueErrors; a list where the client expects a dict gives AttributeError or TypeError.
_DECODE_ERRORS = (ValueError, RecursionError, AttributeError, TypeError, KeyError)


def _why(exc: BaseException) -> str:
    import json

    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _object(response: Any) -> dict[str, Any]:
    """The JSON object of a plain (not streamed) answer."""
    try:
        data = response.json()
    except (ValueError, RecursionError) as exc:
        raise _BadAnswer(_why(exc)) from None
    if not isinstance(data, dict):
        raise _BadAnswer(f"expected a JSON object, got {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ServerOptions:
    """Timeouts (seconds) and retry policy. `read` applies per chunk, so long streams are fine."""

    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    retries: int = 2
    backoff: float = 0.2


@dataclass(frozen=True)
class ServerModel:
    """One `/api/tags` entry: display name and manifest digest (64 hex, no prefix)."""

    name: str
    digest: str
    size: int = 0
    parent_model: str = ""


@dataclass(frozen=True)
class Progress:
    """One line of a create or pull stream."""

    model: str
    status: str
    completed: int | None = None
    total: int | None = None
    digest: str | None = None


ProgressFn = Callable[[Progress], None]


def _listing(body: dict[str, Any]) -> dict[str, ServerModel]:
    """`/api/tags` by case-folded name; a field of the wrong type raises (a bad answer)."""
    out: dict[str, ServerModel] = {}
    models = body.get("models") or []
    if not isinstance(models, list):
        raise TypeError("'models' is not a list")
    for entry in models:
        name = entry.get("name") or entry.get("model") or ""
        details = entry.get("details") or {}
        if not isinstance(name, str) or not isinstance(details, dict):
            raise TypeError("a model entry's name or details have the wrong type")
        out[name.casefold()] = ServerModel(
            name,
            str(entry.get("digest", "")),
            int(entry.get("size") or 0),
            str(details.get("parent_model") or ""),
        )
    return out


def file_sha256(path: str | Path) -> str:
    """`sha256:<hex>` of a file, read in chunks (weights can be many gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------- the client


class Server:
    """One Ollama server. Thread-safe: the underlying httpx client is shared by all threads."""

    def __init__(self, host: Host, options: ServerOptions | None = None) -> None:
        self.host = host
        self.options = options or ServerOptions()
        self._client: Any = None
        self._lock = threading.Lock()
        self._blobs: dict[str, threading.Lock] = {}
        self._have_blobs: set[str] = set()

    # -- plumbing --------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The `ollama.Client`, created on first use."""
        with self._lock:
            if self._client is None:
                import httpx
                import ollama

                opts = self.options
                timeout = httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout)
                # Keep a connection per build thread alive (httpx keeps 20 by default).
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
                self._client = ollama.Client(host=self.host.url, timeout=timeout, limits=limits)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _translate(self, exc: BaseException, action: str, model: str | None) -> ServerError:
        import httpx
        import ollama

        if isinstance(exc, ollama.ResponseError):
            error = str(exc.error).strip() or "(empty answer)"
            if error.lstrip().startswith("<"):  # an HTML page from a proxy in front of Ollama
                error = "the server answered with an HTML page, not Ollama's JSON"
            return ServerHTTPError(self.host, action, model, exc.status_code, error)
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return ServerUnreachable(self.host)
        what = f"{action} {model}" if model else action
        if isinstance(exc, httpx.TimeoutException):
            return ServerTimeout(
                f"Ollama at {self.host.display}: {what}: no answer in time ({type(exc).__name__})",
                hint="raise --timeout if the server is busy",
            )
        return ServerProtocolError(
            f"Ollama at {self.host.display}: {what}: connection broken ({type(exc).__name__}:"
            f" {exc or 'no detail'})"
        )

    def _bad_answer(self, action: str, model: str | None, detail: str) -> ServerProtocolError:
        what = f"{action} {model}" if model else action
        return ServerProtocolError(
            f"Ollama at {self.host.display}: {what}: the answer is not what Ollama sends "
            f"({detail})",
            hint="is --host an Ollama server, not a proxy or another service?",
        )

    def _retryable(self, exc: BaseException) -> bool:
        import httpx
        import ollama

        if isinstance(exc, ollama.ResponseError):
            return exc.status_code >= 500
        return isinstance(exc, (ConnectionError, httpx.TransportError))

    def call(self, action: str, model: str | None, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run `fn`, retrying transient failures when `retry`; raise ServerError otherwise."""
        import httpx
        import ollama

        attempts = self.options.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                return fn()
            except (ollama.ResponseError, ConnectionError, httpx.TransportError) as exc:
                if attempt + 1 >= attempts or not self._retryable(exc):
                    raise self._translate(exc, action, model) from None
                time.sleep(self.options.backoff * (2**attempt))
            except _BadAnswer as exc:
                raise self._bad_answer(action, model, str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- simple calls ----------------------------------------------------------------------

    def version(self) -> str:
        """The server's version; also the liveness probe every command starts with."""
        body = self.call(
            "version", None, lambda: _object(self.client._request_raw("GET", "/api/version"))
        )
        return str(body.get("version", ""))

    def models(self) -> dict[str, ServerModel]:
        """Every local model by case-folded display name (`bot:v1`), from one `/api/tags`."""

        def fetch() -> dict[str, ServerModel]:
            body = _object(self.client._request_raw("GET", "/api/tags"))
            try:
                return _listing(body)
            except _DECODE_ERRORS as exc:
                raise _BadAnswer(_why(exc)) from None

        return self.call("list", None, fetch)

    def show_raw(self, name: str) -> dict[str, Any] | None:
        """The full `/api/show` JSON (the client drops `system` and `messages`); None: 404."""
        import ollama

        def fetch() -> dict[str, Any] | None:
            try:
                return _object(self.client._request_raw("POST", "/api/show", json={"model": name}))
            except ollama.ResponseError as err:
                if err.status_code == 404:
                    return None
                raise

        return self.call("show", name, fetch)

    def show(self, name: str) -> ServerConfig | None:
        """What the server holds for `name`, typed; None when there is no such model."""
        body = self.show_raw(name)
        if body is None:
            return None
        try:
            return config_from_show(name, body)
        except _DECODE_ERRORS as exc:
            raise self._bad_answer("show", name, _why(exc)) from None

    def copy(self, source: str, destination: str) -> None:
        self.call(
            "copy",
            f"{source} -> {destination}",
            lambda: self.client.copy(source=source, destination=destination),
        )

    def delete(self, name: str) -> None:
        self.call("delete", name, lambda: self.client.delete(model=name))

    # -- inference (behavioural tests: mfops.behave.client.ModelClient) ------------------

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: dict[str, Any],
        format: str | dict[str, Any] | None = None,
    ) -> tuple[str, float]:
        """The assistant's reply (not streamed) and its latency in ms. Retried like any safe
        call; the latency is that of the attempt that answered, not of the retries."""
        latency = [0.0]

        def ask() -> str:
            started = time.monotonic()
            try:
                reply = self.client.chat(
                    model=model,
                    messages=messages,
                    options=options,
                    format=format or None,
                    stream=False,
                )
                latency[0] = (time.monotonic() - started) * 1000.0
                return str(reply.message.content or "")
            except _DECODE_ERRORS as exc:
                raise _BadAnswer(_why(exc)) from None

        return self.call("chat with", model, ask), latency[0]

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One embedding per text, from `/api/embed` (L2-normalised by the server)."""

        def ask() -> list[list[float]]:
            try:
                reply = self.client.embed(model=model, input=list(texts))
                return [[float(x) for x in vec] for vec in reply.embeddings]
            except _DECODE_ERRORS as exc:
                raise _BadAnswer(_why(exc)) from None

        return self.call("embed with", model, ask)

    # -- streams ---------------------------------------------------------------------------

    def _consume(self, name: str, stream: Iterator[Any], progress: ProgressFn | None) -> str:
        """Read a progress stream to its end (a pull inside a create says `success` early)."""
        last = ""
        parts = iter(stream)
        while True:
            try:
                part = next(parts)
                last = str(part.get("status") or "")
                step = Progress(
                    name, last, part.get("completed"), part.get("total"), part.get("digest")
                )
            except StopIteration:
                return last
            except _DECODE_ERRORS as exc:  # a line that is not Ollama's progress JSON
                raise _BadAnswer(_why(exc)) from None
            if progress is not None:
                progress(step)

    def pull(
        self, name: str, progress: ProgressFn | None = None, *, insecure: bool = False
    ) -> None:
        """Pull `name` from its registry, reporting progress; idempotent, so retried.
        `insecure` lets Ollama use plain http (a registry listed as insecure in mfops.yaml)."""

        def run() -> str:
            stream = self.client.pull(model=name, insecure=insecure, stream=True)
            return self._consume(name, stream, progress)

        last = self.call("pull", name, run)
        if last != "success":
            raise ServerProtocolError(
                f"Ollama at {self.host.display}: pull {name}: stream ended with {last!r}"
            )

    def create(self, request: CreateRequest, progress: ProgressFn | None = None) -> None:
        """Create a model from structured fields; raw JSON when the client lacks a field."""
        from ollama import ProgressResponse

        body = request.to_json()

        def run() -> str:
            client = self.client
            if request.needs_raw:
                stream = client._request(
                    ProgressResponse,
                    "POST",
                    "/api/create",
                    json={**body, "stream": True},
                    stream=True,
                )
            else:
                stream = client.create(
                    model=request.model,
                    from_=body.get("from"),
                    files=body.get("files"),
                    adapters=body.get("adapters"),
                    template=body.get("template"),
                    license=body.get("license"),
                    system=body.get("system"),
                    parameters=body.get("parameters"),
                    messages=body.get("messages"),
                    stream=True,
                )
            return self._consume(request.model, stream, progress)

        last = self.call("create", request.model, run)
        if last != "success":
            raise ServerProtocolError(
                f"Ollama at {self.host.display}: create {request.model}: stream ended with"
                f" {last!r}, not 'success'"
            )

    # -- blobs -----------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        import ollama

        def head() -> bool:
            try:
                self.client._request_raw("HEAD", f"/api/blobs/{digest}")
            except ollama.ResponseError as err:
                if err.status_code == 404:
                    return False
                raise
            return True

        return self.call("check blob", digest, head)

    def ensure_blob(self, path: str | Path, digest: str | None = None) -> str:
        """Make sure the server holds `path`'s content; returns its `sha256:` digest.

        HEAD first (a blob already there costs nothing); otherwise the file is streamed from
        disk. Each digest is checked once per `Server`, even when many threads need it.
        """
        digest = digest or file_sha256(path)
        with self._lock:
            gate = self._blobs.setdefault(digest, threading.Lock())
        with gate:
            if digest in self._have_blobs:
                return digest
            if not self.has_blob(digest):

                def upload() -> None:
                    with open(path, "rb") as fh:
                        self.client._request_raw("POST", f"/api/blobs/{digest}", content=fh)

                self.call("upload blob", f"{Path(path).name} ({digest[:19]})", upload)
            self._have_blobs.add(digest)
        return digest
