"""`mfops status`: up to date / stale / drifted / missing per model, and the bases' lock."""

from __future__ import annotations

import json

from tests.buildkit import (  # noqa: F401
    BASE,
    HIERARCHY,
    Workspace,
    ollama_double_fixture,
    ws_fixture,
)


def statuses(ws: Workspace, *args: str) -> dict:
    code, out, err = ws.mfops("status", "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def test_every_state(ws: Workspace):
    ws.build_json("--all")
    tag = ws.tag()
    ws.double.tamper(f"mid:{tag}", system="hand edit")
    for other in [m for m in ws.double.client().list().models if m.model.startswith("other:")]:
        ws.double.client().delete(other.model)
    ws.repo.write("leaf/Modelfile", HIERARCHY["leaf/Modelfile"] + "PARAMETER seed 3\n")
    ws.double.calls.reset()
    report = statuses(ws)
    rows = {m["model"]: m for m in report["models"]}
    assert {m: r["status"] for m, r in rows.items()} == {
        "base": "up to date",
        "mid": "drifted",
        "leaf": "stale",
        "other": "missing",
    }
    assert rows["base"]["current"] == [tag] and rows["mid"]["drifted"] == [tag]
    assert rows["leaf"]["tags"] == [tag]
    assert report["bases"][0]["state"] == "ok"
    assert ws.double.calls.count("/api/tags") == 1
    assert ws.double.calls.count("/api/show") == 0


def test_text_output_and_exit_code(ws: Workspace):
    code, out, _ = ws.mfops("status", "--exit-code")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"Ollama at {ws.double.url}"
    assert lines[2].split() == ["base", lines[2].split()[1], "missing", "-"]
    assert "  llama3.2:3b: matches the lock" in out
    ws.build_json("--all")
    code, out, _ = ws.mfops("status", "--exit-code")
    assert code == 0
    assert f"{ws.tag()}*" in out


def test_tag_filter(ws: Workspace):
    ws.build_json("--all")
    ws.build_json("--all", "--tag", "v2")
    rows = {m["model"]: m for m in statuses(ws, "--tag", "v3")["models"]}
    assert rows["base"]["status"] == "missing"
    rows = {m["model"]: m for m in statuses(ws, "--tag", "v2")["models"]}
    assert rows["base"]["current"] == ["v2"]


def test_base_that_moved_upstream(ws: Workspace):
    ws.double.add_registry_model(BASE, system="upstream moved")
    report = statuses(ws)
    assert report["bases"][0]["state"] == "ok"  # the server's copy is still the locked one
    report = statuses(ws, "--pull")
    base = report["bases"][0]
    assert base["state"] == "mismatch"
    assert base["server"] == "sha256:" + ws.double.digest(BASE) != base["locked"]


def test_status_and_dry_run_share_one_classifier(ws: Workspace):
    """A hand-made `base:v9` is drifted for `status --tag v9` and for `build --dry-run`."""
    ws.build_json("--all")
    ws.double.client().copy(BASE, "base:v9")  # made by hand: no content tag holds it
    rows = {m["model"]: m for m in statuses(ws, "--tag", "v9")["models"]}
    assert rows["base"]["status"] == "drifted" and rows["base"]["drifted"] == ["v9"]
    plan = ws.build_json("base", "--tag", "v9", "--dry-run")
    assert [(i["model"], i["reason"]) for i in plan["models"]] == [("base", "drifted")]
    rows = {m["model"]: m for m in statuses(ws)["models"]}
    assert rows["base"]["status"] == "drifted"  # a hand-made tag outranks the good ones
    assert rows["mid"]["status"] == "up to date"


def test_content_tags_are_not_listed_but_count(ws: Workspace):
    ws.build_json("--all")
    rows = {m["model"]: m for m in statuses(ws)["models"]}
    assert rows["base"]["tags"] == [ws.tag()]
    for m in ws.double.client().list().models:
        if m.model.endswith(ws.tag()):
            ws.double.client().delete(m.model)
    rows = {m["model"]: m for m in statuses(ws)["models"]}
    assert {r["status"] for r in rows.values()} == {"up to date"}  # content tags hold it


def test_a_forced_rebuild_at_another_tag_leaves_earlier_tags_up_to_date(ws: Workspace):
    """Children are created FROM their parent's content tag, so the same content gives the
    same manifest at every tag: rebuilding never makes an earlier tag look drifted."""
    ws.build_json("--all")
    ws.build_json("--all", "--tag", "rc1", "--force")
    froms = {b["model"]: b.get("from") for b in ws.double.calls.bodies("/api/create")}
    assert froms["mid:rc1"].startswith("base:mf-")
    rows = {m["model"]: m for m in statuses(ws)["models"]}
    assert {r["status"] for r in rows.values()} == {"up to date"}
    assert rows["leaf"]["current"] == sorted(["rc1", ws.tag()])
