"""`mfops lock`: resolve external bases to server digests, write mfops.lock atomically."""

from __future__ import annotations

import json

from tests.buildkit import BASE, make_workspace, ollama_double_fixture  # noqa: F401

FILES = {
    "a/Modelfile": "FROM llama3.2:3b\nSYSTEM a\n",
    "b/Modelfile": "FROM qwen2.5:7b\nSYSTEM b\n",
    "c/Modelfile": "FROM a\nSYSTEM c\n",
}


def lock_file(ws) -> dict:
    return json.loads((ws.root / "mfops.lock").read_text())


def test_lock_pull_adds_every_external_base(tmp_path, ollama_double):
    ollama_double.add_registry_model("qwen2.5:7b")
    ws = make_workspace(tmp_path, ollama_double, FILES, lock=False)
    code, out, err = ws.mfops("lock", "--pull")
    assert code == 0, err
    digests = {ref: "sha256:" + ollama_double.digest(ref) for ref in (BASE, "qwen2.5:7b")}
    assert lock_file(ws) == {"version": 1, "bases": digests}
    assert out == (
        f"added     llama3.2:3b  {digests[BASE]}\n"
        f"added     qwen2.5:7b  {digests['qwen2.5:7b']}\nmfops.lock written\n"
    )
    assert "pulling llama3.2:3b" in err
    code, out, _ = ws.mfops("lock")
    assert out.endswith("mfops.lock unchanged\n")


def test_missing_base_without_pull_is_an_error(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, FILES, lock=False)
    ollama_double.client().pull(BASE)
    code, _, err = ws.mfops("lock")
    assert code == 2
    assert err == (
        f"mfops: not on {ollama_double.url}: qwen2.5:7b (run `mfops lock --pull` "
        "to pull them, or `ollama pull` them yourself)\n"
    )
    assert not (ws.root / "mfops.lock").exists()


def test_outdated_entries_are_kept_unless_update(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, {"a/Modelfile": FILES["a/Modelfile"]})
    old = lock_file(ws)["bases"][BASE]
    ollama_double.add_registry_model(BASE, system="new upstream weights")
    ollama_double.client().pull(BASE)
    new = "sha256:" + ollama_double.digest(BASE)
    code, out, _ = ws.mfops("lock")
    assert code == 0
    assert f"outdated  llama3.2:3b  {old}  (server has {new}; --update takes it)" in out
    assert lock_file(ws)["bases"][BASE] == old
    code, out, _ = ws.mfops("lock", "--update", "--format", "json")
    report = json.loads(out)
    assert report["written"] is True
    assert report["bases"][0] | {"used_by": None} == {
        "reference": BASE,
        "digest": new,
        "server": new,
        "previous": old,
        "state": "updated",
        "used_by": None,
    }
    assert lock_file(ws)["bases"][BASE] == new


def test_unused_entries_are_removed(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, {"a/Modelfile": FILES["a/Modelfile"]})
    data = lock_file(ws)
    data["bases"]["gone:1b"] = "sha256:" + "0" * 64
    (ws.root / "mfops.lock").write_text(json.dumps(data))
    code, out, _ = ws.mfops("lock")
    assert code == 0
    assert "removed   gone:1b" in out
    assert list(lock_file(ws)["bases"]) == [BASE]


def test_lock_update_then_build_changed_rebuilds_descendants(tmp_path, ollama_double):
    ws = make_workspace(
        tmp_path,
        ollama_double,
        {
            "a/Modelfile": FILES["a/Modelfile"],
            "c/Modelfile": FILES["c/Modelfile"],
            "d/Modelfile": "FROM ./w.gguf\nSYSTEM d\n",
            "d/w.gguf": "GGUF",
        },
    )
    ws.build_json("a", "c")
    ollama_double.add_registry_model(BASE, system="new upstream weights")
    ws.ok("lock", "--update", "--pull")
    ws.repo.commit("lock update")
    ollama_double.calls.reset()
    report = ws.build_json("--changed", "--dry-run")
    assert [(m["model"], m["reason"]) for m in report["models"]] == [
        ("a", "base changed"),
        ("c", "base changed"),
    ]


def test_malformed_lock_is_reported_with_its_line(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, {"a/Modelfile": FILES["a/Modelfile"]})
    (ws.root / "mfops.lock").write_text('{"version": 1,\n "bases": {"x": "nope"}}\n')
    code, _, err = ws.mfops("lock")
    assert code == 2
    assert err.startswith("mfops.lock:2: bases.x: expected 'sha256:'")
