"""`diff --server`: two server models, or the repo at REF against the server."""

from __future__ import annotations

import json

from tests.buildkit import BASE, HIERARCHY, Workspace, ollama_double_fixture, ws_fixture  # noqa: F401


def server_diff(ws: Workspace, *args: str) -> tuple[int, str]:
    """`mfops diff --server ARGS` through the real entry point."""
    code, out, err = ws.mfops("diff", "--server", *args)
    assert code in (0, 1), err
    return code, out


def test_two_server_models(ws: Workspace):
    ws.double.client().pull(BASE)
    ws.double.add_local_model("a:1", from_=BASE, system="one", parameters={"temperature": 0.5})
    ws.double.add_local_model(
        "a:2", from_=BASE, system="two", parameters={"temperature": 0.5, "seed": 3}
    )
    code, out = server_diff(ws, "a:1", "a:2", "--exit-code")
    assert code == 1
    assert out == (
        "--- a:1\n+++ a:2\na:2: differs\n    SYSTEM: 'one' -> 'two'\n"
        "    PARAMETER seed: (unset) -> 3\n1 differ, 0 same\n"
    )
    code, out = server_diff(ws, "a:1", "a:1", "--format", "json")
    assert code == 0 and json.loads(out)["differs"] is False


def test_repo_at_ref_against_the_server(ws: Workspace):
    ws.build_json("--all")
    tag = ws.tag()
    ws.double.tamper(f"leaf:{tag}", system="hand edit")
    ws.double.client().delete(f"other:{tag}")
    code, out = server_diff(ws, "HEAD", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["new"] == f"{ws.double.url} at tag {tag}"
    rows = {m["model"]: m for m in report["models"]}
    assert {m: r["status"] for m, r in rows.items()} == {
        "base": "same",
        "mid": "same",
        "leaf": "differs",
        "other": "missing",
    }
    assert rows["leaf"]["fields"] == [
        {"field": "SYSTEM", "old": "You are the leaf.", "new": "hand edit", "origin": "leaf"}
    ]


def test_ref_that_is_a_tag_on_the_server(ws: Workspace):
    ws.repo.tag("v1.0.0")
    ws.build_json("--all")  # release tags move only by promotion
    ws.ok("promote", "--all", "--to", "v1.0.0", "--allow-untested")
    ws.repo.write("base/Modelfile", HIERARCHY["base/Modelfile"] + "PARAMETER seed 9\n")
    code, out = server_diff(ws, "v1.0.0", "-m", "mid")
    assert code == 0
    assert out.splitlines()[1] == f"+++ {ws.double.url} at tag v1.0.0"
    assert "mid:v1.0.0: same" in out


def test_two_server_models_one_missing_is_an_unknown_model(ws: Workspace):
    """A mistyped name or tag is exit 2 naming it; it was a "difference" rendered under the
    other model's name (`a:1: missing`) that passed with exit 0."""
    ws.double.client().pull(BASE)
    ws.double.add_local_model("a:1", from_=BASE, system="one")
    code, out, err = ws.mfops("diff", "--server", "nosuch:1", "a:1", "--exit-code")
    assert (code, out) == (2, "")
    assert err == f"mfops: no model 'nosuch:1' on {ws.double.url} (see `ollama list`)\n"
    code, out, err = ws.mfops("diff", "--server", "a:1", "a:9", "--format", "json")
    assert (code, out) == (2, "")
    assert err == f"mfops: no model 'a:9' on {ws.double.url} (see `ollama list`)\n"
    code, _, err = ws.mfops("diff", "--server", "x:1", "y:1")
    assert code == 2
    assert err == f"mfops: no models 'x:1' and 'y:1' on {ws.double.url} (see `ollama list`)\n"
