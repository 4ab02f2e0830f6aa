"""The promotion history: its versioned section in the state file, and `mfops history`."""

from __future__ import annotations

import json

import pytest

from mfops.errors import ConfigError
from mfops.release import history
from mfops.release.history import Destination, Entry, ModelEntry, TestCounts
from mfops.server.hosts import Host
from mfops.store.builds import BuildRecord, BuildState
from tests.promotekit import (  # noqa: F401  (fixtures)
    BROKEN_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)

HOST = Host("http://127.0.0.1:11434")
M1, M2 = "1" * 64, "2" * 64
D1 = "sha256:" + "d" * 64


def entry(n: int = 0, *, name: str = "bot", outcome: str = "promoted") -> Entry:
    return Entry(
        id=f"id-{n}",
        kind="promote",
        outcome=outcome,
        at=f"2026-01-01T00:00:{n % 60:02d}Z",
        host=HOST.display,
        from_tag="sha-1",
        to_tag="v1",
        aliases=("latest",),
        models=(
            ModelEntry(
                name,
                f"{name}:sha-1",
                M2,
                D1,
                "passed",
                (Destination("v1", None, M2), Destination("latest", M1, M2)),
            ),
        ),
        tests=TestCounts(2, 0, 0, 1),
        failures=(),
        reason=None,
        commit="c" * 40,
    )  # type: ignore[arg-type]


def state_file(tmp_path):
    return tmp_path / HOST.key / "state.json"


def test_entries_round_trip_through_the_state_file(tmp_path):
    state = BuildState.load(tmp_path, HOST)
    history.append(state, entry(1))
    history.append(state, entry(2, name="other", outcome="refused"))
    data = json.loads(state_file(tmp_path).read_text())
    assert data["version"] == 1 and data["promotions"]["version"] == 1
    assert [e["id"] for e in data["promotions"]["entries"]] == ["id-1", "id-2"]
    again = BuildState.load(tmp_path, HOST)
    assert history.load(again) == [entry(1), entry(2, name="other", outcome="refused")]
    assert history.load(again, "OTHER") == [entry(2, name="other", outcome="refused")]


def test_a_state_file_without_history_still_loads_and_keeps_its_builds(tmp_path):
    path = state_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "host": HOST.display,
                "builds": {
                    "bot:v1": {"digest": D1, "manifest": M1, "action": "created", "built_at": ""}
                },
            }
        )
    )
    state = BuildState.load(tmp_path, HOST)
    assert history.load(state) == []
    history.append(state, entry())
    data = json.loads(path.read_text())
    assert data["builds"]["bot:v1"]["manifest"] == M1 and len(data["promotions"]["entries"]) == 1


def test_appends_from_two_processes_both_land(tmp_path):
    first, second = BuildState.load(tmp_path, HOST), BuildState.load(tmp_path, HOST)
    history.append(first, entry(1))
    history.append(second, entry(2))  # loaded before the first append
    second.record("bot:v1", BuildRecord(D1, M1))  # a later build write keeps them too
    assert [e.id for e in history.load(BuildState.load(tmp_path, HOST))] == ["id-1", "id-2"]


def test_the_oldest_entries_go_past_the_limit(tmp_path):
    path = state_file(tmp_path)
    path.parent.mkdir(parents=True)
    full = [entry(n).to_json() for n in range(history.MAX_ENTRIES)]
    path.write_text(
        json.dumps({"version": 1, "builds": {}, "promotions": {"version": 1, "entries": full}})
    )
    history.append(BuildState.load(tmp_path, HOST), entry(99999))
    ids = [e.id for e in history.load(BuildState.load(tmp_path, HOST))]
    assert len(ids) == history.MAX_ENTRIES and ids[0] == "id-1" and ids[-1] == "id-99999"


BAD_ENVELOPES = [
    ({"version": 2, "entries": []}, "unsupported promotions version 2"),
    ({"version": 1, "entries": {}}, "promotions.entries must be a list"),
]
BAD_ENTRIES = [
    ({"id": "x"}, "promotions.entries[0].kind: expected"),
    (
        {**entry().to_json(), "tests": {"passed": "2"}},
        "promotions.entries[0].tests: expected an object of counts",
    ),
    (
        {
            **entry().to_json(),
            "models": [{**entry().to_json()["models"][0], "destinations": [{"tag": 1}]}],
        },
        "promotions.entries[0].models[0].destinations[0].tag: expected a string",
    ),
]


def write_state(tmp_path, section):
    path = state_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "builds": {}, "promotions": section}))
    return path


@pytest.mark.parametrize(("section", "message"), BAD_ENVELOPES)
def test_a_history_of_another_format_is_never_overwritten(tmp_path, section, message):
    path = write_state(tmp_path, section)
    state = BuildState.load(tmp_path, HOST)  # builds do not need the history
    with pytest.raises(ConfigError) as info:
        history.load(state)
    assert message in str(info.value) and str(info.value).startswith(str(path))
    with pytest.raises(ConfigError):
        history.append(state, entry())
    assert json.loads(path.read_text())["promotions"] == section


@pytest.mark.parametrize(("bad", "message"), BAD_ENTRIES)
def test_a_malformed_entry_is_a_config_error_naming_its_key_path(tmp_path, bad, message):
    path = write_state(tmp_path, {"version": 1, "entries": [bad]})
    with pytest.raises(ConfigError) as info:
        history.load(BuildState.load(tmp_path, HOST))
    assert message in str(info.value) and str(info.value).startswith(str(path))
    history.append(BuildState.load(tmp_path, HOST), entry())  # appending keeps it as it was
    assert json.loads(path.read_text())["promotions"]["entries"][0] == bad


def test_ids_sort_by_time_and_are_unique():
    a, b = history.new_id("2026-01-31T12:00:00Z"), history.new_id("2026-01-31T12:00:00Z")
    assert a.startswith("20260131T120000Z-") and a != b


# --------------------------------------------------------------------------- the command


def test_history_lists_successes_refusals_and_rollbacks_newest_first(rel: Release):
    cand = rel.tag()
    rel.ok("promote", "--all", "--from", cand, "--to", "v1", "--alias", "latest")
    broken = rel.commit({"expert/Modelfile": BROKEN_EXPERT})
    rel.ok("build", "--changed")
    assert rel.mfops("promote", "expert", "--from", broken, "--to", "v2")[0] == 1
    rel.ok("rollback", "expert", "--to", "v1")
    out = rel.ok("history")
    heads = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert [h.split()[1] for h in heads] == ["rolled", "REFUSED", "promoted"]
    assert f"REFUSED     {broken} -> v2" in heads[1]
    assert f"promoted    {cand} -> v1, latest" in heads[2]
    assert "    tests: 4 passed, 0 failed, 0 errors (0 cached)" in out
    assert f"    failed: expert:{broken}: expert/expert.test.yaml:3" in out
    assert "    reason: promotion refused: expert:" in out
    v1 = rel.double.digest("expert:v1")
    assert f"    expert:v1  absent -> {v1[:12]}  [passed]" in out

    only_base = rel.ok("history", "base")
    assert len([x for x in only_base.splitlines() if x and not x.startswith(" ")]) == 1
    data = json.loads(rel.ok("history", "expert", "--format", "json", "--limit", "2"))
    assert [e["outcome"] for e in data] == ["rolled back", "refused"]


def test_history_when_nothing_was_promoted(rel: Release):
    assert rel.ok("history") == f"no promotions recorded for {rel.double.url}\n"
    assert rel.ok("history", "--format", "json") == "[]\n"
    assert rel.ok("history", "base", "--host", "http://elsewhere:1234").startswith(
        "no promotions for base recorded for http://elsewhere:1234"
    )


def test_history_does_not_contact_the_server(rel: Release):
    rel.ok("promote", "base", "--from", rel.tag(), "--to", "v1")
    rel.double.calls.reset()
    rel.ok("history")
    assert rel.double.calls.all == []


def test_an_unreadable_history_exits_2(rel: Release):
    rel.ok("promote", "base", "--from", rel.tag(), "--to", "v1")
    folder = next(p for p in (rel.root / ".mfops").iterdir() if p.is_dir() and p.name != "cache")
    data = json.loads((folder / "state.json").read_text())
    data["promotions"]["version"] = 7
    (folder / "state.json").write_text(json.dumps(data))
    code, _, err = rel.mfops("history")
    assert code == 2 and "unsupported promotions version 7" in err
