"""Server answers that are not what the Ollama API promises: an HTML page (a proxy, a login
portal) with status 200 or 502, truncated JSON, a list where an object belongs, fields of the
wrong type, JSON nested a hundred thousand deep, a blob upload refused for a wrong digest.

Each is a clear error naming the host and the call, never a traceback, and nothing is
recorded: a call before any model is built (the probe, the listing) stops the command with
exit 2; a call for one model fails that model (exit 1) while the state stays as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfops.testing.double.gguf import fake_gguf
from tests.buildkit import Workspace, make_workspace
from tests.buildkit import ollama_double_fixture as ollama_double  # noqa: F401

NOT_OLLAMA = "the answer is not what Ollama sends"


@pytest.fixture
def ws(tmp_path: Path, ollama_double) -> Workspace:  # noqa: F811
    return make_workspace(tmp_path, ollama_double)


def recorded(ws: Workspace) -> dict:
    files = list((ws.root / ".mfops").glob("*/state.json"))
    return json.loads(files[0].read_text())["builds"] if files else {}


# every mfops call is retried on a 5xx, so a fault meant to stick is injected three times
BEFORE_ANY_MODEL = {
    "version: HTML with 200": ("/api/version", dict(status=200, body="<html>login</html>"),
                               "version: " + NOT_OLLAMA + " (not JSON: "),
    "version: truncated": ("/api/version", dict(status=200, body='{"version": "0.'),
                           "version: " + NOT_OLLAMA + " (not JSON: "),
    "version: a list": ("/api/version", dict(status=200, body="[1]"),
                        "version: " + NOT_OLLAMA + " (expected a JSON object, got list)"),
    "version: nested deep": ("/api/version", dict(status=200, body="[" * 100_000),
                             "version: " + NOT_OLLAMA + " (JSON nested too deeply)"),
    "version: HTML 502": ("/api/version", dict(status=502, html=True),
                          "version: the server answered with an HTML page, not Ollama's JSON "
                          "(HTTP 502)"),
    "tags: truncated": ("/api/tags", dict(status=200, body='{"models": ['),
                        "list: " + NOT_OLLAMA + " (not JSON"),
    "tags: empty body": ("/api/tags", dict(status=200, body=""), "list: " + NOT_OLLAMA),
    "tags: entries not objects": ("/api/tags", dict(status=200, body='{"models": [5]}'),
                                  "list: " + NOT_OLLAMA + " (AttributeError"),
    "tags: wrong field types": ("/api/tags", dict(status=200, body='{"models": [{"name": 5}]}'),
                                "list: " + NOT_OLLAMA + " (TypeError"),
    "tags: models not a list": ("/api/tags", dict(status=200, body='{"models": "all"}'),
                                "list: " + NOT_OLLAMA),
}  # fmt: skip


@pytest.mark.parametrize(("route", "fault", "message"), list(BEFORE_ANY_MODEL.values()),
                         ids=list(BEFORE_ANY_MODEL))  # fmt: skip
def test_bad_answer_before_any_model_stops_the_build(ws: Workspace, route, fault, message):
    ws.double.faults.fail_next(route, times=3, **fault)
    code, out, err = ws.mfops("build", "--all")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"mfops: Ollama at {ws.double.url}: {message}"), line
    assert ws.double.calls.count("/api/create") == 0
    assert recorded(ws) == {}


FOR_ONE_MODEL = {
    "create: HTML 502": ("/api/create", dict(status=502, html=True),
                         "the server answered with an HTML page"),
    "create: garbage line": ("/api/create", dict(status=200, body="this is not json\n"),
                             NOT_OLLAMA + " (not JSON"),
    "create: truncated line": ("/api/create", dict(status=200, body='{"status": "succ'),
                               NOT_OLLAMA + " (not JSON"),
    "create: a list line": ("/api/create", dict(status=200, body="[1, 2]\n"),
                            NOT_OLLAMA + " (AttributeError"),
    "create: no success": ("/api/create", dict(status=200, body='{"status": "writing"}\n'),
                           "stream ended with 'writing', not 'success'"),
    "show: truncated": ("/api/show", dict(status=200, body='{"modelfile": "FROM'),
                        NOT_OLLAMA + " (not JSON"),
    "show: HTML with 200": ("/api/show", dict(status=200, body="<html></html>"),
                            NOT_OLLAMA + " (not JSON"),
    "show: wrong field types": ("/api/show", dict(status=200, body='{"modelfile": 5, '
                                '"parameters": [], "template": {}, "messages": "x"}'),
                                NOT_OLLAMA),
}  # fmt: skip


@pytest.mark.parametrize(("route", "fault", "message"), list(FOR_ONE_MODEL.values()),
                         ids=list(FOR_ONE_MODEL))  # fmt: skip
def test_bad_answer_for_one_model_fails_it_and_records_nothing(ws: Workspace, route, fault,
                                                                message):  # fmt: skip
    ws.double.faults.fail_next(route, times=3, **fault)
    code, out, err = ws.mfops("build", "other", "--format", "json")
    assert code == 1, err
    [model] = json.loads(out)["models"]
    assert model["action"] == "failed"
    assert model["error"].startswith(f"Ollama at {ws.double.url}: ")
    assert message in model["error"] and "\n" not in model["error"]
    assert recorded(ws) == {}


def test_blob_upload_refused_for_a_wrong_digest_fails_the_model(ws: Workspace):
    ws.repo.write("w/w.gguf", fake_gguf())
    ws.repo.write("w/Modelfile", "FROM ./w.gguf\n")
    ws.double.faults.fail_next("POST /api/blobs", status=400,
                               error="digest mismatch, expected sha256:0000")  # fmt: skip
    code, out, _ = ws.mfops("build", "w", "--format", "json")
    assert code == 1
    [model] = json.loads(out)["models"]
    assert model["action"] == "failed"
    assert "upload blob w.gguf (sha256:" in model["error"]
    assert "digest mismatch, expected sha256:0000 (HTTP 400)" in model["error"]
    assert ws.double.calls.count("/api/create") == 0
    assert recorded(ws) == {}


def test_bad_chat_answers_are_case_errors_and_are_not_cached(tmp_path: Path):
    from tests.behavekit import SEED_FILES, Lab, seeded_double
    from tests.gitrepo import GitRepo

    double = seeded_double()
    try:
        lab = Lab(GitRepo(tmp_path / "repo"), double)
        lab.write(SEED_FILES)
        lab.build("t1")
        for body in ("<html>portal</html>", '{"message": ', '{"message": 5}', "[" * 100_000):
            double.faults.fail_next("/api/chat", times=50, status=200, body=body)
            code, out, err = lab.mfops("test", "expert", "--tag", "t1", "--format", "json")
            assert code == 1, (body[:20], err)
            assert "Traceback" not in err and "internal error" not in err
            text = json.dumps(json.loads(out))
            assert f"chat with expert:t1: {NOT_OLLAMA}" in text, body[:20]
            double.faults.clear()
        double.calls.reset()
        assert lab.mfops("test", "expert", "--tag", "t1")[0] == 0
        assert lab.chats() > 0  # the bad answers were not cached as results
    finally:
        double.stop()


def test_bad_pull_stream_leaves_the_lock_alone(ws: Workspace):
    before = (ws.root / "mfops.lock").read_bytes()
    ws.double.faults.fail_next("/api/pull", times=3, status=200, body="<html>captive portal")
    code, _, err = ws.mfops("lock", "--pull", "--update")
    assert code == 2
    assert f"pull llama3.2:3b: {NOT_OLLAMA}" in err
    assert (ws.root / "mfops.lock").read_bytes() == before
