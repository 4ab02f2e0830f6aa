"""`mfops build` end to end: real git repos, the real CLI and `ollama` client, the double."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid

import pytest

from mfops.testing.double import fake_gguf
from tests.buildkit import (  # noqa: F401  (fixtures)
    BASE,
    HIERARCHY,
    Workspace,
    make_workspace,
    ollama_double_fixture,
    ws_fixture,
)


def by_model(report: dict) -> dict[str, dict]:
    return {m["model"]: m for m in report["models"]}


def test_three_level_hierarchy_is_built_in_order_from_parent_tags(ws: Workspace):
    tag = ws.tag()
    report = ws.build_json("--all")
    assert report["tag"] == tag and report["ok"]
    creates = ws.creates()
    assert sorted(creates) == sorted(f"{m}:{tag}" for m in ("base", "mid", "leaf", "other"))
    assert creates.index(f"base:{tag}") < creates.index(f"mid:{tag}") < creates.index(f"leaf:{tag}")
    bodies = {b["model"]: b for b in ws.double.calls.bodies("/api/create")}
    # a source parent is named by its content tag: the same create at every tag
    digests = {m["model"]: m["digest"].removeprefix("sha256:")[:12] for m in report["models"]}
    assert bodies[f"mid:{tag}"]["from"] == f"base:mf-{digests['base']}"
    assert bodies[f"leaf:{tag}"]["from"] == f"mid:mf-{digests['mid']}"
    assert bodies[f"base:{tag}"]["from"] == BASE
    assert bodies[f"mid:{tag}"]["parameters"] == {"stop": ["<|end|>"], "num_ctx": 4096}
    # what the server holds is the folded chain (the round-trip check passed, too)
    shown = ws.double.show(f"leaf:{tag}")
    assert shown["system"] == "You are the leaf."
    assert shown["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert shown["license"] == "LLAMA LICENSE\nMIT"
    # each verified model also sits at its content tag: how any clone knows it is built
    for name in ("base", "mid", "leaf", "other"):
        digest = by_model(report)[name]["digest"]
        content = f"{name}:mf-{digest.removeprefix('sha256:')[:12]}"
        assert ws.double.digest(content) == ws.double.digest(f"{name}:{tag}")
    assert ".mfops" not in ws.repo.git("status", "--porcelain", "--untracked-files=all")


def test_second_build_is_a_no_op(ws: Workspace):
    ws.build_json("--all")
    ws.double.calls.reset()
    report = ws.build_json("--all")
    assert ws.double.calls.count("/api/create") == 0
    assert ws.double.calls.count("/api/show") == 0
    assert {m["action"] for m in report["models"]} == {"up to date"}


def test_changed_after_base_edit_rebuilds_base_and_descendants_only(ws: Workspace):
    ws.build_json("--all")
    ws.repo.write("base/Modelfile", HIERARCHY["base/Modelfile"].replace("the base", "THE base"))
    ws.repo.commit("edit base")
    ws.double.calls.reset()
    code, out, _ = ws.mfops("build", "--changed")
    assert code == 0, out
    tag = ws.tag()
    assert ws.creates() == [f"base:{tag}", f"mid:{tag}", f"leaf:{tag}"]
    assert "Changed since HEAD~1" in out
    assert ws.double.show(f"leaf:{tag}")["system"] == "You are the leaf."
    assert ws.double.show(f"mid:{tag}")["system"] == "You are THE base."


def test_changed_since_a_version_tag_and_reasons(ws: Workspace):
    ws.repo.tag("v1.0.0")
    ws.repo.write("mid/Modelfile", HIERARCHY["mid/Modelfile"] + "PARAMETER seed 7\n")
    ws.repo.commit("mid")
    ws.repo.write("README.md", "docs\n")
    ws.repo.commit("docs")
    report = ws.build_json("--changed", "--dry-run")
    assert report["since"] == "v1.0.0"
    assert "newest version tag reachable from HEAD^" in report["since_origin"]
    models = by_model(report)
    assert models["mid"]["reason"] == "changed"
    assert models["leaf"]["reason"] == "base changed"
    assert models["base"]["reason"] == "needed"  # the parent must exist at the new tag
    assert "other" not in models
    assert ws.double.calls.count("/api/create") == 0


def test_comment_only_edit_rebuilds_nothing(ws: Workspace):
    ws.build_json("--all")
    ws.repo.write("base/Modelfile", "# reworded comment\n\n" + HIERARCHY["base/Modelfile"])
    ws.repo.commit("comment")
    ws.double.calls.reset()
    code, out, _ = ws.mfops("build", "--changed")
    assert code == 0
    assert ws.double.calls.count("/api/create") == 0
    assert "Nothing to build" in out or "nothing to do" in out


def test_nothing_changed_asks_no_server_and_a_change_does(ws: Workspace):
    ws.build_json("--all")
    ws.repo.write("README.md", "docs\n")
    ws.repo.commit("docs")
    down = "http://127.0.0.1:9"  # discard port: nothing answers there
    code, out, err = ws.mfops("build", "--changed", "--since", "HEAD~1", "--host", down)
    assert code == 0, err
    assert "Nothing to build" in out or "nothing to do" in out
    code, out, err = ws.mfops(
        "build", "--changed", "--since", "HEAD~1", "--dry-run", "--host", down
    )
    assert code == 0, err
    ws.repo.write("leaf/Modelfile", HIERARCHY["leaf/Modelfile"] + "PARAMETER seed 2\n")
    code, out, err = ws.mfops("build", "--changed", "--since", "HEAD", "--host", down)
    assert code == 2
    assert "127.0.0.1:9" in err


def test_unchanged_parent_gets_the_tag_by_copy(ws: Workspace):
    ws.build_json("--all")
    old = ws.tag()
    ws.repo.write("leaf/Modelfile", HIERARCHY["leaf/Modelfile"] + "PARAMETER seed 1\n")
    ws.repo.commit("leaf")
    ws.double.calls.reset()
    report = ws.build_json("--changed")
    tag = ws.tag()
    models = by_model(report)
    assert models["leaf"]["action"] == "created"
    assert models["base"]["action"] == models["mid"]["action"] == "tagged"
    assert ws.creates() == [f"leaf:{tag}"]
    assert ws.double.calls.count("/api/copy") == 3  # two tags, and leaf's content tag
    assert ws.double.digest(f"mid:{tag}") == ws.double.digest(f"mid:{old}")
    mid = models["mid"]["digest"].removeprefix("sha256:")[:12]
    assert ws.double.calls.bodies("/api/create")[0]["from"] == f"mid:mf-{mid}"


def test_named_model_builds_missing_ancestors(ws: Workspace):
    report = ws.build_json("leaf", "--tag", "v9")
    assert [m["model"] for m in report["models"]] == ["base", "mid", "leaf"]
    assert by_model(report)["base"]["reason"] == "needed"
    assert ws.creates() == ["base:v9", "mid:v9", "leaf:v9"]
    ws.double.calls.reset()
    report = ws.build_json("leaf", "--tag", "v9")
    assert by_model(report)["leaf"]["action"] == "up to date"
    assert ws.double.calls.count("/api/create") == 0


def test_failing_base_skips_descendants_while_a_sibling_builds(ws: Workspace):
    ws.repo.write("base/Modelfile", HIERARCHY["base/Modelfile"] + "TEMPLATE {{ .Prompt\n")
    ws.repo.commit("broken template")
    code, out, err = ws.mfops("build", "--all")
    assert code == 1, out + err
    tag = ws.tag()
    assert f"FAILED   base:{tag}" in out
    assert "template error" in out
    assert f"mid:{tag}: skipped: base failed" in out
    assert f"leaf:{tag}: skipped: base failed" in out
    assert f"created  other:{tag}" in out
    # what finished is at its content tag; the failed one is not
    stamps = {m.model.split(":")[0] for m in ws.double.client().list().models if ":mf-" in m.model}
    assert stamps == {"other"}
    assert ws.creates() == [f"base:{tag}", f"other:{tag}"] or sorted(ws.creates()) == sorted(
        [f"base:{tag}", f"other:{tag}"]
    )


def test_fail_fast_starts_nothing_new(tmp_path, ollama_double):
    files = {
        "a/Modelfile": "FROM llama3.2:3b\nTEMPLATE {{ broken\n",
        "b/Modelfile": "FROM llama3.2:3b\nSYSTEM b\n",
        "c/Modelfile": "FROM b\nSYSTEM c\n",
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    ollama_double.faults.latency["/api/create"] = 0.2
    report = ws.build_json("--all", "--fail-fast", "--jobs", "2", expect=1)
    models = by_model(report)
    assert models["a"]["action"] == "failed"
    assert models["c"]["action"] == "skipped"
    assert "--fail-fast" in models["c"]["error"]


def test_drifted_model_is_reported_explained_and_rebuilt(ws: Workspace):
    ws.build_json("--all")
    tag = ws.tag()
    ws.double.tamper(f"mid:{tag}", system="Be rude.")
    code, out, _ = ws.mfops("build", "--all", "--dry-run", "--explain")
    assert code == 0
    assert f"mid:{tag}" in out and "drifted" in out
    assert "SYSTEM: intended 'You are the base.' (from base llama3.2:3b" not in out
    assert (
        "on the server: SYSTEM: intended 'You are the base.' (from base), server has "
        "'Be rude.'" in out
    )
    ws.double.calls.reset()
    report = ws.build_json("--all")
    models = by_model(report)
    # the content is still on the server at mid's content tag: a copy restores it
    assert models["mid"]["action"] == "tagged" and models["mid"]["reason"] == "drifted"
    assert models["leaf"]["action"] == "up to date"
    assert ws.double.calls.count("/api/create") == 0
    assert ws.double.show(f"mid:{tag}")["system"] == "You are the base."


def test_force_rebuilds_selected_models(ws: Workspace):
    ws.build_json("--all")
    ws.double.calls.reset()
    report = ws.build_json("other", "--force")
    assert by_model(report)["other"]["reason"] == "forced"
    assert ws.creates() == [f"other:{ws.tag()}"]


def test_round_trip_check_catches_a_dropped_field(ws: Workspace, monkeypatch):
    api = ws.double.api
    original = api.create

    def drop_system(req):
        return original({k: v for k, v in req.items() if k != "system"})

    monkeypatch.setattr(api, "create", drop_system)
    report = ws.build_json("other", expect=1)
    other = by_model(report)["other"]
    assert other["action"] == "failed"
    assert "round-trip check failed" in other["error"]
    assert other["mismatches"] == [
        {"field": "SYSTEM", "expected": "Other.", "actual": "", "origin": "other"}
    ]
    assert not list((ws.root / ".mfops").glob("*/state.json"))  # nothing recorded


def test_lock_mismatch_is_an_error_naming_both_digests(ws: Workspace):
    locked = "sha256:" + ws.double.digest(BASE)
    ws.double.add_registry_model(BASE, template="{{ .Prompt }}", system="v2 weights")
    ws.double.client().pull(BASE)
    server = "sha256:" + ws.double.digest(BASE)
    code, out, err = ws.mfops("build", "--all")
    assert code == 1
    assert out == ""
    assert err.strip() == (
        f"mfops: mfops.lock: {BASE} is locked at {locked} but {ws.double.url} has {server} "
        "(`mfops lock --update` accepts the server's; `mfops build --pull` pulls and updates "
        "the lock)"
    )
    assert ws.double.calls.count("/api/create") == 0


def test_build_pull_updates_the_lock_and_rebuilds_descendants(ws: Workspace):
    ws.build_json("--all")
    ws.double.add_registry_model(BASE, template="{{ .Prompt }}", system="v2 weights")
    ws.double.calls.reset()
    report = ws.build_json("--changed", "--pull")
    lock = json.loads((ws.root / "mfops.lock").read_text())
    assert lock["bases"][BASE] == "sha256:" + ws.double.digest(BASE)
    assert any("mfops.lock updated" in n for n in report["notes"])
    models = by_model(report)
    assert {m for m, r in models.items() if r["action"] == "created"} == {
        "base",
        "mid",
        "leaf",
        "other",
    }
    assert models["leaf"]["reason"] == "base changed"
    assert report["tag"].endswith("-dirty")  # the lock file now differs from HEAD


def test_server_down_is_one_line_with_exit_2(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = ws.mfops("build", "--all", "--host", f"127.0.0.1:{port}")
    assert code == 2
    assert out == ""
    assert err == (
        f"mfops: cannot reach Ollama at http://127.0.0.1:{port} (start it with `ollama "
        "serve`, or point --host / OLLAMA_HOST at a running server)\n"
    )


def test_transient_500_on_create_is_retried(ws: Workspace):
    ws.double.faults.fail_next("/api/create", times=1, status=500, error="busy")
    report = ws.build_json("other")
    assert by_model(report)["other"]["action"] == "created"
    assert ws.double.calls.count("/api/create") == 2


def test_jobs_runs_independent_models_in_parallel(tmp_path, ollama_double):
    files = {f"m{i}/Modelfile": f"FROM llama3.2:3b\nSYSTEM model {i}\n" for i in range(4)}
    ws = make_workspace(tmp_path, ollama_double, files)
    ollama_double.faults.latency["/api/create"] = 0.3
    ws.build_json("--all", "--jobs", "4")
    # all four creates were in flight at once (the latency keeps each open long enough)
    assert ollama_double.calls.max_concurrency["/api/create"] == 4
    ollama_double.calls.reset()
    ws.build_json("--all", "--jobs", "1", "--force")
    assert ollama_double.calls.max_concurrency["/api/create"] == 1


def test_child_starts_as_soon_as_its_parent_is_done(tmp_path, ollama_double):
    """Not level by level: a slow independent model does not hold back a chain."""
    files = {
        "slow/Modelfile": "FROM llama3.2:3b\nSYSTEM slow\n",
        "a/Modelfile": "FROM llama3.2:3b\nSYSTEM a\n",
        "b/Modelfile": "FROM a\nSYSTEM b\n",
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    api = ollama_double.api
    original = api.create

    def slow_create(req):
        if req["model"].startswith("slow:"):
            time.sleep(0.6)
        return original(req)

    api.create = slow_create
    ws.build_json("--all", "--jobs", "2")
    calls = {c.body["model"].split(":")[0]: c for c in ollama_double.calls["/api/create"]}
    assert calls["b"].started < calls["slow"].ended


def test_dry_run_prints_the_plan_and_creates_nothing(ws: Workspace):
    code, out, _ = ws.mfops("build", "--all", "--dry-run")
    assert code == 0
    tag = ws.tag()
    assert out.splitlines()[0] == (
        f"Plan: 4 models to build at tag {tag} (HEAD {tag[4:]}) on {ws.double.url}"
    )
    assert "step 1 (2 in parallel):" in out
    assert f"  create      base:{tag}   missing on server" in out
    assert ws.double.calls.count("/api/create") == 0
    assert not list((ws.root / ".mfops").glob("*/state.json"))  # (`lock` made .mfops/lock)


def test_file_base_uploads_blob_once_with_head_check(tmp_path, ollama_double):
    files = {"w/Modelfile": "FROM ./model.gguf\nSYSTEM local weights\n"}
    ws = make_workspace(tmp_path, ollama_double, files, lock=False)
    ws.repo.write("w/model.gguf", fake_gguf(name="w"))
    ws.repo.commit("weights")
    ws.build_json("--all")
    assert ollama_double.calls.count("HEAD /api/blobs") == 1
    assert ollama_double.calls.count("POST /api/blobs") == 1
    body = ollama_double.calls.bodies("/api/create")[0]
    assert list(body["files"]) == ["model.gguf"] and "from" not in body
    ws.build_json("--all", "--tag", "again")
    assert ollama_double.calls.count("POST /api/blobs") == 1  # HEAD said it is there


def test_pinned_base_must_exist(tmp_path, ollama_double):
    files = {"a/Modelfile": "FROM llama3.2:3b\n", "b/Modelfile": "FROM a:v1.0\nSYSTEM b\n"}
    ws = make_workspace(tmp_path, ollama_double, files)
    code, _, err = ws.mfops("build", "b")
    assert code == 2
    assert "b: pinned base a:v1.0 is not on" in err


def test_unlocked_external_base_is_refused(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, lock=False)
    ollama_double.client().pull(BASE)
    code, _, err = ws.mfops("build", "--all")
    assert code == 2
    assert "external base llama3.2:3b is not in mfops.lock" in err


def test_text_report_table(ws: Workspace):
    code, out, _ = ws.mfops("build", "--all")
    assert code == 0
    tag = ws.tag()
    assert f"created  base:{tag}" in out
    assert "4 created in" in out.splitlines()[-1]


@pytest.mark.ollama
def test_build_verify_and_status_on_a_real_ollama(tmp_path, monkeypatch):
    """Against a real server: MFOPS_TEST_OLLAMA_HOST, with MFOPS_TEST_OLLAMA_BASE (default
    llama3.2:1b) already pulled there; nothing is pulled, and the models made are deleted."""
    from mfops.server.client import Server, resolve_host
    from tests.buildkit import run_main
    from tests.gitrepo import GitRepo

    host = os.environ.get("MFOPS_TEST_OLLAMA_HOST")
    if not host:
        pytest.skip("set MFOPS_TEST_OLLAMA_HOST to run against a real Ollama")
    base = os.environ.get("MFOPS_TEST_OLLAMA_BASE", "llama3.2:1b")
    server = Server(resolve_host(host))
    present = server.models()
    if base.casefold() not in present and f"{base}:latest".casefold() not in present:
        pytest.skip(f"{base} is not on {host}")
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        "mfops-it-a/Modelfile",
        f"FROM {base}\nSYSTEM You are terse.\n"
        "PARAMETER temperature 0.1\nPARAMETER stop <|x|>\nLICENSE test license\n",
    )
    repo.write(
        "mfops-it-b/Modelfile",
        "FROM mfops-it-a\nPARAMETER num_ctx 2048\nMESSAGE user hi\nMESSAGE assistant hello\n",
    )
    repo.commit("models")
    monkeypatch.setenv("OLLAMA_HOST", host)
    tag = f"it-{uuid.uuid4().hex[:8]}"
    try:
        assert run_main("-C", str(repo.root), "lock")[0] == 0
        code, out, err = run_main(
            "-C", str(repo.root), "build", "--all", "--tag", tag, "--format", "json"
        )
        assert code == 0, out + err
        assert json.loads(out)["summary"]["created"] == 2
        code, out, _ = run_main("-C", str(repo.root), "status", "--tag", tag, "--format", "json")
        assert {m["status"] for m in json.loads(out)["models"]} == {"up to date"}
    finally:
        for name in ("mfops-it-b", "mfops-it-a"):
            with contextlib.suppress(Exception):  # best-effort cleanup
                server.delete(f"{name}:{tag}")
        server.close()


def test_adapters_are_uploaded_and_stack_through_the_chain(tmp_path, ollama_double):
    files = {
        "a/Modelfile": "FROM llama3.2:3b\nADAPTER ./lora-a.gguf\nSYSTEM a\n",
        "b/Modelfile": "FROM a\nADAPTER ./lora-b.gguf\n",
        "a/lora-a.gguf": fake_gguf(kind="adapter", name="lora-a"),
        "b/lora-b.gguf": fake_gguf(kind="adapter", name="lora-b"),
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    report = ws.build_json("--all")
    assert report["ok"]
    bodies = {b["model"].split(":")[0]: b for b in ollama_double.calls.bodies("/api/create")}
    assert list(bodies["a"]["adapters"]) == ["lora-a.gguf"]
    assert list(bodies["b"]["adapters"]) == ["lora-b.gguf"]
    assert ollama_double.calls.count("POST /api/blobs") == 2
    layers = ollama_double.manifest(f"b:{ws.tag()}")["layers"]
    assert sum(layer["mediaType"].endswith(".adapter") for layer in layers) == 2


def test_adapter_file_that_is_no_lora_fails_verification_saying_why(tmp_path, ollama_double):
    """A GGUF whose general.type is not `adapter` (here a model's weights) given as ADAPTER
    is stored as a second weights layer, as the real servers do: the create succeeds, `show`
    lists no adapter, and the read-back failure says what the file must be."""
    files = {
        "a/Modelfile": "FROM llama3.2:3b\nADAPTER ./weights.gguf\n",
        "a/weights.gguf": fake_gguf(kind="model", name="weights"),
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    report = ws.build_json("a", expect=1)
    assert by_model(report)["a"]["action"] == "failed"
    layers = ollama_double.manifest(f"a:{ws.tag()}")["layers"]
    assert not any(layer["mediaType"].endswith(".adapter") for layer in layers)
    code, out, _ = ws.mfops("build", "a", "--force")
    assert code == 1
    assert (
        "    ADAPTER: intended 1, server has 0 (Ollama keeps an ADAPTER file as an adapter "
        "only when it is a LoRA adapter, a GGUF whose general.type is 'adapter'; any other "
        "GGUF is stored as weights and not shown)\n"
    ) in out


def test_connection_dropped_on_every_attempt_fails_that_model(ws: Workspace):
    ws.double.faults.disconnect_next("/api/create", times=3)
    report = ws.build_json("other", expect=1)
    other = by_model(report)["other"]
    assert other["action"] == "failed"
    assert "create other:" in other["error"] and "connection broken" in other["error"]
    assert ws.double.calls.count("/api/create") == 3  # the first try and two retries


def test_renderer_parser_and_stop_filled_by_the_server_are_not_a_mismatch(tmp_path, ollama_double):
    """#13 item 7: on a create over gemma4 weights whose config lacks a renderer or parser,
    Ollama fills renderer, parser and (without a stop in the request) stop itself."""
    ollama_double.add_registry_model("oldgemma:1b", family="gemma4", parameters={"stop": ["x"]})
    files = {
        "g/Modelfile": "FROM oldgemma:1b\nSYSTEM s\nPARAMETER temperature 0.5\n",
        "h/Modelfile": "FROM oldgemma:1b\nPARSER mine\nPARAMETER stop END\n",
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    report = ws.build_json("--all")
    assert report["ok"], report
    shown = ollama_double.show(f"g:{ws.tag()}")
    assert "RENDERER gemma4" in shown["modelfile"] and "PARSER gemma4" in shown["modelfile"]
    assert 'stop                           "<turn|>"' in shown["parameters"]
    h = ollama_double.show(f"h:{ws.tag()}")
    assert "RENDERER gemma4" in h["modelfile"] and "PARSER mine" in h["modelfile"]
    assert '"END"' in h["parameters"]
    from mfops.server.roundtrip import SERVER_FILLED, Mismatch

    assert SERVER_FILLED["gemma4"][0] == "gemma4"
    want = Mismatch("RENDERER", "gemma4", "", "the server itself (gemma4 weights)")
    assert "(from the server itself (gemma4 weights))" in want.describe()


def test_draft_files_are_created_and_verified(tmp_path, ollama_double):
    """#13 item 9: v0.30+ stores DRAFT (the double mimics v0.33.0-rc2) and mfops checks it."""
    files = {
        "d/Modelfile": "FROM llama3.2:3b\nDRAFT ./draft.gguf\n",
        "d/draft.gguf": fake_gguf(name="draft"),
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    report = ws.build_json("--all")
    assert report["ok"], report
    body = ollama_double.calls.bodies("/api/create")[-1]
    assert list(body["draft_files"]) == ["draft.gguf"]
    assert "\nDRAFT " in ollama_double.show(f"d:{ws.tag()}")["modelfile"]


def test_build_refuses_before_any_create_what_an_older_server_would_drop(tmp_path, ollama_double):
    files = {"r/Modelfile": "FROM llama3.2:3b\nRENDERER qwen3-coder\nREQUIRES 0.14.0\n"}
    ws = make_workspace(tmp_path, ollama_double, files)
    ollama_double.api.version = "0.11.4"
    code, out, err = ws.mfops("build", "--all")
    assert code == 1
    assert "r/Modelfile:2: RENDERER needs Ollama 0.12.0 or newer, but" in out + err
    assert "runs Ollama 0.11.4" in out + err and "(and 1 more)" in out + err
    assert ollama_double.calls.count("/api/create") == 0


def test_creates_that_upload_blobs_run_one_at_a_time(tmp_path, ollama_double):
    """#13 item 6: Ollama collects blobs no written manifest references, even while another
    create is about to use one, so creates with uploads are serialised."""
    files = {}
    for n in range(4):
        files[f"m{n}/Modelfile"] = f"FROM ./w.gguf\nSYSTEM model {n}\n"
        files[f"m{n}/w.gguf"] = fake_gguf(name=f"w{n}")
    ws = make_workspace(tmp_path, ollama_double, files)
    ollama_double.faults.stream_delay["/api/create"] = 0.05
    report = ws.build_json("--all", "-j", "4")
    assert report["ok"], report
    assert ollama_double.calls.count("/api/create") == 4
    assert ollama_double.calls.max_concurrency["/api/create"] == 1


def test_create_whose_blob_was_collected_checks_and_uploads_again(tmp_path, ollama_double):
    files = {"m/Modelfile": "FROM ./w.gguf\nSYSTEM s\n", "m/w.gguf": fake_gguf(name="w")}
    ws = make_workspace(tmp_path, ollama_double, files)
    ollama_double.faults.fail_stream(
        "/api/create",
        after_lines=1,
        error="open /usr/share/ollama/.ollama/models/blobs/sha256-00: no such file or directory",
    )
    report = ws.build_json("--all")
    assert report["ok"], report
    assert ollama_double.calls.count("/api/create") == 2
    assert ollama_double.calls.count("HEAD /api/blobs") == 2
