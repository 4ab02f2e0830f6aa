"""retag with a copy window (deploy's): failures, signals and chained moves stay all or
nothing, against the double through mfops' own Server."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import pytest

from mfops.release.retag import Move, RetagInterrupted, retag
from mfops.testing.double import OllamaDouble
from tests.promotekit import fail_copies_after
from tests.release.test_promote_retag import server_fixture  # noqa: F401  (fixture)


@pytest.fixture(name="double")
def double_fixture() -> Iterator[OllamaDouble]:
    with OllamaDouble() as double:
        for i in range(6):
            double.add_local_model(f"p{i}:new", system=f"new {i}")
            if i % 2 == 0:
                double.add_local_model(f"p{i}:latest", system=f"old {i}")
        double.calls.reset()
        yield double


def many() -> list[Move]:
    return [Move(f"p{i}:new", f"p{i}:{t}") for i in range(6) for t in ("v2", "latest")]


def state(double: OllamaDouble) -> dict[str, str | None]:
    return {
        m.destination: (double.digest(m.destination) if double.has_model(m.destination) else None)
        for m in many()
    }


def at_copy(n: int, action: Callable[[], None]) -> Callable[[str, str], None]:
    """An `on_event` that runs `action` as the `n`th copy is about to be sent."""
    seen: list[str] = []

    def on_event(what: str, name: str) -> None:
        if what == "copy":
            seen.append(name)
            if len(seen) == n:
                action()

    return on_event


@pytest.mark.parametrize("window", [1, 8])
def test_an_on_event_error_mid_copy_puts_every_tag_back(double, server, window):
    before = state(double)

    def boom() -> None:
        raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError):
        retag(server, many(), on_event=at_copy(4, boom), window=window)
    assert state(double) == before  # all or nothing
    assert not [n for n in double.model_names() if "mfops-backup" in n]


@pytest.mark.parametrize("window", [1, 8])
def test_a_copy_answered_with_a_non_json_200_puts_every_tag_back(double, server, window):
    before = state(double)
    original = double.api.copy
    n = 0

    def copy(req):  # the 5th tag copy gets a proxy's 200 page
        nonlocal n
        if "mfops-backup" not in req["destination"] and "mfops-backup" not in req["source"]:
            n += 1
            if n == 4:
                double.faults.fail_next("/api/copy", status=200, body="<html>proxy</html>")
        return original(req)

    double.api.copy = copy
    out = retag(server, many(), window=window)  # must not raise a raw ValueError
    assert not out.ok and out.restored is True
    assert state(double) == before


def test_a_real_sigterm_during_a_window_puts_back_and_says_so(double, server):
    before = state(double)
    double.faults.latency["/api/copy"] = 0.02
    kill = at_copy(2, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(RetagInterrupted) as stop:
        retag(server, many(), on_event=kill, window=8)
    out = stop.value.outcome
    assert out.restored is True and stop.value.signum == signal.SIGTERM
    assert state(double) == before
    assert {m.destination: m.after for m in out.moves} == before
    assert not [n for n in double.model_names() if "mfops-backup" in n]


def test_several_failing_copies_in_one_window_are_all_put_back(double, server):
    before = state(double)
    double.faults.latency["/api/copy"] = 0.02
    original = double.api.copy
    n = 0

    def copy(req):
        nonlocal n
        if "mfops-backup" not in req["destination"] and "mfops-backup" not in req["source"]:
            n += 1
            if n in (2, 3, 5):
                double.faults.fail_next("/api/copy", status=400, error=f"bad {n}")
        return original(req)

    double.api.copy = copy
    out = retag(server, many(), window=8)
    assert not out.ok and out.stage == "copy" and out.restored is True
    assert state(double) == before


def test_chained_moves_keep_their_order_in_a_window(double, server):
    """A destination that is another move's source (latest -> previous, then new ->
    latest) is copied only after it: such moves go one at a time, in order."""
    double.faults.latency["/api/copy"] = 0.01
    old = double.digest("p0:latest")
    failures = 0
    for _ in range(10):
        double.api.copy({"source": "p0:latest", "destination": "p0:keep"})
        out = retag(
            server,
            [Move("p0:latest", "p0:previous"), Move("p0:new", "p0:latest")],
            window=8,
        )
        failures += not out.ok
        double.api.copy({"source": "p0:keep", "destination": "p0:latest"})
        if double.has_model("p0:previous"):
            double.api.delete({"model": "p0:previous"})
        assert double.digest("p0:latest") == old
    assert failures == 0


def test_a_window_moves_every_tag_with_copies_overlapping(double, server):
    moves = many()
    double.faults.latency["/api/copy"] = 0.05
    events: list[str] = []
    out = retag(server, moves, window=4, on_event=lambda what, name: events.append(name))
    assert out.ok and out.stage == "done"
    for move in moves:
        assert double.digest(move.destination) == double.digest(move.source)
    copies = [c for c in double.calls["/api/copy"] if "mfops-backup" not in c.body["destination"]]
    assert len(copies) == len(moves) == 12
    assert 1 < double.calls.max_concurrency["/api/copy"] <= 4
    # each copy was sent in the order given
    assert [n for n in events if "mfops-backup" not in n] == [m.destination for m in moves]
    assert not [n for n in double.model_names() if "mfops-backup" in n]


def test_a_failing_copy_in_a_window_puts_every_tag_back_after_the_copies_in_flight(double, server):
    before = state(double)
    double.faults.latency["/api/copy"] = 0.02
    fail_copies_after(double, 6, status=400, error="disk full")
    out = retag(server, many(), window=4)
    assert not out.ok and out.stage == "copy" and out.restored is True
    assert "disk full" in (out.error or "")
    assert state(double) == before
    # the put-back began only once no copy was in flight any more
    copies = [c for c in double.calls["/api/copy"] if "mfops-backup" not in c.body["source"]]
    restores = [c for c in double.calls["/api/copy"] if "mfops-backup" in c.body["source"]]
    deletes = double.calls["/api/delete"]
    first_restore = min(c.started for c in [*restores, *deletes])
    assert all(c.ended is not None and c.ended <= first_restore for c in copies)
    assert not [n for n in double.model_names() if "mfops-backup" in n]


def test_an_interrupt_in_a_window_waits_for_the_copies_in_flight_then_puts_back(double, server):
    before = state(double)
    double.faults.latency["/api/copy"] = 0.02

    def stop() -> None:
        raise KeyboardInterrupt

    interrupt = at_copy(7, stop)
    with pytest.raises(KeyboardInterrupt):
        retag(server, many(), on_event=interrupt, window=4)
    assert state(double) == before
    copies = [c for c in double.calls["/api/copy"] if "mfops-backup" not in c.body["source"]]
    moved = [c for c in copies if "mfops-backup" not in c.body["destination"]]
    assert len(moved) == 6  # the seventh was never sent
    deletes = double.calls["/api/delete"]
    assert all(c.ended is not None and c.ended <= min(d.started for d in deletes) for c in moved)
