"""`mfops deploy` to a real Ollama (issue 16): an environment of the real server, a release
promoted there, one model's content tag removed so the deploy must create it from the
release commit; verified by read-back and layers (see tests/realserver.py)."""

from __future__ import annotations

import json

import pytest

from tests.realserver import (  # noqa: F401  (fixtures)
    RealRepo,
    built_fixture,
    raw,
    real_fixture,
)

pytestmark = pytest.mark.ollama


def tags(real: RealRepo) -> dict[str, str]:
    return {m["name"]: m["digest"] for m in raw(real.host, "GET", "/api/tags")[1]["models"]}


def test_deploy_to_the_real_server_creates_verifies_and_moves_the_release(built: RealRepo):
    release, live = f"{built.tag}-r1", f"{built.tag}-live"
    built.ok(
        "promote",
        "--all",
        "--from",
        built.tag,
        "--to",
        release,
        "--alias",
        live,
        "--allow-untested",
    )
    record = json.loads(built.ok("history", "--format", "json"))[0]
    content = {
        m["name"]: "mf-" + m["digest"].removeprefix("sha256:")[:12] for m in record["models"]
    }
    leaf = built.name("leaf")
    status, _ = raw(built.host, "DELETE", "/api/delete", {"model": f"{leaf}:{content[leaf]}"})
    assert status == 200
    text = (built.root / "mfops.yaml").read_text() if (built.root / "mfops.yaml").exists() else ""
    built.write({"mfops.yaml": text + f"environments:\n  it:\n    hosts: [{built.host}]\n"}, "env")
    code, out, err = built.mfops("deploy", release, "--env", "it", "--format", "json")
    assert code == 0, out + err
    deployed = json.loads(out)
    assert deployed["outcome"] == "deployed"
    (host,) = deployed["hosts"]
    assert host["state"] == "deployed"
    now = tags(built)
    assert f"{leaf}:{content[leaf]}" in now  # created again from the release commit
    by_name = {m["name"]: m for m in host["models"]}
    base, mid = built.name("base"), built.name("mid")
    for name in (base, mid, leaf):
        assert now[f"{name}:{release}"] == now[f"{name}:{live}"] == by_name[name]["manifest"]
        assert by_name[name]["layers"][0].startswith("sha256:")
    # the adapter stacks: mid and leaf carry base's weights plus the adapter layer
    assert by_name[mid]["layers"][0] == by_name[base]["layers"][0]
    assert len(by_name[leaf]["layers"]) == 2
    state = json.loads(built.ok("status", "--env", "it", "--format", "json"))
    assert [h["state"] for h in state["hosts"]] == ["current"]


def test_deploy_across_ollama_versions_agrees_by_layers_not_manifests(built: RealRepo):
    """With a second real server of another Ollama version (MFOPS_TEST_OLLAMA_HOST2): the
    release deploys to both, the manifests differ (the config blob differs between
    versions) and the layers agree, which is what verification compares."""
    import os

    other = os.environ.get("MFOPS_TEST_OLLAMA_HOST2", "").rstrip("/")
    if not other:
        pytest.skip("set MFOPS_TEST_OLLAMA_HOST2 to a second real Ollama of another version")
    release = f"{built.tag}-r1"
    built.ok("promote", "--all", "--from", built.tag, "--to", release, "--allow-untested")
    env = f"environments:\n  it:\n    hosts: [{built.host}, {other}]\n"
    built.write({"mfops.yaml": env}, "env")
    try:
        code, out, err = built.mfops("deploy", release, "--env", "it", "--format", "json")
        assert code == 0, out + err
        first, second = json.loads(out)["hosts"]
        assert first["state"] == second["state"] == "deployed"
        for a, b in zip(first["models"], second["models"], strict=True):
            assert a["layers"] == b["layers"]
            assert a["manifest"] != b["manifest"]
    finally:
        # Only what this test made there: its models' names carry its tag (content tags
        # included), and another run's content tags on that server are not this test's.
        for entry in raw(other, "GET", "/api/tags")[1].get("models") or []:
            if built.tag in entry["name"]:
                raw(other, "DELETE", "/api/delete", {"model": entry["name"]})
