"""Deadlines per kind of call (issue 13 item 5, issue 18 item 9), against small local TCP
servers that misbehave: one accepts connections and never answers, one drips a byte every
tenth of a second (so httpx's per-read timeout never fires). Each check runs under a
generous hang-catching limit; no assertion is about how long anything took."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import mfops.server.client as client_module
from mfops.server import deadline
from mfops.server.client import (
    CreateRequest,
    Host,
    Server,
    ServerOptions,
    ServerTimeout,
)

HANG_CATCHER = 60.0  # seconds: only there to turn a hang into a failure


class BadServer:
    """A loopback TCP server: `mode` "silent" reads the request and never answers; "drip"
    sends a status line and headers, then one body byte every 0.1 s, forever.

    The accept loop polls (a short timeout) and `close()` joins it before closing the
    socket: a thread still blocked in accept() on a closed descriptor would accept on
    whatever socket reuses that number next (a later test's double), stealing its clients.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.requests = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            data = b""
            while b"\r\n\r\n" not in data and not self.stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
            with self._lock:
                self.requests += 1
            if self.mode == "drip":
                try:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n{"
                    )
                except OSError:
                    return
            while not self.stop.wait(0.1):
                if self.mode == "drip":
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        self._acceptor.join(timeout=HANG_CATCHER)
        self.sock.close()


@pytest.fixture(params=["silent", "drip"])
def bad(request: pytest.FixtureRequest) -> Iterator[BadServer]:
    server = BadServer(request.param)
    yield server
    server.close()


def bounded(fn: Callable[[], Any]) -> Any:
    """`fn()` in a worker, failing the test (not hanging it) if it never returns."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=HANG_CATCHER)


def test_plain_call_gives_up_at_its_deadline_retries_included(bad: BadServer):
    opts = ServerOptions(timeout=0.5, connect_timeout=0.5, retries=2, backoff=0.01)
    server = Server(Host(bad.url), opts)

    def call() -> BaseException:
        with pytest.raises(ServerTimeout) as err:
            server.models()
        return err.value

    error = bounded(call)
    assert error.message == f"Ollama at {bad.url}: list: no answer in time (within 0.5 s)"
    assert error.hint == "raise --timeout if the server is busy"


def test_the_deadline_holds_on_a_thread_of_its_own_too(bad: BadServer, monkeypatch):
    """Where the client's transport is not the plain one (a proxy from the environment),
    socket operations cannot be bounded by the call's deadline: the call runs on a thread
    of its own that is abandoned at the deadline, with the same answer."""
    monkeypatch.setattr(client_module, "_clamp_reads", lambda ollama_client: False)
    opts = ServerOptions(timeout=0.5, connect_timeout=0.5, retries=2, backoff=0.01)
    server = Server(Host(bad.url), opts)

    def call() -> BaseException:
        with pytest.raises(ServerTimeout) as err:
            server.show("m:1")
        return err.value

    error = bounded(call)
    assert not server._clamped
    assert error.message == f"Ollama at {bad.url}: show m:1: no answer in time (within 0.5 s)"


def test_the_client_bounds_each_socket_operation_by_the_call_deadline():
    """The installed httpx keeps its connection pool where `_clamp_reads` looks (a guard:
    without it every plain call would pay for a thread of its own)."""
    server = Server(Host("http://127.0.0.1:9"))
    server.client  # noqa: B018
    assert server._clamped


def test_create_is_sent_once_and_times_out_on_its_own_deadline():
    """A silent create times out on the long per-line deadline (short here) and is not
    re-sent. (A create whose stream keeps coming is alive: it has no wall deadline.)"""
    bad = BadServer("silent")
    opts = ServerOptions(timeout=600, stream_timeout=0.5, retries=2, backoff=0.01)
    server = Server(Host(bad.url), opts)
    request = CreateRequest(model="m:1", from_="base", system="x")

    def call() -> BaseException:
        with pytest.raises(ServerTimeout) as err:
            server.create(request)
        return err.value

    try:
        error = bounded(call)
    finally:
        bad.close()
    assert "create m:1: no answer in time" in error.message
    assert bad.requests == 1  # never re-sent while the first may still run


def test_chat_keeps_its_per_case_deadline(bad: BadServer):
    opts = ServerOptions(timeout=600, retries=2, backoff=0.01)
    server = Server(Host(bad.url), opts)

    def call() -> BaseException:
        with pytest.raises(ServerTimeout) as err:
            server.chat("m:1", [{"role": "user", "content": "hi"}], {}, deadline=0.5)
        return err.value

    error = bounded(call)
    assert error.message == f"Ollama at {bad.url}: chat with m:1: no answer in time (within 0.5 s)"


def test_status_with_a_short_timeout_stops_with_one_line(bad: BadServer, run_mfops, tmp_path):
    (tmp_path / "mfops.yaml").write_text("{}\n")
    result = run_mfops(
        "status", "--timeout", "2", env={"OLLAMA_HOST": bad.url}, timeout=HANG_CATCHER
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"mfops: Ollama at {bad.url}: version: no answer in time (within 2 s) "
        "(raise --timeout if the server is busy)"
    )


def test_a_call_within_a_call_keeps_the_earlier_deadline():
    """An inner call with a later deadline than the call it runs in cannot outlive the
    outer one; the outer's deadline is back once the inner call ends."""
    now = time.monotonic()
    seen: list[float | None] = []

    def inner() -> None:
        seen.append(deadline.time_left(None, TimeoutError))

    def outer() -> None:
        deadline.within(inner, now + 600, clamped=True)
        seen.append(deadline.time_left(None, TimeoutError))

    deadline.within(outer, now + 30, clamped=True)
    assert all(left is not None and left <= 30 for left in seen), seen
    assert deadline.time_left(None, TimeoutError) is None  # (outside any call: no deadline)
