"""Real HTTP for the double: routing, bodies, NDJSON streaming, faults and the call log.

`http.server.ThreadingHTTPServer` with HTTP/1.1 keep-alive (httpx keeps connections open),
one thread per connection. Streams use chunked transfer encoding, one chunk per NDJSON line,
as Go's `c.Stream` does, so httpx's `iter_lines` sees lines as they are produced; slow
streams and dropped connections therefore look to the client exactly like a slow or dying
Ollama. Error handling follows `streamResponse` / `waitForStream`: an error before the first
line becomes a status code with `{"error": ...}`, an error after it a final NDJSON line.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .api import OllamaApi, Result, Stream
from .faults import HTML_PAGE, Call, CallLog, Failure, Faults
from .gocompat import go_json
from .store import ApiError

JSON_TYPE = "application/json; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
TEXT_TYPE = "text/plain; charset=utf-8"

#: (route name, path pattern, {method: handler attribute})
ROUTES: list[tuple[str, re.Pattern[str], dict[str, str]]] = [
    ("/", re.compile(r"^/$"), {"GET": "root", "HEAD": "root"}),
    ("/api/version", re.compile(r"^/api/version$"), {"GET": "get_version", "HEAD": "get_version"}),
    ("/api/tags", re.compile(r"^/api/tags$"), {"GET": "tags", "HEAD": "tags"}),
    ("/api/ps", re.compile(r"^/api/ps$"), {"GET": "ps"}),
    ("/api/pull", re.compile(r"^/api/pull$"), {"POST": "pull"}),
    ("/api/push", re.compile(r"^/api/push$"), {"POST": "push"}),
    ("/api/show", re.compile(r"^/api/show$"), {"POST": "show"}),
    ("/api/delete", re.compile(r"^/api/delete$"), {"DELETE": "delete"}),
    ("/api/create", re.compile(r"^/api/create$"), {"POST": "create"}),
    ("/api/copy", re.compile(r"^/api/copy$"), {"POST": "copy"}),
    (
        "/api/blobs",
        re.compile(r"^/api/blobs/(?P<digest>[^/]+)$"),
        {"POST": "post_blob", "HEAD": "head_blob"},
    ),
    ("/api/generate", re.compile(r"^/api/generate$"), {"POST": "generate"}),
    ("/api/chat", re.compile(r"^/api/chat$"), {"POST": "chat"}),
    ("/api/embed", re.compile(r"^/api/embed$"), {"POST": "embed"}),
    ("/api/embeddings", re.compile(r"^/api/embeddings$"), {"POST": "embeddings"}),
]
_NO_BODY_HANDLERS = {"root", "get_version", "tags", "ps"}


#: What reading from or writing to a client that has hung up raises.
_CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class _Abort(Exception):
    """Stop handling and cut the connection (an injected drop)."""


class DoubleHTTPServer(ThreadingHTTPServer):
    """The listening server; knows its open connections so `stop` can cut them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # benchmarks open many connections at once; 5 would stall them

    def __init__(
        self, address: tuple[str, int], api: OllamaApi, faults: Faults, calls: CallLog
    ) -> None:
        self.api = api
        self.faults = faults
        self.calls = calls
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a reset, a broken pipe) is no error of the
        double's: quiet, as Ollama is. Anything else is a bug in the double: kept in the
        call log's `errors` (a test should expect none) and printed as socketserver does."""
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        self.calls.errors.append(traceback.format_exc())
        super().handle_error(request, client_address)

    def close_all_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            _hard_close(conn)


def _hard_close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    """One connection; every method goes through `_dispatch`."""

    protocol_version = "HTTP/1.1"
    server: DoubleHTTPServer
    _call: Call
    _call_open = False  # a logged call whose response is not complete yet
    server_version = "ollama-double"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the call log
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # -- plumbing ----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        found = next(((r, m, ms) for r, p, ms in ROUTES if (m := p.match(path))), None)
        if found is None:
            self._send_text(404, "404 page not found")
            return
        route, m, methods = found
        if method not in methods:
            self._send_text(405, "405 method not allowed")
            return
        attr = methods[method]
        parsed: Any = None
        if attr not in _NO_BODY_HANDLERS and route != "/api/blobs":
            try:
                parsed = json.loads(body) if body.strip() else None
            except ValueError:
                parsed = ValueError
        logged = parsed if parsed is not ValueError else None
        self._call = self.server.calls.begin(method, path, route, logged, len(body))
        self._call_open = True
        try:
            self._handle(method, route, attr, m.groupdict(), body, parsed)
        except _Abort:
            self._call.fault = self._call.fault or "drop"
            self._complete()
            self.close_connection = True
            _hard_close(self.connection)
        except _CLIENT_GONE:
            self.close_connection = True
        finally:
            self._complete()

    def send_response(self, code: int, message: str | None = None) -> None:
        if self._call_open:
            self._call.status = code
        super().send_response(code, message)

    def _complete(self) -> None:
        """Close the call's log entry before the last bytes go out, so a client that has
        its answer always sees the call finished (status set, no longer in flight)."""
        if self._call_open:
            self._call_open = False
            self.server.calls.end(self._call, self._call.status)

    def _handle(
        self, method: str, route: str, attr: str, params: dict[str, str], body: bytes, parsed: Any
    ) -> int:
        faults = self.server.faults
        delay = faults.latency_for(method, route)
        if delay > 0:
            time.sleep(delay)
        failure = faults.take_failure(method, route)
        if failure is not None:
            return self._send_failure(failure)
        drop = faults.take_drop(method, route)
        stream_error = faults.take_stream_error(method, route)
        api = self.server.api
        try:
            if attr in _NO_BODY_HANDLERS:
                result = getattr(api, attr)(None)
            elif route == "/api/blobs":
                if attr == "post_blob":
                    result = api.post_blob(params["digest"], body)
                else:
                    result = api.head_blob(params["digest"])
            else:
                if parsed is ValueError:
                    raise ApiError(400, "invalid character looking for beginning of value")
                if parsed is None:
                    raise ApiError(400, "missing request body")
                if not isinstance(parsed, dict):
                    raise ApiError(
                        400, "json: cannot unmarshal array into Go value of type api.Request"
                    )
                result = getattr(api, attr)(parsed)
        except ApiError as exc:
            return self._send_json(exc.status, {"error": exc.message}, drop=drop)
        except Exception as exc:  # a bug in the double: answer like gin's Recovery, keep a note
            self.server.calls.errors.append(traceback.format_exc())
            return self._send_json(500, {"error": f"ollama double internal error: {exc!r}"})
        if stream_error is not None:
            self._call.fault = f"stream error after {stream_error[0]} lines"
        if isinstance(result, Stream):
            return self._send_stream(method, route, result, drop, stream_error)
        if stream_error is not None:  # the work failed on the server: a plain 500
            return self._send_json(500, {"error": stream_error[1]}, drop=drop)
        return self._send_result(result, drop)

    # -- writers -------------------------------------------------------------------------------
    def _send_failure(self, failure: Failure) -> int:
        self._call.fault = "disconnect" if failure.disconnect else f"fail {failure.status}"
        if failure.disconnect:
            raise _Abort
        if failure.body is not None:
            return self._send_raw(failure.status, failure.body.encode(), TEXT_TYPE)
        if failure.html:
            reason = self.responses.get(failure.status, ("Error",))[0]
            page = HTML_PAGE.format(status=failure.status, reason=reason)
            return self._send_raw(failure.status, page.encode(), "text/html")
        return self._send_json(failure.status, {"error": failure.error})

    def _send_result(self, result: Result, drop: int | None) -> int:
        if result.text is not None:
            return self._send_raw(result.status, result.text.encode(), TEXT_TYPE, drop=drop)
        if result.body is None:
            return self._send_raw(result.status, b"", None, drop=drop)
        return self._send_json(result.status, result.body, drop=drop)

    def _send_json(self, status: int, obj: Any, *, drop: int | None = None) -> int:
        return self._send_raw(status, go_json(obj, newline=False), JSON_TYPE, drop=drop)

    def _send_text(self, status: int, text: str) -> int:
        return self._send_raw(status, text.encode(), TEXT_TYPE)

    def _send_raw(
        self, status: int, data: bytes, content_type: str | None, *, drop: int | None = None
    ) -> int:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        dropping = drop is not None and bool(data) and self.command != "HEAD"
        if not dropping:
            self._complete()
        if self.command == "HEAD":
            self.end_headers()
            return status
        if dropping:
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            raise _Abort
        self._end_headers_with(data)
        return status

    def _end_headers_with(self, data: bytes) -> None:
        """`end_headers()` and then `data`, in one write: two would cost the double a send
        and the client a receive more on every answer (the bytes are the same)."""
        if self.request_version == "HTTP/0.9":  # no headers at all
            self.end_headers()
            self.wfile.write(data)
            return
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(data)
        self.flush_headers()

    def _send_stream(
        self,
        method: str,
        route: str,
        result: Stream,
        drop: int | None,
        stream_error: tuple[int, str] | None,
    ) -> int:
        """Go's `streamResponse` (stream) or `waitForStream` (`stream: false`)."""
        try:
            return self._write_stream(method, route, result, drop, stream_error)
        finally:
            close = getattr(result.events, "close", None)
            if close is not None:
                close()  # a dropped stream abandons the work, like a dying server

    def _write_stream(
        self,
        method: str,
        route: str,
        result: Stream,
        drop: int | None,
        stream_error: tuple[int, str] | None,
    ) -> int:
        events = result.events
        fail_after, fail_message = stream_error if stream_error else (-1, "")
        if not result.stream and result.collapse == "last":
            latest: dict[str, Any] = {}
            try:
                for count, event in enumerate(events):
                    if count == fail_after:
                        return self._send_json(500, {"error": fail_message}, drop=drop)
                    latest = event
            except ApiError as exc:
                return self._send_json(exc.status, {"error": exc.message}, drop=drop)
            if stream_error is not None:
                return self._send_json(500, {"error": fail_message}, drop=drop)
            return self._send_json(200, latest, drop=drop)

        delay = self.server.faults.delay_for(method, route)
        written = 0
        started = False
        while True:
            if written == fail_after:
                if not started:
                    return self._send_json(500, {"error": fail_message}, drop=drop)
                self._write_chunk(go_json({"error": fail_message}))
                break
            try:
                event = next(events)
            except StopIteration:
                if stream_error is not None and started:  # fewer lines than asked: fail at the end
                    self._write_chunk(go_json({"error": fail_message}))
                break
            except ApiError as exc:
                if not started:
                    return self._send_json(exc.status, {"error": exc.message}, drop=drop)
                self._write_chunk(go_json({"error": exc.message}))
                break
            if not started:
                self.send_response(200)
                self.send_header("Content-Type", NDJSON_TYPE)
                self.send_header("Transfer-Encoding", "chunked")
                started = True
                if drop is None and delay <= 0:  # the head and the first line in one write
                    self._end_headers_with(_chunk(go_json(event)))
                    written += 1
                    continue
                self.end_headers()
            if drop is not None and written >= drop:
                self.wfile.flush()
                raise _Abort
            if delay > 0:
                time.sleep(delay)
            self._write_chunk(go_json(event))
            written += 1
        if not started:  # an empty stream still answers 200
            self.send_response(200)
            self.send_header("Content-Type", NDJSON_TYPE)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        if drop is not None and written >= drop:
            self.wfile.flush()
            raise _Abort
        self._complete()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return 200

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(_chunk(data))
        self.wfile.flush()


def _chunk(data: bytes) -> bytes:
    """`data` as one chunk of chunked transfer encoding."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
