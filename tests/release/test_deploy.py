"""`mfops deploy TAG --env ENV`, `status --env`, `rollback --env` on several doubles.

A release is promoted on one double (the CI server, `rel.double`); an environment of three
other doubles, each holding the external base at its locked digest, is deployed to with the
real CLI over HTTP. Faults are injected in the doubles: a slow create, a dead host, a host
whose base differs from the lock, a host that answers `/api/show` with altered content, a
host whose chats fail (the canary's suites).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mfops.testing.double import OllamaDouble
from tests.behavekit import BASE, seeded_double
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)

MODELS = ("base", "expert")


@pytest.fixture(name="hosts")
def hosts_fixture() -> Iterator[list[OllamaDouble]]:
    """Three doubles holding the external base (pulled from their registry)."""
    doubles = [seeded_double() for _ in range(3)]
    for d in doubles:
        d.client().pull(BASE)
        d.calls.reset()
    try:
        yield doubles
    finally:
        for d in doubles:
            d.stop()


def with_env(rel: Release, hosts: list[OllamaDouble], name: str = "prod") -> None:
    lines = ["environments:", f"  {name}:", "    hosts:"]
    lines += [f"      - {d.url}" for d in hosts]
    text = (rel.root / "mfops.yaml").read_text() + "\n".join(lines) + "\n"
    rel.commit({"mfops.yaml": text}, "environment")


def release(rel: Release, tag: str = "v1") -> None:
    rel.ok("build", "--all")
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", tag, "--alias", "latest")


def listing(double: OllamaDouble) -> dict[str, str]:
    body = httpx.get(f"{double.url}/api/tags", timeout=10).json()
    return {m["name"]: m["digest"] for m in body["models"]}


def deploy(rel: Release, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = rel.mfops("deploy", *args, "--format", "json")
    return code, (json.loads(out) if out.strip() else {}), err


def states(record: dict[str, Any]) -> list[str]:
    return [h["state"] for h in record["hosts"]]


@pytest.fixture(name="prod")
def prod_fixture(rel: Release, hosts: list[OllamaDouble]) -> Release:
    with_env(rel, hosts)
    release(rel)
    return rel


def test_deploy_to_three_hosts_builds_verifies_moves_tags_and_records(prod, hosts):
    code, record, err = deploy(prod, "v1", "--env", "prod", "--max-parallel", "2")
    assert code == 0, err
    assert record["kind"] == "deploy" and record["outcome"] == "deployed"
    assert record["env"] == "prod" and record["format"] == 2
    assert states(record) == ["deployed"] * 3
    for d, h in zip(hosts, record["hosts"], strict=True):
        tags = listing(d)
        assert h["host"] == d.url
        for m in h["models"]:
            name = m["name"]
            # TAG and the alias hold the content tag's manifest, recorded per host
            assert tags[f"{name}:v1"] == tags[f"{name}:latest"] == tags[f"{name}:{m['content']}"]
            assert m["manifest"] == tags[f"{name}:v1"]
            assert m["layers"] and m["layers"][0].startswith("sha256:")
        assert not any("mfops-deploy-" in t for t in tags)  # staging tags are gone
        # built, never copied from another server: created from the release commit
        assert {b["model"].split(":")[0] for b in d.calls.bodies("/api/create")} == set(MODELS)
        # the content reads back as the release's
        assert d.show("expert:v1")["system"] == prod.double.show("expert:v1")["system"]
    # the same layers everywhere (the model's weights are its base's)
    layers = {tuple(m["layers"]) for h in record["hosts"] for m in h["models"]}
    assert len(layers) == 1
    history = prod.history()
    assert history[-1]["kind"] == "deploy" and history[-1]["id"] == record["id"]
    text = prod.ok("history")
    assert "deployed" in text and "prod" in text


def test_a_second_deploy_copies_nothing_new_and_a_release_tag_already_there_stays(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    for d in hosts:
        d.calls.reset()
    code, _record, err = deploy(prod, "v1", "--env", "prod")
    assert code == 0, err
    assert all(d.calls.count("/api/create") == 0 for d in hosts)  # content tags were there


def test_max_parallel_bounds_the_hosts_creating_at_once(prod, hosts):
    for d in hosts:
        d.faults.latency["/api/create"] = 0.15
    code, _record, err = deploy(prod, "v1", "--env", "prod", "--max-parallel", "2")
    assert code == 0, err
    intervals = [
        (c.started, c.ended) for d in hosts for c in d.calls["/api/create"] if c.ended is not None
    ]
    assert len(intervals) == 6
    most = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert most == 2  # two hosts at once (one create per host), never three


def test_max_parallel_one_deploys_hosts_one_after_another(prod, hosts):
    for d in hosts:
        d.faults.latency["/api/create"] = 0.05
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    intervals = [(c.started, c.ended) for d in hosts for c in d.calls["/api/create"]]
    most = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert most == 1


def test_a_failing_canary_suite_stops_before_the_rest(prod, hosts):
    hosts[0].faults.fail_next("/api/chat", 50, status=400, error="injected chat failure")
    code, record, err = deploy(prod, "v1", "--env", "prod", "--canary", "1", "--max-parallel", "3")
    assert code == 1
    assert states(record) == ["failed", "not started", "not started"]
    assert record["hosts"][0]["canary"] is True
    assert "canary suites failed" in record["hosts"][0]["reason"]
    assert "deploy failed: " in err and hosts[0].url in err
    for d in hosts[1:]:  # never touched
        assert d.calls.count("/api/create") == 0 and d.calls.count("/api/copy") == 0
        assert "expert:v1" not in listing(d)
    assert prod.history()[-1]["outcome"] == "failed"


def test_a_passing_canary_runs_the_suites_then_the_rest(prod, hosts):
    code, record, err = deploy(prod, "v1", "--env", "prod", "--canary", "1")
    assert code == 0, err
    assert hosts[0].calls.count("/api/chat") > 0
    assert all(d.calls.count("/api/chat") == 0 for d in hosts[1:])
    assert states(record) == ["deployed"] * 3


def test_a_dead_host_refuses_the_deploy_before_any_host_is_touched(prod, hosts):
    hosts[1].stop()
    code, record, err = deploy(prod, "v1", "--env", "prod")
    assert code == 2
    assert f"deploy refused: {hosts[1].url}" in err
    assert "nothing was changed on any host" in err
    assert states(record) == ["not started", "unreachable", "not started"]
    assert record["outcome"] == "refused"
    for d in (hosts[0], hosts[2]):
        assert d.calls.count("/api/create") == 0 and "expert:v1" not in listing(d)


def test_a_host_dying_mid_rollout_is_named_and_nothing_after_it_is_reported_done(prod, hosts):
    original = hosts[1].api.create

    def die(req: dict[str, Any]) -> Any:
        hosts[1].faults.disconnect_next("*", 1000)
        return original(req)

    hosts[1].api.create = die  # type: ignore[method-assign]
    code, record, err = deploy(prod, "v1", "--env", "prod")
    assert code == 1
    assert states(record) == ["deployed", "unreachable", "not started"]
    assert record["hosts"][1]["models"] == []
    assert "expert:v1" not in listing(hosts[2])
    assert hosts[1].url in err


def test_a_host_whose_base_differs_from_the_lock_is_refused_and_named(prod, hosts):
    hosts[2].tamper(BASE, system="another base")
    code, record, _err = deploy(prod, "v1", "--env", "prod", "--max-parallel", "3")
    assert code == 1
    assert record["hosts"][2]["state"] == "refused"
    assert f"the release was tested on {BASE} at sha256:" in record["hosts"][2]["reason"]
    assert hosts[2].url in record["hosts"][2]["reason"]
    assert hosts[2].calls.count("/api/create") == 0
    # the way out is the tested base on that host, not a lock taken from it (the release's
    # lock is a commit's; one host's digest would not be what was tested)
    assert f"OLLAMA_HOST={hosts[2].url} ollama pull {BASE}" in _err
    assert "lock --update" not in _err


def test_a_host_whose_ollama_would_drop_a_command_is_refused_before_any_create(rel, hosts):
    """A release whose expert uses RENDERER, to a host running an Ollama that predates it
    (it would drop the field and answer success): refused up front, named, in the dry run
    and in the deploy alike, as `mfops build` refuses."""
    with_env(rel, hosts)
    rel.commit({"expert/Modelfile": BETTER_EXPERT + "RENDERER qwen3-coder\n"}, "renderer")
    release(rel)
    hosts[1].api.version = "0.11.4"
    why = f"expert/Modelfile:3: RENDERER needs Ollama 0.12.0 or newer, but {hosts[1].url} runs"
    code, plan, _err = deploy(rel, "v1", "--env", "prod", "--dry-run")
    assert code == 1
    assert [h["state"] for h in plan["hosts"]] == ["ready", "refused", "ready"]
    assert why in plan["hosts"][1]["reason"]
    code, record, _err = deploy(rel, "v1", "--env", "prod", "--max-parallel", "1")
    assert code == 1
    # refused before any host starts (test_deploy_preflight.py), not at its turn
    assert states(record) == ["not started", "refused", "not started"]
    assert why in record["hosts"][1]["reason"]
    assert all(d.calls.count("/api/create") == 0 for d in hosts)


def test_a_digest_that_differs_after_the_move_fails_with_exit_1_and_puts_the_tags_back(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    before = listing(hosts[0])
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "concise")
    release(prod, "v2")
    original = hosts[0].api.copy

    def altered(req: dict[str, Any]) -> Any:
        result = original(req)
        if str(req.get("destination", "")).startswith("expert:v2"):
            hosts[0].tamper("expert:v2", system="You are a JavaScript expert.")
        return result

    hosts[0].api.copy = altered  # type: ignore[method-assign]
    code, record, err = deploy(prod, "v2", "--env", "prod")
    assert code == 1
    assert record["hosts"][0]["state"] == "failed"
    reason = record["hosts"][0]["reason"]
    assert reason.startswith("moving the tags failed: expert:v2 holds ")
    assert "after the copy, not expert:mf-" in reason
    assert reason.endswith("; every moved tag was put back")
    # nothing is reported as done that was not: no model holds v2 there, v1 is untouched
    assert record["hosts"][0]["models"] == []
    after = listing(hosts[0])
    assert "expert:v2" not in after and "base:v2" not in after
    kept = [f"{m}:{t}" for m in MODELS for t in ("v1", "latest")]
    assert {k: after.get(k) for k in kept} == {k: before[k] for k in kept}
    assert states(record)[1:] == ["not started", "not started"]
    assert hosts[0].url in err


def test_a_content_tag_changed_between_its_read_back_and_the_move_moves_nothing(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod", "--max-parallel", "3")[0] == 0
    # the content tags stay; a new release tag of the same content reads them back
    prod.mfops("promote", "--all", "--from", "v1", "--to", "v1.1", "--allow-untested")
    original = hosts[1].api.show
    changed: list[str] = []

    def change_after_read_back(req: dict[str, Any]) -> Any:
        result = original(req)
        name = str(req.get("model", ""))
        if name.startswith("expert:mf-") and not changed:
            changed.append(hosts[1].tamper(name, system="changed by hand"))
        return result

    hosts[1].api.show = change_after_read_back  # type: ignore[method-assign]
    code, record, _err = deploy(prod, "v1.1", "--env", "prod", "--max-parallel", "3")
    assert changed, "the read-back was not made"
    assert code == 1
    reason = record["hosts"][1]["state"], record["hosts"][1]["reason"]
    assert reason[0] == "failed"
    # written again after its read-back (another modified_at): read back once more
    assert "verification failed before any tag moved: expert:mf-" in reason[1]
    assert "+changed by hand" in reason[1]
    assert "expert:v1.1" not in listing(hosts[1])


def test_different_layers_on_another_host_fail_verification(prod, hosts):
    deploy(prod, "v1", "--env", "prod")  # records the layers
    original = hosts[2].api.show

    def other_weights(req: dict[str, Any]) -> Any:
        result = original(req)
        if "modelfile" in result.body:
            result.body["modelfile"] = result.body["modelfile"].replace("sha256-", "sha256-0", 1)
        return result

    hosts[2].api.show = other_weights  # type: ignore[method-assign]
    code, record, _err = deploy(prod, "v1", "--env", "prod")
    assert code == 1
    assert record["hosts"][2]["state"] == "failed"
    assert "weights" in record["hosts"][2]["reason"] or "layers" in record["hosts"][2]["reason"]


def test_unknown_environment_is_exit_2_with_a_suggestion(prod):
    code, _, err = prod.mfops("deploy", "v1", "--env", "prdo")
    assert code == 2
    assert "no environment 'prdo'" in err and "did you mean prod?" in err
    code, _out, err = prod.mfops("status", "--env", "prdo")
    assert code == 2 and "did you mean prod?" in err


def test_unknown_release_is_exit_2_with_a_suggestion(prod):
    code, _, err = prod.mfops("deploy", "v11", "--env", "prod")
    assert code == 2
    assert "no release 'v11' in the release records" in err and "did you mean v1?" in err
    code, _out, err = prod.mfops("deploy", "v7.0", "--env", "prod")
    assert code == 2 and "(releases: v1)" in err


def test_status_env_shows_current_drifted_missing_per_host(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    hosts[1].tamper("expert:latest", system="changed by hand")
    httpx.request("DELETE", f"{hosts[2].url}/api/delete", json={"model": "base:v1"}, timeout=10)
    code, out, err = prod.mfops("status", "--env", "prod", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert [h["state"] for h in data["hosts"]] == ["current", "drifted", "missing"]
    expert = next(m for m in data["hosts"][1]["models"] if m["name"] == "expert")
    assert expert["tags"] == {"v1": "current", "latest": "drifted"}
    base = next(m for m in data["hosts"][0]["models"] if m["name"] == "base")
    assert base["release"] == "v1"
    text = prod.ok("status", "--env", "prod")
    assert "drifted" in text and hosts[1].url in text
    code, _, _ = prod.mfops("status", "--env", "prod", "--exit-code")
    assert code == 1


def test_status_env_after_a_rollout_that_stopped_half_way_shows_each_hosts_own_release(prod, hosts):
    """v1 everywhere, then v2 fails on the third host (its creates fail) after the first two
    moved: each host is shown at the release it holds; the one v2 did not reach is
    `behind`, with why, and `--exit-code` says the environment is not where its newest
    rollout meant it to be."""
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "better expert")
    release(prod, "v2")
    hosts[2].faults.fail_next("/api/create", 50, status=500, error="injected create failure")
    code, record, _err = deploy(prod, "v2", "--env", "prod", "--max-parallel", "1")
    assert code == 1 and states(record) == ["deployed", "deployed", "failed"]
    data = json.loads(prod.ok("status", "--env", "prod", "--format", "json"))
    assert (data["release"], data["outcome"]) == ("v2", "failed")
    assert [h["state"] for h in data["hosts"]] == ["current", "current", "behind"]
    assert [h["release"] for h in data["hosts"]] == ["v2", "v2", "v1"]
    assert data["hosts"][2]["reason"].startswith(f"newest deploy v2 ({record['id']}) failed")
    assert "injected create failure" in data["hosts"][2]["reason"]
    text = prod.ok("status", "--env", "prod")
    assert f"newest deploy v2, latest ({record['id']}, failed)" in text
    assert f"{hosts[2].url}: behind at v1 (" in text
    code, _, _ = prod.mfops("status", "--env", "prod", "--exit-code")
    assert code == 1


def test_rollback_env_deploys_the_previous_release_and_moves_the_aliases_back(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    v1 = {i: listing(d)["expert:v1"] for i, d in enumerate(hosts)}
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "better expert")
    release(prod, "v2")
    assert deploy(prod, "v2", "--env", "prod")[0] == 0
    assert all(listing(d)["expert:latest"] != v1[i] for i, d in enumerate(hosts))
    # a dry run first: v1's content is on every host, only the tags would move back
    before = len(prod.history())
    code, out, err = prod.mfops("rollback", "--env", "prod", "--dry-run")
    assert code == 0, err
    assert out.startswith("Dry run: rollback of v1, latest (commit ")
    assert out.count("ready  (0 to create, 1 to move, 1 current)") == 3  # base is unchanged
    assert len(prod.history()) == before
    assert all(listing(d)["expert:latest"] != v1[i] for i, d in enumerate(hosts))
    code, out, err = prod.mfops("rollback", "--env", "prod", "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["kind"] == "deploy" and record["outcome"] == "rolled back"
    assert record["from"] == "v1"
    for i, d in enumerate(hosts):
        tags = listing(d)
        assert tags["expert:latest"] == tags["expert:v1"] == v1[i]
        assert "expert:v2" in tags  # the later release stays, only the alias moved back
    data = json.loads(prod.ok("status", "--env", "prod", "--format", "json"))
    assert {m["release"] for h in data["hosts"] for m in h["models"]} == {"v1"}


def test_rollback_env_without_an_earlier_release_is_exit_2(prod):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    code, _out, err = prod.mfops("rollback", "--env", "prod")
    assert code == 2 and "no earlier deployed release than v1" in err


def test_old_records_stay_readable_next_to_deploy_records(prod):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    kinds = [e["kind"] for e in prod.history()]
    assert kinds[-1] == "deploy" and "promote" in kinds
    formats = {e["kind"]: e["format"] for e in prod.history()}
    assert formats["promote"] == 1 and formats["deploy"] == 2


def copy(double: OllamaDouble, source: str, destination: str) -> None:
    response = httpx.post(
        f"{double.url}/api/copy", json={"source": source, "destination": destination}, timeout=10
    )
    assert response.status_code == 200


def test_prune_env_prunes_every_host_and_keeps_what_the_deploy_uses(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    old = prod.repo.git("rev-list", "--max-parents=0", "HEAD").strip()[:12]
    for d in hosts:
        copy(d, "expert:v1", f"expert:sha-{old}")  # an old candidate the release holds
    copy(hosts[1], "base:v1", f"base:sha-{old}")
    hosts[1].tamper(f"base:sha-{old}", system="an experiment")  # an old candidate nothing uses
    httpx.request("DELETE", f"{hosts[2].url}/api/delete", json={"model": "expert:latest"})
    httpx.request("DELETE", f"{hosts[2].url}/api/delete", json={"model": "expert:v1"})
    code, out, err = prod.mfops(
        "prune", "--env", "prod", "--keep", "0", "--yes", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert [h["host"] for h in data["hosts"]] == [d.url for d in hosts]
    why = {
        (h["host"], t["model"], t["tag"]): (t["action"], t["why"])
        for h in data["hosts"]
        for t in h["tags"]
    }
    assert why[(hosts[0].url, "expert", f"sha-{old}")] == (
        "keep",
        "a release tag or alias holds it",
    )
    assert why[(hosts[1].url, "base", f"sha-{old}")][0] == "deleted"
    # host 2 lost its release tags by hand; the deploy record still says it runs them
    assert why[(hosts[2].url, "expert", f"sha-{old}")] == ("keep", "a deployed release holds it")
    assert f"base:sha-{old}" not in listing(hosts[1])
    for d in hosts:
        tags = listing(d)
        assert f"expert:sha-{old}" in tags
        assert all(f"{m}:{c}" in tags for m, c in content_tags(prod, d).items())


def content_tags(rel: Release, double: OllamaDouble) -> dict[str, str]:
    record = next(e for e in reversed(rel.history()) if e["kind"] == "deploy")
    host = next(h for h in record["hosts"] if h["host"] == double.url)
    return {m["name"]: m["content"] for m in host["models"]}


def test_prune_env_with_a_host_down_deletes_nothing_anywhere(prod, hosts):
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    old = prod.repo.git("rev-list", "--max-parents=0", "HEAD").strip()[:12]
    copy(hosts[0], "base:v1", f"base:sha-{old}")
    hosts[0].tamper(f"base:sha-{old}", system="an experiment")
    hosts[2].stop()
    hosts[0].calls.reset()
    code, _, err = prod.mfops("prune", "--env", "prod", "--keep", "0", "--yes")
    assert code == 2 and hosts[2].url.split("//")[1] in err
    assert f"base:sha-{old}" in listing(hosts[0])
    assert hosts[0].calls.count("DELETE /api/delete") == 0


def test_jobs_bounds_the_creates_on_one_host(prod, hosts):
    for d in hosts:
        d.faults.latency["/api/create"] = 0.05
    assert deploy(prod, "v1", "--env", "prod", "--jobs", "1", "--max-parallel", "3")[0] == 0
    assert all(d.calls.max_concurrency.get("/api/create", 0) == 1 for d in hosts)


def test_sigterm_during_a_rollout_finishes_in_flight_hosts_starts_no_other_and_records(prod, hosts):
    import os
    import signal
    import subprocess

    from tests.conftest import installed_mfops
    from tests.robustness.test_concurrency import wait_for

    hosts[0].faults.latency["/api/create"] = 1.0
    proc = subprocess.Popen(
        [installed_mfops(), "-C", str(prod.root), "deploy", "v1", "--env", "prod"],
        env={**os.environ, "OLLAMA_HOST": prod.double.url},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: hosts[0].calls.in_flight("/api/create") > 0, timeout=60, what="a create")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in err
    # the create in flight finished; the next model was not created and no tag moved
    assert hosts[0].calls.count("/api/create") == 1
    assert hosts[0].calls.count("/api/copy") == 0
    assert not {f"{m}:{t}" for m in MODELS for t in ("v1", "latest")} & set(listing(hosts[0]))
    for d in hosts[1:]:
        assert d.calls.count("/api/create") == 0
    record = prod.history()[-1]
    assert record["kind"] == "deploy" and record["outcome"] == "failed"
    assert [h["state"] for h in record["hosts"]] == ["interrupted", "not started", "not started"]
    assert "interrupted" in record["reason"]
    assert "interrupted" in out


def test_deploy_records_leave_the_helm_export_of_a_release_alone(prod):
    """A deploy (or `rollback --env`) record copies a release to an environment; the Helm
    values of a tag still come from the promotion records alone."""
    before = prod.ok("export", "helm-values", "--tag", "v1")
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "better expert")
    release(prod, "v2")
    latest = prod.ok("export", "helm-values", "--tag", "latest")
    assert deploy(prod, "v2", "--env", "prod")[0] == 0
    assert prod.mfops("rollback", "--env", "prod")[0] == 0
    assert prod.ok("export", "helm-values", "--tag", "v1") == before
    assert prod.ok("export", "helm-values", "--tag", "latest") == latest != before


def test_dry_run_says_what_each_host_would_do_and_changes_nothing(prod, hosts):
    before = len(prod.history())
    code, out, err = prod.mfops("deploy", "v1", "--env", "prod", "--dry-run")
    assert code == 0, err
    assert out.startswith("Dry run: deploy of v1, latest (commit ")
    assert out.count("ready  (2 to create, 0 to move, 0 current)") == 3
    assert "base:v1  mf-" in out and "create (the host lacks this content)" in out
    assert out.endswith("nothing was changed on any host; no record was written\n")
    assert len(prod.history()) == before
    for d in hosts:
        assert sum(d.calls.count(r) for r in ("/api/create", "/api/copy", "/api/delete")) == 0
    # after the deploy: every host already serves the release
    assert deploy(prod, "v1", "--env", "prod", "--max-parallel", "3")[0] == 0
    code, plan, err = deploy(prod, "v1", "--env", "prod", "--dry-run")
    assert code == 0, err
    assert plan["dry_run"] is True and plan["ok"] is True
    assert [h["state"] for h in plan["hosts"]] == ["current"] * 3
    assert {m["action"] for h in plan["hosts"] for m in h["models"]} == {"current"}
    # a new release that changes only the expert: base's content is there, its tags move
    prod.commit({"expert/Modelfile": BETTER_EXPERT}, "concise")
    release(prod, "v2")
    code, plan, err = deploy(prod, "v2", "--env", "prod", "--dry-run")
    assert code == 0, err
    actions = {m["name"]: m["action"] for m in plan["hosts"][0]["models"]}
    assert actions == {"base": "move", "expert": "create"}


def test_dry_run_names_a_refusing_host_exit_1_and_a_silent_one_exit_2(prod, hosts):
    hosts[1].tamper(BASE, system="another base")
    code, plan, err = deploy(prod, "v1", "--env", "prod", "--dry-run")
    assert code == 1, (plan, err)
    assert [h["state"] for h in plan["hosts"]] == ["ready", "refused", "ready"]
    assert f"the release was tested on {BASE} at sha256:" in plan["hosts"][1]["reason"]
    assert f"deploy would fail: {hosts[1].url} would refuse the release: " in err
    assert f"the release was tested on {BASE} at sha256:" in err
    hosts[2].faults.disconnect_next("*", 1000)
    code, plan, err = deploy(prod, "v1", "--env", "prod", "--dry-run")
    assert code == 2
    assert plan["hosts"][2]["state"] == "unreachable"
    assert "deploy would be refused:" in err and "does not answer" in err
    assert hosts[1].calls.count("/api/create") == 0


def test_dry_run_agrees_with_deploy_on_a_failing_listing_and_on_too_many_canaries(prod, hosts):
    hosts[1].faults.fail_next("/api/tags", times=1000)
    code, plan, _err = deploy(prod, "v1", "--env", "prod", "--dry-run")
    assert code == 1  # the host answers its probe: deploy would refuse it, not stop at once
    assert [h["state"] for h in plan["hosts"]] == ["ready", "refused", "ready"]
    hosts[1].faults.clear()
    code, _out, err = prod.mfops("deploy", "v1", "--env", "prod", "--dry-run", "--canary", "5")
    assert code == 2
    assert "--canary 5 is more than the 3 host(s) of prod" in err
    code, out, err = prod.mfops("deploy", "v1", "--env", "prod", "--dry-run", "--canary", "1")
    assert code == 0, err
    assert "the first 1 host(s) are canaries" in out
    assert out.count("(canary)") == 1
