"""Wall-clock deadlines for a whole HTTP call, host-name lookups included.

Shared by the two HTTP clients of mfops: the Ollama client (client.py, `--timeout`) and the
registry client (registry.py, `--registry-timeout`). Both want a deadline for a whole
answer, which httpx does not have: it bounds each read, so a peer that drips a byte at a
time never trips it, and a host-name lookup (`getaddrinfo`) has no timeout at all, so a
resolver that hangs holds a call for as long as it hangs, socket deadlines or not.

How a deadline is kept, cheapest first:

- `clamp_pools` puts `deadline_backend` under an httpx client's connection pools: every
  connect, read and write is clamped to the time left of the call running on the calling
  thread (`within(..., clamped=True)` sets it), in that thread, so no thread per call.
- A new connection to a host NAME (never to an IP literal, which needs no lookup) is made
  on a thread of its own (`connect_by_name`), abandoned when the deadline or the connect
  timeout passes; the connection it may still make is closed by that thread, and so is one
  made after an interrupt (Ctrl-C) of the wait.
- Where the pools cannot be reached (a transport this does not know), `within` runs the
  whole call on a daemon thread abandoned at the deadline.

This module owns httpcore (tests/test_architecture.py); httpx clients reach it only through
attributes, so it needs no httpx import of its own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Bytes of a request written at once at most (see `deadline_backend`).
_COALESCE = 1 << 16

#: The wall-clock deadline (monotonic time) of the call running on this thread, read by the
#: streams of `deadline_backend`; None outside such a call (streams have no wall deadline).
_CALL = threading.local()


class Expired(Exception):
    """The wall-clock deadline of a call passed before its answer was complete."""


def time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` clamped to what is left of this thread's call deadline; `expired` when
    nothing is."""
    ends: float | None = getattr(_CALL, "ends", None)
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise expired("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


def is_ip(host: str) -> bool:
    """Whether `host` is an IP address (no name to look up)."""
    import ipaddress

    try:
        ipaddress.ip_address(host.split("%", 1)[0])  # (an IPv6 zone id: fe80::1%eth0)
    except ValueError:
        return False
    return True


def connect_by_name(connect: Callable[[], Any], wait: float, expired: type[Exception]) -> Any:
    """`connect()` (which looks a host name up, then connects) on a thread of its own, or
    `expired` once `wait` seconds pass.

    The lookup (`getaddrinfo`) has no timeout of its own: a resolver that hangs would hold
    a call far past its deadline, socket deadlines or not. A thread per new connection to a
    host name is cheap next to a lookup (connections are pooled; IP literals skip this).
    The thread abandoned at the deadline closes the connection should it still be made.
    """
    lock = threading.Lock()
    box: list[tuple[bool, Any]] = []
    abandoned = [False]

    def run() -> None:
        try:
            result: tuple[bool, Any] = (True, connect())
        except BaseException as exc:  # handed to the caller's thread
            result = (False, exc)
        with lock:
            if not abandoned[0]:
                box.append(result)
                return
        if result[0]:  # nobody waits for it any more
            result[1].close()

    worker = threading.Thread(target=run, name="mfops-resolve", daemon=True)
    try:
        worker.start()
        worker.join(wait)
    except BaseException:  # an interrupt: nobody will use the connection either
        with lock:
            abandoned[0] = True
            late = list(box)
        for ok, value in late:
            if ok:
                value.close()
        raise
    with lock:
        if not box:
            abandoned[0] = True
            raise expired(f"no address for the host within {wait:g} s")
    ok, value = box[0]
    if ok:
        return value
    raise value


def deadline_backend(backend: Any) -> Any:
    """`backend` (httpcore's network backend) with every connect, read and write bounded by
    the deadline of the call running on the calling thread.

    httpx bounds each read, not a whole answer, so a server that drips a byte at a time
    never trips its timeout. Clamping each socket operation to the time left of the call's
    deadline bounds the whole call in the calling thread itself: no thread per call, which
    cost about a third of a plain call's CPU (a rollout makes thousands). Looking a host
    name up has no timeout at all, so a new connection to a name (not to an IP literal) is
    made on a thread of its own, abandoned when the call's deadline or the connect timeout
    passes (`connect_by_name`).
    """
    import httpcore

    class _DeadlineStream(httpcore.NetworkStream):
        """Also sends a request's head and a small body in one write: httpcore writes them
        separately, and a write is a system call that, on loopback, delivers the bytes to
        the server in this process's time. Writes wait in `_pending` (up to `_COALESCE`
        bytes) until the stream is read; a failed write before a read is passed over, as
        httpcore passes over one while it sends a request, so the server's answer (or
        the broken connection) is read."""

        def __init__(self, stream: Any) -> None:
            self._stream = stream
            self._pending: list[bytes] = []
            self._size = 0
            self._timeout: float | None = None

        def _flush(self) -> None:
            data = b"".join(self._pending)
            self._pending.clear()
            self._size = 0
            self._stream.write(data, time_left(self._timeout, httpcore.WriteTimeout))

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            if self._pending:
                with contextlib.suppress(httpcore.WriteError):
                    self._flush()
            return self._stream.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))  # type: ignore[no-any-return]

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            if not buffer:
                return
            self._pending.append(buffer)
            self._size += len(buffer)
            self._timeout = timeout
            if self._size >= _COALESCE:
                self._flush()

        def close(self) -> None:
            self._pending.clear()
            self._stream.close()

        def start_tls(
            self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
        ) -> Any:
            if self._pending:
                self._flush()
            wait = time_left(timeout, httpcore.ConnectTimeout)
            return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait))

        def get_extra_info(self, info: str) -> Any:
            return self._stream.get_extra_info(info)

    class _DeadlineBackend(httpcore.NetworkBackend):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            wait = time_left(timeout, httpcore.ConnectTimeout)
            if wait is None or is_ip(host):
                stream = self._inner.connect_tcp(host, port, wait, local_address, socket_options)
            else:
                stream = connect_by_name(
                    lambda: self._inner.connect_tcp(
                        host, port, wait, local_address, socket_options
                    ),
                    wait,
                    httpcore.ConnectTimeout,
                )
            return _DeadlineStream(stream)

        def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: Any = None
        ) -> Any:
            wait = time_left(timeout, httpcore.ConnectTimeout)
            return _DeadlineStream(self._inner.connect_unix_socket(path, wait, socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return _DeadlineBackend(backend)


def clamp_pools(httpx_client: Any, *, proxies: bool) -> bool:
    """Put `deadline_backend` under the connection pools of `httpx_client` (an
    `httpx.Client`); False, changing nothing, when a pool is not where this looks (another
    httpx, a transport of the caller's own): the call must then run on a thread of its own
    (`within`).

    Proxies from the environment are mounted transports of their own. With `proxies` their
    pools are clamped too (httpcore's proxy pools connect through the same backend); without,
    a client with any mount is left alone (the Ollama client keeps its calls on a thread
    there, as before the registry shared this)."""
    transports = [getattr(httpx_client, "_transport", None)]
    mounts = getattr(httpx_client, "_mounts", None)
    if mounts:
        if not proxies:
            return False
        transports += [t for t in mounts.values() if t is not None]  # None: no proxy
    pools: list[Any] = [getattr(t, "_pool", None) for t in transports]
    if any(getattr(pool, "_network_backend", None) is None for pool in pools):
        return False
    for pool in pools:
        pool._network_backend = deadline_backend(pool._network_backend)
    return True


def within(fn: Callable[[], T], ends: float | None, *, clamped: bool = False) -> T:
    """`fn()`, or `Expired` (or an httpx timeout) once monotonic time `ends` passes.

    httpx only bounds each read, so a server that drips a byte at a time never trips it.
    With `clamped` (the client's socket operations are bounded by this thread's deadline,
    see `clamp_pools`) the call runs on this thread; otherwise on a daemon thread that is
    abandoned at the deadline (its socket closes when the server gives up or its own read
    timeout fires; a CLI exits regardless).
    """
    if ends is None:
        return fn()
    if clamped:
        outer = getattr(_CALL, "ends", None)  # (a call within a call gets it back after)
        _CALL.ends = ends if outer is None else min(ends, outer)  # never past the outer's
        try:
            return fn()
        finally:
            _CALL.ends = outer
    box: list[Any] = []

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # handed to the caller's thread
            box.append((False, exc))

    worker = threading.Thread(target=run, name="mfops-call", daemon=True)
    worker.start()
    worker.join(max(0.0, ends - time.monotonic()))
    if not box:
        raise Expired
    ok, value = box[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
