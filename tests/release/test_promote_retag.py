"""retag.py: all-or-nothing tag moves, against the double through mfops' own Server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mfops.release.retag import Move, backup_name, retag
from mfops.server.client import Server
from mfops.server.hosts import Host
from mfops.testing.double import OllamaDouble


@pytest.fixture(name="double")
def double_fixture() -> Iterator[OllamaDouble]:
    with OllamaDouble() as double:
        double.add_local_model("m:new", system="new")
        double.add_local_model("n:new", system="other new")
        double.add_local_model("m:latest", system="old")
        double.calls.reset()
        yield double


@pytest.fixture(name="server")
def server_fixture(double: OllamaDouble) -> Iterator[Server]:
    with Server(Host(double.url)) as server:
        yield server


def moves() -> list[Move]:
    return [Move("m:new", "m:v2"), Move("m:new", "m:latest"), Move("n:new", "n:v2")]


def test_success_moves_every_tag_and_leaves_no_backup(double, server):
    old = double.digest("m:latest")
    out = retag(server, moves())
    assert out.ok and out.stage == "done" and out.restored is None
    assert [(m.destination, m.before, m.after) for m in out.moves] == [
        ("m:v2", None, double.digest("m:new")),
        ("m:latest", old, double.digest("m:new")),
        ("n:v2", None, double.digest("n:new")),
    ]
    assert double.model_names() == ["m:latest", "m:new", "m:v2", "n:new", "n:v2"]
    assert double.calls.count("/api/tags") == 3  # check, backups, verify


def test_a_destination_already_holding_the_source_is_not_touched(double, server):
    double.api.copy({"source": "m:new", "destination": "m:v2"})  # in-process, not logged
    assert double.digest("m:v2") == double.digest("m:new")
    out = retag(server, [Move("m:new", "m:v2")])
    assert out.ok and not out.moved_any
    assert double.calls.count("/api/copy") == 0


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Move("m:gone", "m:v2"), "m:gone is not on the server"),
        (Move("m:new", "m:v2", "0" * 64), "m:new changed on the server since it was tested"),
        (Move("n:new", "m:latest"), "the same destination is named twice"),
    ],
)
def test_problems_found_by_the_first_listing_move_nothing(double, server, bad, error):
    out = retag(server, [*moves()[:2], bad])
    assert not out.ok and out.stage == "check" and error in (out.error or "")
    assert double.calls.count("/api/copy") == 0 and not out.moved_any


def test_a_tag_changed_by_someone_else_during_the_moves_fails_verification(double, server):
    old = double.digest("m:latest")

    def race(what: str, name: str) -> None:
        if (what, name) == ("copy", "n:v2"):  # m:v2 has moved: someone rewrites it
            double.tamper("m:v2", system="hijacked")

    out = retag(server, moves(), on_event=race)
    assert not out.ok and out.stage == "verify" and out.restored is True
    assert "m:v2 holds" in (out.error or "")
    assert double.digest("m:latest") == old
    assert not double.has_model("m:v2") and not double.has_model("n:v2")


def test_a_given_listing_is_the_first_and_a_source_changed_since_fails_verification(double, server):
    listing = server.models()
    old = double.digest("m:latest")
    out = retag(server, moves(), listing=listing)
    assert out.ok and double.calls.count("/api/tags") == 3  # server.models, backups, verify
    double.calls.reset()
    for name in ("m:v2", "n:v2"):
        double.api.delete({"model": name})
    double.api.copy({"source": "m:new", "destination": "m:latest"})
    double.api.copy({"source": "m:new", "destination": "m:v1"})  # unrelated
    listing = server.models()
    double.tamper("m:new", system="changed after the listing")
    out = retag(server, moves(), listing=listing)
    assert not out.ok and out.stage == "verify" and out.restored is True
    assert "m:v2 holds" in (out.error or "")
    assert not double.has_model("m:v2") and not double.has_model("n:v2")
    assert double.digest("m:latest") != old  # it held m:new before: put back as it was


def test_an_interrupt_mid_way_puts_the_tags_back_and_is_raised(double, server):
    old = double.digest("m:latest")
    events: list[tuple[str, str]] = []

    def interrupt(what: str, name: str) -> None:
        events.append((what, name))
        if (what, name) == ("copy", "n:v2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retag(server, moves(), on_event=interrupt)
    assert double.digest("m:latest") == old
    assert not double.has_model("m:v2")
    assert not [n for n in double.model_names() if "mfops-backup" in n]
    kinds = [w for w, _ in events]
    assert kinds == ["backup", "copy", "copy", "copy", "restore", "restore", "restore", "delete"]


def test_a_failing_backup_moves_nothing(double, server):
    double.faults.fail_next("/api/copy", status=400, error="no space")
    out = retag(server, moves())
    assert not out.ok and out.stage == "backup" and out.restored is None
    assert "no space" in (out.error or "")
    assert double.model_names() == ["m:latest", "m:new", "n:new"]


def test_backup_names_are_valid_tags_of_the_same_model():
    assert backup_name("acme/bot:latest", "a1b2c3", 2) == "acme/bot:mfops-backup-a1b2c3-2"
