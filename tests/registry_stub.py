"""A model registry on 127.0.0.1 that speaks the part of the registry protocol Ollama's pull
uses: `GET /v2/<namespace>/<model>/manifests/<tag>` and `HEAD`/`GET .../blobs/<digest>`
(redirected to `localhost`, as the real registry redirects to its CDN, then with `Range`,
which Ollama's downloader sends). Manifests are served byte for byte as
published, so their sha256 is the digest Ollama records after a pull.

Faults for the tests of `mfops lock --check`: a status code (401, 404, 500), a body that is
not a manifest, a redirect (to another host or the same one), a delay before answering.
Every request is recorded (method, path, headers).

    with RegistryStub() as registry:
        digest = registry.publish_model("library/base:latest", system="v1")
        registry.fault = Fault(status=500)

The Ollama double pulls from it when pointed at it (`double.store.registry.upstream`), and
the real server pulls `127.0.0.1:PORT/library/base:latest` from it with `insecure`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mfops.testing.double import OllamaDouble

_MANIFEST = re.compile(r"^/v2/(?P<ns>[^/]+)/(?P<model>[^/]+)/manifests/(?P<tag>[^/]+)$")
_BLOB = re.compile(r"^/v2/(?P<ns>[^/]+)/(?P<model>[^/]+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class Fault:
    """What the next manifest requests get instead of the manifest (blobs are not faulted)."""

    status: int | None = None
    body: bytes | None = None
    redirect: str | None = None
    delay: float = 0.0
    #: how many manifest requests get the fault (None: all)
    times: int | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


def split_name(name: str) -> tuple[str, str, str]:
    """`[ns/]model[:tag]` -> (namespace, model, tag) with Ollama's defaults."""
    rest, _, tag = name.rpartition(":") if ":" in name.rpartition("/")[2] else (name, "", "")
    ns, _, model = rest.rpartition("/")
    return (ns or "library").lower(), model.lower(), (tag or "latest").lower()


class RegistryStub:
    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str, str], bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.fault: Fault | None = None
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._netloc = ""

    # -- content ---------------------------------------------------------------------------
    def publish(self, name: str, manifest: bytes, blobs: dict[str, bytes]) -> str:
        """Serve `manifest` for `name`; returns its digest (`sha256:<hex>`)."""
        with self._lock:
            self.blobs.update(blobs)
            self.manifests[split_name(name)] = manifest
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    def publish_model(self, name: str, **fields: Any) -> str:
        """A model made the way the double makes registry models (fake GGUF weights and the
        given layers: system, template, parameters...); returns the manifest digest."""
        maker = OllamaDouble()
        maker.add_registry_model(name, **fields)
        registry = maker.store.registry
        ((_, manifest),) = registry.manifests.items()
        return self.publish(name, manifest, dict(registry.blobs))

    def publish_file(self, name: str, weights: bytes, config: bytes) -> str:
        """A minimal model a real Ollama can pull: one GGUF layer and a config blob."""

        def layer(media: str, data: bytes) -> dict[str, Any]:
            return {
                "mediaType": media,
                "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }

        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": layer("application/vnd.docker.container.image.v1+json", config),
            "layers": [layer("application/vnd.ollama.image.model", weights)],
        }
        blobs = {"sha256:" + hashlib.sha256(data).hexdigest(): data for data in (weights, config)}
        return self.publish(name, json.dumps(manifest).encode(), blobs)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> RegistryStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                stub._answer(self, head=True)

            def do_GET(self) -> None:
                stub._answer(self, head=False)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up (the deadline tests) is not an error here

        self._server = Server(("127.0.0.1", 0), Handler)
        self._netloc = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RegistryStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def netloc(self) -> str:
        """`127.0.0.1:PORT` (still known after `stop`, for tests of a dead registry)."""
        return self._netloc

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def manifest_requests(self) -> list[Seen]:
        return [r for r in self.requests if "/manifests/" in r.path]

    # -- serving ---------------------------------------------------------------------------
    def _send(
        self, h: BaseHTTPRequestHandler, status: int, body: bytes, head: bool, **headers: str
    ) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key.replace("_", "-"), value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _answer(self, h: BaseHTTPRequestHandler, *, head: bool) -> None:
        with self._lock:
            self.requests.append(Seen(h.command, h.path, dict(h.headers.items())))
            fault = self.fault
            if fault is not None and "/manifests/" in h.path and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.fault = None
        m = _MANIFEST.match(h.path)
        if m:
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.redirect is not None:
                    return self._send(h, 307, b"", head, Location=fault.redirect + h.path)
                if fault.status is not None:
                    error = b'{"errors":[{"code":"STUB","message":"stub fault"}]}'
                    return self._send(h, fault.status, error, head)
                if fault.body is not None:
                    return self._send(h, 200, fault.body, head, Content_Type=MANIFEST_TYPE)
            with self._lock:
                data = self.manifests.get((m["ns"].lower(), m["model"].lower(), m["tag"].lower()))
            if data is None:
                body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
                return self._send(h, 404, body, head)
            return self._send(h, 200, data, head, Content_Type=MANIFEST_TYPE)
        path, _, query = h.path.partition("?")
        m = _BLOB.match(path)
        if m and query != "direct":
            # Like Ollama's registry: blobs are served from another host (a CDN), which
            # Ollama's downloader insists on (it takes the redirect's Location as the URL
            # to fetch ranges from). Here that host is `localhost`, this same server.
            port = self.netloc.rpartition(":")[2]
            target = f"http://localhost:{port}{path}?direct"
            return self._send(h, 307, b"", head, Location=target)
        if m:
            with self._lock:
                blob = self.blobs.get(m["digest"])
            if blob is None:
                return self._send(h, 404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', head)
            rng = re.fullmatch(r"bytes=(\d+)-(\d*)", h.headers.get("Range", ""))
            if rng:
                start = int(rng[1])
                end = int(rng[2]) if rng[2] else len(blob) - 1
                part = blob[start : end + 1]
                crange = f"bytes {start}-{start + len(part) - 1}/{len(blob)}"
                return self._send(h, 206, part, head, Content_Range=crange)
            return self._send(h, 200, blob, head, Content_Type="application/octet-stream")
        return self._send(h, 404, b"{}", head)
