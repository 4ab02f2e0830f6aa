"""Fault injection and the call log: how tests make the double misbehave and watch mfops.

Endpoints are named by route: `/api/create`, `/api/chat`, `/api/blobs` (for both HEAD and
POST of `/api/blobs/<digest>`), `/api/tags`, `/`... Every knob also accepts a method-specific
key (`"POST /api/blobs"`), which wins over the plain route, and `"*"` for every endpoint.

Faults (all thread-safe; the dict knobs may be assigned directly):

* `faults.latency[route] = seconds` - sleep before handling each call.
* `faults.stream_delay[route] = seconds` - sleep before every NDJSON line (a slow stream).
* `faults.fail_next(route, times=1, status=500, error=..., html=False, body=None)` - answer
  the next calls with an error instead of handling them: Ollama's `{"error": ...}` JSON, an
  HTML error page (`html=True`, as a proxy in front of Ollama would send) or a raw `body`.
* `faults.disconnect_next(route, times=1)` - close the connection without any response.
* `faults.drop_stream(route, after_lines=K, times=1)` - send K NDJSON lines, then cut the
  connection (no final chunk). A non-streamed response is cut after half of its body.
* `faults.fail_stream(route, after_lines=K, error=..., times=1)` - send K NDJSON lines, then
  Ollama's final `{"error": ...}` line; the work stops there (no manifest is written if K
  comes before `writing manifest`). Non-streamed calls get a 500 instead.

The call log records every request (also those answered by a fault): method, path, the
decoded JSON body (blob uploads record only their size), status, timing, and per route the
largest number of calls that were in flight at the same moment.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Failure:
    """One injected error response (or a silent disconnect)."""

    status: int = 500
    error: str = "injected failure"
    html: bool = False
    body: str | None = None
    disconnect: bool = False


class Faults:
    """The knobs; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency: dict[str, float] = {}
        self.stream_delay: dict[str, float] = {}
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._drops: dict[str, deque[int]] = defaultdict(deque)
        self._stream_errors: dict[str, deque[tuple[int, str]]] = defaultdict(deque)

    def fail_next(
        self,
        route: str,
        times: int = 1,
        *,
        status: int = 500,
        error: str = "injected failure",
        html: bool = False,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `route` with this error."""
        with self._lock:
            self._failures[route].extend([Failure(status, error, html, body)] * times)

    def disconnect_next(self, route: str, times: int = 1) -> None:
        """Close the connection of the next `times` calls without answering."""
        with self._lock:
            self._failures[route].extend([Failure(disconnect=True)] * times)

    def drop_stream(self, route: str, *, after_lines: int = 1, times: int = 1) -> None:
        """Cut the next `times` responses of `route` after `after_lines` NDJSON lines."""
        with self._lock:
            self._drops[route].extend([after_lines] * times)

    def fail_stream(
        self, route: str, *, after_lines: int = 1, error: str = "injected failure", times: int = 1
    ) -> None:
        """Send `after_lines` NDJSON lines, then a final `{"error": ...}` line (status 200).

        That is how Ollama reports a failure once streaming has begun; the `ollama` client
        raises `ResponseError` with `status_code == -1`. With `stream: false` (or zero
        lines) it becomes a 500 instead, as in `waitForStream`.
        """
        with self._lock:
            self._stream_errors[route].extend([(after_lines, error)] * times)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self.latency.clear()
            self.stream_delay.clear()
            self._failures.clear()
            self._drops.clear()
            self._stream_errors.clear()

    # -- used by the server ------------------------------------------------------------------
    @staticmethod
    def _keys(method: str, route: str) -> tuple[str, str, str]:
        return (f"{method} {route}", route, "*")

    def take_failure(self, method: str, route: str) -> Failure | None:
        with self._lock:
            for key in self._keys(method, route):
                queue = self._failures.get(key)
                if queue:
                    return queue.popleft()
        return None

    def take_drop(self, method: str, route: str) -> int | None:
        with self._lock:
            for key in self._keys(method, route):
                queue = self._drops.get(key)
                if queue:
                    return queue.popleft()
        return None

    def take_stream_error(self, method: str, route: str) -> tuple[int, str] | None:
        with self._lock:
            for key in self._keys(method, route):
                queue = self._stream_errors.get(key)
                if queue:
                    return queue.popleft()
        return None

    def latency_for(self, method: str, route: str) -> float:
        return self._lookup(self.latency, method, route)

    def delay_for(self, method: str, route: str) -> float:
        return self._lookup(self.stream_delay, method, route)

    def _lookup(self, table: dict[str, float], method: str, route: str) -> float:
        for key in self._keys(method, route):
            if key in table:
                return float(table[key])
        return 0.0


@dataclass
class Call:
    """One request as the double saw it."""

    method: str
    path: str
    route: str
    body: Any
    size: int
    started: float
    ended: float | None = None
    status: int | None = None
    fault: str | None = None


@dataclass
class _RouteStats:
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class CallLog:
    """Calls per route. `log["/api/create"]` is a list (empty if never called)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteStats] = defaultdict(_RouteStats)
        #: Tracebacks of exceptions inside the double itself (a test should expect none).
        self.errors: list[str] = []

    def __getitem__(self, key: str) -> list[Call]:
        """Calls of a route (`"/api/blobs"`) or of one method on it (`"HEAD /api/blobs"`)."""
        method, _, route = key.rpartition(" ")
        with self._lock:
            calls = list(self._routes[route].calls) if route in self._routes else []
        return [c for c in calls if not method or c.method == method]

    def count(self, key: str) -> int:
        return len(self[key])

    def bodies(self, key: str) -> list[Any]:
        """The decoded JSON bodies of a route's calls, in arrival order."""
        return [c.body for c in self[key]]

    @property
    def max_concurrency(self) -> dict[str, int]:
        """Per route, the most calls that were being handled at the same time."""
        with self._lock:
            return {route: s.max_in_flight for route, s in self._routes.items()}

    def in_flight(self, route: str) -> int:
        with self._lock:
            return self._routes[route].in_flight if route in self._routes else 0

    @property
    def all(self) -> list[Call]:
        with self._lock:
            calls = [c for s in self._routes.values() for c in s.calls]
        return sorted(calls, key=lambda c: c.started)

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self.errors.clear()

    # -- used by the server -------------------------------------------------------------------
    def begin(self, method: str, path: str, route: str, body: Any, size: int) -> Call:
        call = Call(method, path, route, body, size, time.monotonic())
        with self._lock:
            stats = self._routes[route]
            stats.calls.append(call)
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        return call

    def end(self, call: Call, status: int | None) -> None:
        with self._lock:
            call.ended = time.monotonic()
            if call.status is None:
                call.status = status
            self._routes[call.route].in_flight -= 1
