"""Deploy fixes after the review of issue 16: `rollback --env` goes back by release record,
a canary's suites run before its tags move, an environment's hosts are checked where the
environment is resolved, and a host lost after its tags moved keeps its models in the record.

The kit (three doubles holding the base, the `prod` environment) is tests/release/test_deploy.py's.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from mfops.testing.double import OllamaDouble
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    EXPERT_SYSTEM,
    Release,
    release_fixture,
    seeded_fixture,
)
from tests.release.test_deploy import (  # noqa: F401  (fixtures)
    MODELS,
    copy,
    deploy,
    hosts_fixture,
    listing,
    prod_fixture,
    release,
    states,
)

THIRD = f"FROM base\nSYSTEM {EXPERT_SYSTEM} Third content.\n"


def promote_records(rel: Release, tag: str) -> list[dict[str, Any]]:
    return [
        e
        for e in rel.history()
        if e["kind"] == "promote" and e["outcome"] == "promoted" and e["to"] == tag
    ]


def test_rollback_env_deploys_the_record_deployed_before_never_a_newer_promotion_of_its_tag(
    prod, hosts
):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    first = prod.history()[-1]["release"]
    v1 = [listing(d)["expert:v1"] for d in hosts]
    system = hosts[0].show("expert:v1")["system"]
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "better expert")
    release(prod, "v2")
    assert deploy(prod, "v2", "--env", "prod")[0] == 0
    # the tag name v1 is promoted again, from other content and without the alias
    prod.commit({"expert/Modelfile": THIRD}, "third")
    prod.ok("build", "--all")
    prod.ok("promote", "--all", "--from", prod.tag(), "--to", "v1", "--overwrite")
    assert promote_records(prod, "v1")[-1]["id"] != first
    code, out, err = prod.mfops("rollback", "--env", "prod", "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["outcome"] == "rolled back" and record["from"] == "v1"
    assert record["release"] == first and record["aliases"] == ["latest"]
    for d, manifest in zip(hosts, v1, strict=True):
        tags = listing(d)
        # the content deployed before, and its alias with it (no half rollback)
        assert tags["expert:v1"] == tags["expert:latest"] == manifest
        assert "Third content" not in d.show("expert:v1")["system"]
        assert d.show("expert:latest")["system"] == system
    # --to names a release deployed there: again the record deployed, not the newest promotion
    assert deploy(prod, "v2", "--env", "prod")[0] == 0
    code, out, err = prod.mfops("rollback", "--env", "prod", "--to", "v1", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["release"] == first
    assert all(listing(d)["expert:latest"] == m for d, m in zip(hosts, v1, strict=True))


def test_rollback_env_to_a_release_never_deployed_there_is_exit_2(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "better expert")
    release(prod, "v2")
    code, _out, err = prod.mfops("rollback", "--env", "prod", "--to", "v2")
    assert code == 2
    assert "release v2 was never deployed to environment 'prod'" in err
    assert "mfops deploy v2 --env prod" in err
    assert all("expert:v2" not in listing(d) for d in hosts)


def test_failed_canary_suites_leave_its_tags_on_the_release_it_had(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    before = listing(hosts[0])
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "better expert")
    release(prod, "v2")
    hosts[0].faults.fail_next("/api/chat", 50, status=400, error="injected chat failure")
    code, record, err = deploy(prod, "v2", "--env", "prod", "--canary", "1")
    assert code == 1
    assert states(record) == ["failed", "not started", "not started"]
    canary = record["hosts"][0]
    assert canary["canary"] is True and canary["models"] == []  # no tag of v2 moved there
    assert "canary suites failed: " in canary["reason"]
    assert "v2, latest not moved: the host keeps what it had" in canary["reason"]
    tags = listing(hosts[0])
    assert "expert:v2" not in tags and "base:v2" not in tags
    assert tags["expert:latest"] == tags["expert:v1"] == before["expert:latest"]
    assert not any("mfops-deploy-" in t for t in tags)  # the staging tags are gone again
    # the suites ran on the new release's content, at the staging tag
    chats = {b["model"] for b in hosts[0].calls.bodies("/api/chat")}
    assert chats and all(":mfops-deploy-" in m for m in chats)
    assert "v2, latest not moved" in err
    # the environment still runs v1 everywhere
    data = json.loads(prod.ok("status", "--env", "prod", "--format", "json"))
    assert [h["state"] for h in data["hosts"]] == ["current"] * 3
    assert {m["release"] for h in data["hosts"] for m in h["models"]} == {"v1"}


def test_a_passing_canary_tests_the_content_before_its_tags_move(prod, hosts):
    code, record, err = deploy(prod, "v1", "--env", "prod", "--canary", "1")
    assert code == 0, err
    assert states(record) == ["deployed"] * 3
    chats = {b["model"] for b in hosts[0].calls.bodies("/api/chat")}
    assert chats and all(":mfops-deploy-" in m for m in chats)
    tags = listing(hosts[0])
    assert tags["expert:v1"] == tags["expert:latest"]
    assert not any("mfops-deploy-" in t for t in tags)


def add_env(rel: Release, name: str, hosts: list[str]) -> dict[str, int]:
    """Append environment `name` to mfops.yaml; the line of each host in the file."""
    text = (rel.root / "mfops.yaml").read_text()
    if "environments:" not in text:
        text += "environments:\n"
    text += f"  {name}:\n    hosts:\n" + "".join(f'      - "{h}"\n' for h in hosts)
    rel.commit({"mfops.yaml": text}, f"environment {name}")
    lines = text.splitlines()
    return {h: lines.index(f'      - "{h}"') + 1 for h in hosts}


ENV_COMMANDS = (
    ("deploy", "v1", "--env"),
    ("status", "--env"),
    ("rollback", "--env"),
    ("prune", "--dry-run", "--env"),
)


@pytest.mark.parametrize("command", ENV_COMMANDS, ids=lambda c: c[0])
def test_a_malformed_host_in_an_environment_is_one_line_naming_the_file_line(prod, hosts, command):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    bad = "http://[::1"
    lines = add_env(prod, "edge", [hosts[0].url, bad])
    before = len(prod.history())
    hosts[0].calls.reset()
    code, _out, err = prod.mfops(*command, "edge")
    assert code == 2, err
    assert (
        f"mfops.yaml:{lines[bad]}: environment edge: host '{bad}' is not a valid Ollama URL "
        "(Invalid IPv6 URL)" in err
    )
    assert "internal error" not in err and "Traceback" not in err
    assert len(prod.history()) == before  # nothing recorded, nothing touched
    assert sum(hosts[0].calls.count(r) for r in ("/api/create", "/api/copy", "/api/chat")) == 0


@pytest.mark.parametrize("command", ENV_COMMANDS, ids=lambda c: c[0])
def test_an_environment_naming_one_server_twice_is_refused_naming_both_spellings(
    prod, hosts, command
):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    port = hosts[1].url.rsplit(":", 1)[1]
    spellings = [hosts[0].url, hosts[1].url, f"localhost:{port}", f"http://localhost:{port}"]
    lines = add_env(prod, "dup", spellings)
    before = len(prod.history())
    for d in hosts:
        d.calls.reset()
    code, _out, err = prod.mfops(*command, "dup")
    assert code == 2, err
    assert (
        f"mfops.yaml:{lines[spellings[2]]}: environment dup names one server twice: "
        f"'{hosts[1].url}' and 'localhost:{port}' are both http://127.0.0.1:{port}" in err
    )
    assert "list each server of the environment once" in err
    assert len(prod.history()) == before
    for d in hosts:
        assert sum(d.calls.count(r) for r in ("/api/create", "/api/copy", "/api/chat")) == 0


def lose_after_the_move(double: OllamaDouble, *, altered: bool) -> None:
    """`double` stops answering once its tags moved, before they are verified: with
    `altered`, the last copy lands a changed model and the host is lost while the tags are
    put back; else the listing that verifies the move gets no answer."""
    copy, tags = double.api.copy, double.api.tags
    lock, moved = threading.Lock(), []

    def copied(req: dict[str, Any]) -> Any:
        result = copy(req)
        with lock:  # copies run several at once (COPY_WINDOW): act when the last one ended
            moved.append(req.get("destination"))
            last = len(moved) == 2 * len(MODELS)  # v1 and latest of each
        if last:
            if altered:
                double.tamper("expert:latest", system="You are a JavaScript expert.")
            else:
                double.faults.disconnect_next("*", 1000)
        return result

    def listed(req: Any) -> Any:
        result = tags(req)
        if altered and double.calls.count("/api/copy") >= 4:  # the move's own listing
            double.faults.disconnect_next("*", 1000)
        return result

    double.api.copy = copied  # type: ignore[method-assign]
    double.api.tags = listed  # type: ignore[method-assign]


@pytest.mark.parametrize("altered", [True, False], ids=["failed-then-lost", "lost"])
def test_a_host_lost_after_its_tags_moved_keeps_its_models_and_says_so(prod, hosts, altered):
    lose_after_the_move(hosts[0], altered=altered)
    code, record, err = deploy(prod, "v1", "--env", "prod")
    assert code == 1
    assert states(record) == ["unreachable", "not started", "not started"]
    lost = record["hosts"][0]
    assert lost["reason"].startswith(
        "v1, latest had moved to the release when the host was lost (not verified): "
    )
    assert "putting them back FAILED" in lost["reason"]
    hosts[0].faults.clear()
    tags = listing(hosts[0])
    held = {m["name"]: m["manifest"] for m in lost["models"]}
    assert held == {m: tags[f"{m}:v1"] for m in MODELS}
    assert {m["content"] for m in lost["models"]} == {t.split(":")[1] for t in tags if ":mf-" in t}
    assert "v1, latest had moved to the release when the host was lost" in err


def test_prune_env_keeps_what_the_tags_of_a_host_lost_after_the_move_hold(prod, hosts):
    lose_after_the_move(hosts[0], altered=True)
    assert deploy(prod, "v1", "--env", "prod")[0] == 1
    hosts[0].faults.clear()  # the host answers again
    del hosts[0].api.copy, hosts[0].api.tags
    old = prod.repo.git("rev-list", "--max-parents=0", "HEAD").strip()[:12]
    copy(hosts[0], "expert:v1", f"expert:sha-{old}")  # an old candidate the release holds
    for tag in ("expert:latest", "expert:v1"):  # the release tags went by hand since
        httpx.request("DELETE", f"{hosts[0].url}/api/delete", json={"model": tag}, timeout=10)
    code, out, err = prod.mfops(
        "prune", "--env", "prod", "--keep", "0", "--yes", "--format", "json"
    )
    assert code == 0, err
    first = json.loads(out)["hosts"][0]
    why = {(t["model"], t["tag"]): (t["action"], t["why"]) for t in first["tags"]}
    assert why[("expert", f"sha-{old}")] == ("keep", "a deployed release holds it")
    assert f"expert:sha-{old}" in listing(hosts[0])


def change_base_after(double: OllamaDouble, route: str, field: str, prefix: str) -> list[str]:
    """Once `double` has answered a `route` call whose `field` starts with `prefix`, base's
    content tag is changed by hand; the returned list gets the new manifest digest."""
    original = getattr(double.api, route)
    changed: list[str] = []

    def hooked(req: dict[str, Any]) -> Any:
        result = original(req)
        if str(req.get(field, "")).startswith(prefix) and not changed:
            base = next(t for t in listing(double) if t.startswith("base:mf-"))
            changed.append(double.tamper(base, system="changed by hand"))
        return result

    setattr(double.api, route, hooked)
    return changed


def test_a_created_content_tag_changed_after_its_first_read_back_moves_nothing(prod, hosts):
    """base's new content tag is changed by hand while the expert is created and read back:
    the read-back between the two listings catches it before any tag moves."""
    changed = change_base_after(hosts[0], "show", "model", "expert:")
    code, record, _err = deploy(prod, "v1", "--env", "prod")
    assert changed, "the expert was not read back"
    assert code == 1
    assert record["hosts"][0]["state"] == "failed"
    assert "verification failed before any tag moved: base:mf-" in record["hosts"][0]["reason"]
    assert record["hosts"][0]["models"] == []
    assert not {f"{m}:{t}" for m in MODELS for t in ("v1", "latest")} & set(listing(hosts[0]))


def test_a_canary_whose_content_tag_changes_during_its_suites_moves_nothing(prod, hosts):
    changed = change_base_after(hosts[0], "copy", "destination", "expert:mfops-deploy-")
    code, record, _err = deploy(prod, "v1", "--env", "prod", "--canary", "1")
    assert changed, "the canary's content was not staged"
    assert code == 1
    reason = record["hosts"][0]["reason"]
    assert "changed on the server since it was tested" in reason
    assert not {f"{m}:{t}" for m in MODELS for t in ("v1", "latest")} & set(listing(hosts[0]))
    assert states(record)[1:] == ["not started", "not started"]


def test_each_content_tag_is_read_back_once_unless_the_server_gives_no_modification_time(
    prod, hosts
):
    tags = hosts[1].api.tags

    def without_times(req: Any) -> Any:
        result = tags(req)
        for entry in result.body["models"]:
            entry.pop("modified_at", None)
        return result

    hosts[1].api.tags = without_times  # type: ignore[method-assign]
    code, _record, err = deploy(prod, "v1", "--env", "prod", "--max-parallel", "3")
    assert code == 0, err
    shown = [[b["model"] for b in d.calls.bodies("/api/show")] for d in hosts]
    for i in (0, 2):  # the listing's time matches each read-back: no second one
        assert sorted(n for n in shown[i] if ":mf-" in n) == sorted(
            {n for n in shown[i] if ":mf-" in n}
        )
    # no time to bind a read-back to the listing: each is read back again after it
    assert all(shown[1].count(n) == 2 for n in shown[1] if ":mf-" in n)
