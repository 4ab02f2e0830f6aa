"""What `Server` sends and reads, after the per-call CPU cuts (issue 17 item 4).

URLs are merged with the host once per server, the cookie jar is passed over for answers
that set no cookie, a request's head and body go out in one write, and progress lines of
Ollama's own types are not validated one by one. None of that may change what reaches the
server or what a caller sees: a host with a path, a proxy's cookie, a large body, and
progress lines of other types behave as before.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mfops.server.client import (
    CreateRequest,
    Host,
    Progress,
    Server,
    ServerOptions,
    ServerProtocolError,
)
from tests.buildkit import BASE, ollama_double_fixture  # noqa: F401

FAST = ServerOptions(retries=0, connect_timeout=2, timeout=5)


class _Proxy(BaseHTTPRequestHandler):
    """A proxy in front of Ollama under `/ollama/`, with a session cookie."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str | None, bytes]]

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, body: dict[str, object], *, cookie: bool) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, self.headers.get("Cookie"), sent))
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", "session=s3cr3t; Path=/")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/ollama/api/version":
            self._answer({"version": "0.24.0"}, cookie=True)
        else:
            self._answer({"models": []}, cookie=False)

    def do_POST(self) -> None:
        self._answer({}, cookie=False)


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[tuple[str, str, str | None, bytes]]]]:
    seen: list[tuple[str, str, str | None, bytes]] = []
    handler = type("Handler", (_Proxy,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/ollama", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_host_path_is_kept_and_a_proxys_cookie_is_sent_back(proxy):
    url, seen = proxy
    with Server(Host(url), FAST) as server:
        assert server.version() == "0.24.0"
        assert server.models() == {}
        server.copy("a:latest", "b:latest")
    assert [(m, p, c) for m, p, c, _ in seen] == [
        ("GET", "/ollama/api/version", None),
        ("GET", "/ollama/api/tags", "session=s3cr3t"),
        ("POST", "/ollama/api/copy", "session=s3cr3t"),
    ]
    assert json.loads(seen[-1][3]) == {"source": "a:latest", "destination": "b:latest"}


@pytest.fixture
def server(ollama_double):
    with Server(Host(ollama_double.url), FAST) as srv:
        yield srv


def _create(server: Server) -> list[Progress]:
    seen: list[Progress] = []
    server.create(CreateRequest(model="m:latest", from_=BASE, system="hi"), seen.append)
    return seen


def test_progress_lines_of_other_types_are_still_coerced_by_the_clients_model(
    server, ollama_double
):
    lines = '{"status":"pulling","digest":"sha256:ab","completed":"7","total":9.0}\n'
    ollama_double.faults.fail_next("/api/create", status=200, body=lines + '{"status":"success"}\n')
    seen = _create(server)
    assert [(p.status, p.completed, p.total, p.digest) for p in seen] == [
        ("pulling", 7, 9, "sha256:ab"),
        ("success", None, None, None),
    ]


def test_a_progress_line_of_a_wrong_type_is_a_bad_answer(server, ollama_double):
    ollama_double.faults.fail_next("/api/create", status=200, body='{"status": 5}\n')
    with pytest.raises(ServerProtocolError, match="create m:latest: the answer is not what Ollama"):
        _create(server)


def test_a_create_reports_ollamas_own_lines_as_they_are(server, ollama_double):
    server.pull(BASE)
    seen = _create(server)
    assert seen[-2:] == [Progress("m:latest", "writing manifest"), Progress("m:latest", "success")]
    assert ollama_double.has_model("m:latest")
