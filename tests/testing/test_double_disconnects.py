"""A client that hangs up on the double is no error of the double's: nothing on stderr,
and the double keeps serving. A bug inside the double still shows: on stderr (as
socketserver prints it) and in `calls.errors`, which a test expects to be empty."""

from __future__ import annotations

import socket
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mfops.testing.double import DEFAULT_VERSION, OllamaDouble
from mfops.testing.double.server import DoubleHTTPServer, Handler

HANG_CATCHER = 60.0  # seconds: only there to turn a hang into a failure


class Finished:
    """Counts requests (connections) the double has finished with, and what each ended on:
    socketserver calls `shutdown_request` last, after `handle_error`."""

    def __init__(self, server: DoubleHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.done = threading.Semaphore(0)
        self.raised: list[type[BaseException] | None] = []
        handle_error, shutdown_request = server.handle_error, server.shutdown_request

        def record_error(request: Any, client_address: Any) -> None:
            self.raised.append(type(sys.exc_info()[1]))
            handle_error(request, client_address)

        def record_end(request: Any) -> None:
            shutdown_request(request)
            self.done.release()

        monkeypatch.setattr(server, "handle_error", record_error)
        monkeypatch.setattr(server, "shutdown_request", record_end)

    def wait(self) -> None:
        assert self.done.acquire(timeout=HANG_CATCHER), "the double never finished"


@pytest.fixture
def double() -> Iterator[OllamaDouble]:
    with OllamaDouble() as running:
        yield running


@pytest.fixture
def finished(double: OllamaDouble, monkeypatch: pytest.MonkeyPatch) -> Finished:
    assert double._server is not None
    return Finished(double._server, monkeypatch)


def reset_midway(port: int, data: bytes) -> None:
    """Send `data` (half a request) and reset the connection (SO_LINGER 0: an RST)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(data)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def get_version(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "half",
    [
        b'POST /api/show HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model": ',
        b"POST /api/show HTTP/1.1\r\nHost: x\r\nContent-Le",
    ],
    ids=["in the body", "in the headers"],
)
def test_a_client_that_resets_mid_request_is_quiet(
    double: OllamaDouble, finished: Finished, capfd: pytest.CaptureFixture[str], half: bytes
):
    reset_midway(double.port, half)
    finished.wait()
    assert finished.raised == [ConnectionResetError]  # the double did see the reset
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert double.calls.errors == []
    answer = get_version(double.port)  # and keeps serving
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b'{"version":"' + DEFAULT_VERSION.encode() + b'"}')


def test_a_bug_in_the_double_still_shows(
    double: OllamaDouble,
    finished: Finished,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    def broken(self: Handler) -> bytes:
        raise RuntimeError("a bug in the double")

    monkeypatch.setattr(Handler, "_read_body", broken)
    assert get_version(double.port) == b""  # the connection is cut, no answer
    finished.wait()
    assert finished.raised == [RuntimeError]
    _, err = capfd.readouterr()
    assert "RuntimeError: a bug in the double" in err
    assert len(double.calls.errors) == 1
    assert "RuntimeError: a bug in the double" in double.calls.errors[0]
