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
  calls that are safe to repeat. A create or pull is repeated only when it has ended on the
  server (a 5xx, a hang-up), never after a timeout: the first may still be running, and two
  creates of one name race (issue 13 item 5). An `{"error"}` line inside a stream is the
  server's verdict on the request and is never retried.
- **Deadlines per kind of call** (`ServerOptions`): plain calls have a wall-clock deadline
  for the whole call, retries included (`--timeout`); creates and pulls a long per-line
  timeout and no wall deadline; chats the deadline their caller gives (the test runner's
  per-case one). The client's own default is no timeout at all. How a wall deadline is
  kept (host-name lookups included) is in deadline.py, shared with the registry client.
- **Credentials** in the host URL travel as HTTP Basic (the client drops them).
- **Fields the client lacks.** `create` has no arguments for RENDERER, PARSER, REQUIRES or
  DRAFT, and `show` drops `system` and `messages`. Creates, pulls, shows, copies and chats
  are posted as raw JSON through the client's own request machinery (`Client._request` /
  `_request_raw`, private, so `ollama` is capped below the next minor and
  tests/test_ollama_private_api.py guards their shape), so errors are converted the same way
  and each request can carry its own timeout.
- **CPU per call** (a build verifies every model with two calls, and 20 threads share one
  interpreter): URLs are merged with the host once (`_url`), the cookie jar is passed over
  for answers that set no cookie (`_skip_cookieless`), a request's head and small body go
  out in one write (`deadline.deadline_backend`), and progress lines of Ollama's own types
  are not made into pydantic models (`_progress_part`).
- **Blobs** are HEAD-checked first and uploaded streaming from disk, never read whole.
- **Inference** for behavioural tests: `chat` (not streamed, with the server-timed latency) and
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
from mfops.server.deadline import Expired, clamp_pools, within
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


def _clamp_reads(ollama_client: Any) -> bool:
    """Put `deadline_backend` under the httpx client of `ollama_client`; False (the call
    then runs on a thread of its own, `within`) when its transport is not the plain one
    this knows (a proxy mounted from the environment, another httpx)."""
    return clamp_pools(getattr(ollama_client, "_client", None), proxies=False)


def _skip_cookieless(ollama_client: Any) -> None:
    """Let the httpx client of `ollama_client` pass over its cookie jar for an answer that
    sets no cookie (every answer of Ollama itself).

    httpx hands each response to `http.cookiejar` through urllib request and response
    adapters, about a tenth of a plain call's CPU, and the jar finds nothing without a
    `Set-Cookie` header (its default policy ignores `Set-Cookie2`). An answer that sets one,
    from a proxy in front of Ollama, is stored and sent back as before."""
    jar = getattr(getattr(ollama_client, "_client", None), "_cookies", None)
    extract = getattr(jar, "extract_cookies", None)
    if extract is None:
        return

    def extract_cookies(response: Any) -> None:
        if "set-cookie" in response.headers:
            extract(response)

    jar.extract_cookies = extract_cookies  # type: ignore[union-attr]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ServerOptions:
    """Deadlines (seconds) and retry policy, per kind of call (issue 13 item 5).

    - `timeout` bounds each whole call that is not a stream, retries and backoff included:
      a real wall-clock deadline, so a server that drips one byte at a time cannot keep a
      command running past it (httpx's own timeout only bounds each read).
    - `connect_timeout` bounds opening a connection (the probe that finds a dead host).
    - `stream_timeout` is the per-line read timeout of creates and pulls, which can stay
      silent for many minutes (a safetensors conversion). They are never re-sent once the
      request may have reached the server: a second create could race the first.
    - Chats carry their own deadline (the test runner's per-case one).
    """

    timeout: float = 600.0
    connect_timeout: float = 10.0
    stream_timeout: float = 3600.0
    retries: int = 2
    backoff: float = 0.2

    @property
    def read_timeout(self) -> float:
        """httpx's per-read timeout: never longer than a whole plain call may take."""
        return self.timeout


@dataclass(frozen=True)
class ServerModel:
    """One `/api/tags` entry: display name and manifest digest (64 hex, no prefix); when the
    manifest was last written (`modified_at`, the text `/api/show` gives too)."""

    name: str
    digest: str
    size: int = 0
    parent_model: str = ""
    modified_at: str = ""


@dataclass(frozen=True)
class Progress:
    """One line of a create or pull stream."""

    model: str
    status: str
    completed: int | None = None
    total: int | None = None
    digest: str | None = None


ProgressFn = Callable[[Progress], None]

#: The fields of a progress line (`ollama.ProgressResponse`) and their JSON types.
_PROGRESS_TYPES = (("status", str), ("completed", int), ("total", int), ("digest", str))


def _progress_part(**part: Any) -> Any:
    """One line of a progress stream, as the client's `_request` makes it (`cls(**line)`).

    A line of the types Ollama sends is its dict as it is: validating it into a pydantic
    `ProgressResponse` and reading it back field by field cost more than the rest of
    the line's handling. Any other line is still validated (and coerced) by the model."""
    for key, kind in _PROGRESS_TYPES:
        value = part.get(key)
        if value is not None and type(value) is not kind:
            from ollama import ProgressResponse

            return ProgressResponse(**part)
    return part


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
            str(entry.get("modified_at") or ""),
        )
    return out


def server_latency_ms(answer: dict[str, Any], wall_ms: float) -> float:
    """A chat's latency by the server's own clock: `total_duration - load_duration`
    (nanoseconds), which leaves out model loading; the wall time when the answer has none.
    (`total_duration` still holds time queued behind another request inside the runner,
    so prompt + eval durations are used when they are given.)"""
    prompt, evaluation = answer.get("prompt_eval_duration"), answer.get("eval_duration")
    if isinstance(prompt, int) and isinstance(evaluation, int):
        return (prompt + evaluation) / 1e6
    total, load = answer.get("total_duration"), answer.get("load_duration") or 0
    if isinstance(total, int) and isinstance(load, int) and total > 0:
        return max(0, total - load) / 1e6
    return wall_ms


def file_sha256(path: str | Path) -> str:
    """`sha256:<hex>` of a file, read in chunks (weights can be many gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------- the client

_TLS: list[Any] = []
_TLS_LOCK = threading.Lock()


def _tls_context() -> Any:
    """httpx's default TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), made
    once per process: loading the CA bundle costs ~20 ms of CPU, which every `Server` paid
    again, even for a plain-http host (a rollout opens several per host)."""
    with _TLS_LOCK:
        if not _TLS:
            import httpx

            _TLS.append(httpx.create_ssl_context())
        return _TLS[0]


class Server:
    """One Ollama server. Thread-safe: each call at once uses an httpx client of its own."""

    def __init__(self, host: Host, options: ServerOptions | None = None) -> None:
        self.host = host
        self.options = options or ServerOptions()
        self._local = threading.local()  # .client: the client of the call being made
        self._clients: list[Any] = []  # every client made, to close
        self._free: list[Any] = []  # those no call is using
        self._lock = threading.Lock()
        self._blobs: dict[str, threading.Lock] = {}
        self._have_blobs: set[str] = set()
        self._clamped = False  # socket operations bounded by the call deadline (within)
        self._urls: dict[str, Any] = {}  # path -> absolute URL (`_url`)

    # -- plumbing --------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The `ollama.Client` of the call this thread is making (`call`); outside a call,
        the one the next call on this thread will take.

        Each call takes a client of its own from a free list and gives it back when done,
        so there are as many clients as calls at once, each with its one connection kept
        alive. One client shared by 20 build threads spent more CPU choosing a connection
        than sending the request: httpx's pool looks at every connection it holds (and at
        every idle one again for each idle one) each time it hands one out."""
        found = getattr(self._local, "client", None)
        if found is not None:
            return found
        with self._lock:
            if self._free:
                return self._free[-1]
        made = self._new_client()
        with self._lock:
            self._free.append(made)
        return made

    def _new_client(self) -> Any:
        import httpx
        import ollama

        opts = self.options
        timeout = httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=4)
        # The client drops `user:password@` from the host (its `_parse_host` keeps
        # only host and port), so credentials travel as an HTTP Basic header.
        headers = {"Authorization": self.host.basic_auth} if self.host.basic_auth else {}
        made = ollama.Client(
            host=self.host.display,
            timeout=timeout,
            limits=limits,
            headers=headers,
            verify=_tls_context(),
        )
        clamped = _clamp_reads(made)
        _skip_cookieless(made)
        with self._lock:
            self._clients.append(made)
            self._clamped = clamped
        return made

    def _url(self, path: str) -> Any:
        """`path` as the absolute URL httpx makes of it with this server's base URL, merged
        once: given a relative path, httpx parses two URLs on every request (about a tenth
        of a plain call's CPU). Only inside a call (`call`)."""
        url = self._urls.get(path)
        if url is None:
            httpx_client = getattr(self.client, "_client", None)
            if httpx_client is None:  # not the client this knows: let it merge the path
                return path
            url = self._urls.setdefault(path, httpx_client.build_request("GET", path).url)
        return url

    def warm(self) -> None:
        """Make a client ahead of the first call (importing the HTTP stack), without
        asking the server anything: a thread can do it while the caller reads git."""
        self._give_back(self._new_client())

    def _take(self) -> Any:
        """A client for one call: a free one, or a new one when all are in use."""
        with self._lock:
            if self._free:
                return self._free.pop()
        return self._new_client()

    def _give_back(self, client: Any) -> None:
        with self._lock:
            if client in self._clients:  # (not one `close` has closed meanwhile)
                self._free.append(client)

    def close(self) -> None:
        with self._lock:
            made, self._clients, self._free = self._clients, [], []
        for client in made:
            client.close()

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

    def _timeout(self, action: str, model: str | None, seconds: float) -> ServerTimeout:
        what = f"{action} {model}" if model else action
        return ServerTimeout(
            f"Ollama at {self.host.display}: {what}: no answer in time (within {seconds:g} s)",
            hint="raise --timeout if the server is busy",
        )

    def call(
        self,
        action: str,
        model: str | None,
        fn: Callable[[], T],
        *,
        retry: bool = True,
        deadline: float | None = None,
        resend: bool = True,
    ) -> T:
        """Run `fn` within `deadline` seconds (default: the `timeout` option), retrying
        transient failures when `retry`; raise ServerError otherwise.

        The deadline is wall-clock time for the whole call, retries and backoff included
        (None bounds nothing: streams, whose reads have their own timeout). With
        `resend=False` a timeout is final: the request may still be running on the server
        (an answer, even a 5xx or a hang-up, means it has ended there, so those are retried).
        """
        if getattr(self._local, "client", None) is not None:  # a call within a call
            return self._call(action, model, fn, retry, deadline, resend)
        client = self._take()  # taken first: it decides how the deadline is kept
        self._local.client = client
        try:
            return self._call(action, model, fn, retry, deadline, resend)
        finally:
            self._local.client = None
            self._give_back(client)

    def _call(
        self,
        action: str,
        model: str | None,
        fn: Callable[[], T],
        retry: bool,
        deadline: float | None,
        resend: bool,
    ) -> T:
        import httpx
        import ollama

        limit = self.options.timeout if deadline is None else deadline
        if not self._clamped:  # `fn` runs on a thread of its own: lend it this call's client
            client, inner = self._local.client, fn

            def fn() -> T:
                self._local.client = client
                return inner()

        ends = time.monotonic() + limit if limit and limit > 0 else None
        attempts = self.options.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                return within(fn, ends, clamped=self._clamped)
            except Expired:
                raise self._timeout(action, model, limit) from None
            except httpx.TimeoutException as exc:  # final: no time left, or maybe still running
                if ends is None or not resend:
                    raise self._translate(exc, action, model) from None
                raise self._timeout(action, model, limit) from None
            except (ollama.ResponseError, ConnectionError, httpx.TransportError) as exc:
                # A request the server answered (5xx) or hung up on (a dropped stream) has
                # ended there, so repeating it cannot race it.
                if attempt + 1 >= attempts or not self._retryable(exc):
                    raise self._translate(exc, action, model) from None
                pause = self.options.backoff * (2**attempt)
                if ends is not None and time.monotonic() + pause >= ends:
                    raise self._timeout(action, model, limit) from None
                time.sleep(pause)
            except _BadAnswer as exc:
                raise self._bad_answer(action, model, str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- simple calls ----------------------------------------------------------------------

    def version(self, *, retry: bool = True) -> str:
        """The server's version; also the liveness probe every command starts with
        (`retry=False`: a probe that asks once)."""
        body = self.call(
            "version",
            None,
            lambda: _object(self.client._request_raw("GET", self._url("/api/version"))),
            retry=retry,
        )
        return str(body.get("version", ""))

    def models(self) -> dict[str, ServerModel]:
        """Every local model by case-folded display name (`bot:v1`), from one `/api/tags`."""

        def fetch() -> dict[str, ServerModel]:
            body = _object(self.client._request_raw("GET", self._url("/api/tags")))
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
                url = self._url("/api/show")
                return _object(self.client._request_raw("POST", url, json={"model": name}))
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
        body = {"source": source, "destination": destination}  # what `Client.copy` posts
        self.call(
            "copy",
            f"{source} -> {destination}",
            lambda: self.client._request_raw("POST", self._url("/api/copy"), json=body),
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
        deadline: float | None = None,
    ) -> tuple[str, float]:
        """The assistant's reply (not streamed) and its latency in ms, within `deadline`
        seconds (the test runner's per-case one; never longer than the `timeout` option),
        retries included.

        The latency is the server's own: `total_duration` minus `load_duration` (issue 13
        item 11), so queueing behind other requests (OLLAMA_NUM_PARALLEL is 1 by default)
        and loading the model do not count; wall time only when the server sends no timings.
        """
        import httpx

        latency = [0.0]
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "options": options,
            "stream": False,
        }
        if format:
            body["format"] = format
        limit = self.options.timeout if deadline is None else min(deadline, self.options.timeout)

        def ask() -> str:
            started = time.monotonic()
            answer = _object(
                self.client._request_raw(
                    "POST",
                    self._url("/api/chat"),
                    json=body,
                    timeout=httpx.Timeout(limit, connect=self.options.connect_timeout),
                )
            )
            wall = (time.monotonic() - started) * 1000.0
            try:
                message = answer.get("message") or {}
                content = message.get("content") or ""
                if not isinstance(content, str):
                    raise TypeError("message content is not a string")
                latency[0] = server_latency_ms(answer, wall)
            except _DECODE_ERRORS as exc:
                raise _BadAnswer(_why(exc)) from None
            return content

        return self.call("chat with", model, ask, deadline=limit), latency[0]

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
            except StopIteration:
                return last
            except _DECODE_ERRORS as exc:  # a line that is not Ollama's progress JSON
                raise _BadAnswer(_why(exc)) from None
            if progress is not None:
                progress(
                    Progress(
                        name, last, part.get("completed"), part.get("total"), part.get("digest")
                    )
                )

    def _stream(self, path: str, body: dict[str, Any]) -> Iterator[Any]:
        """A progress stream, read with the long per-line timeout of creates and pulls."""
        import httpx

        opts = self.options
        return self.client._request(  # type: ignore[no-any-return]
            _progress_part,
            "POST",
            self._url(path),
            json={**body, "stream": True},
            stream=True,
            timeout=httpx.Timeout(opts.stream_timeout, connect=opts.connect_timeout),
        )

    def pull(
        self, name: str, progress: ProgressFn | None = None, *, insecure: bool = False
    ) -> None:
        """Pull `name` from its registry, reporting progress. Retried only when the request
        never reached the server: a pull that went silent may still be running there.
        `insecure` lets Ollama use plain http (a registry listed as insecure in mfops.yaml)."""

        def run() -> str:
            body = {"model": name, "insecure": insecure}
            return self._consume(name, self._stream("/api/pull", body), progress)

        last = self.call("pull", name, run, deadline=0, resend=False)
        if last != "success":
            raise ServerProtocolError(
                f"Ollama at {self.host.display}: pull {name}: stream ended with {last!r}"
            )

    def create(self, request: CreateRequest, progress: ProgressFn | None = None) -> None:
        """Create a model from structured fields (posted as JSON: the client lacks some).

        No wall deadline (a conversion can be silent for many minutes; each line has the long
        `stream_timeout`), and never re-sent once the request may have reached the server: a
        second create while the first still runs would race it (issue 13 item 5). An HTTP
        5xx answer is final on the server's side, so that one is retried.
        """
        body = request.to_json()

        def run() -> str:
            return self._consume(request.model, self._stream("/api/create", body), progress)

        last = self.call("create", request.model, run, deadline=0, resend=False)
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

    def forget_blobs(self) -> None:
        """Check every blob again: the server may have collected one since (issue 13 #6)."""
        with self._lock:
            self._have_blobs.clear()

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
