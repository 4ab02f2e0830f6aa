"""`mfops test --against` on a real Ollama (MFOPS_TEST_OLLAMA_HOST, with the tiny model of
../shared/ollama as MFOPS_TEST_OLLAMA_BASE, default `llama3`): the mechanics, not the
model's quality. The same Modelfile built at two tags is the same weights, so with the same
seeds both sides must answer identically sample by sample; a re-run is answered from the
cache (no chat request); a missing --against tag is exit 2."""

from __future__ import annotations

import contextlib
import json
import os
import uuid

import pytest

from tests.realserver import needs_inference

pytestmark = pytest.mark.ollama


def test_comparison_mechanics_on_a_real_server(tmp_path, monkeypatch):
    from mfops.server.client import Server, resolve_host
    from tests.buildkit import run_main
    from tests.gitrepo import GitRepo

    host = os.environ.get("MFOPS_TEST_OLLAMA_HOST")
    if not host:
        pytest.skip("set MFOPS_TEST_OLLAMA_HOST to run against a real Ollama")
    needs_inference()  # v0.33.0-rc2 in .ci/run manages models only (its chat is HTTP 500)
    base = os.environ.get("MFOPS_TEST_OLLAMA_BASE", "llama3")
    server = Server(resolve_host(host))
    present = server.models()
    if base.casefold() not in present and f"{base}:latest".casefold() not in present:
        pytest.skip(f"{base} is not on {host}")
    name = f"mfops-cmp-{uuid.uuid4().hex[:6]}"
    repo = GitRepo(tmp_path / "repo")
    repo.write(f"{name}/Modelfile", f"FROM {base}\nPARAMETER num_predict 6\n")
    repo.write(
        f"{name}/{name}.test.yaml",
        f"model: {name}\noptions:\n  temperature: 0.9\nsamples: 3\ncases:\n"
        "  - name: says something\n    prompt: hello\n"
        "    assert:\n      - type: not-contains\n        value: zzzzqqqq-never\n",
    )
    repo.commit("model")
    monkeypatch.setenv("OLLAMA_HOST", host)
    root = str(repo.root)
    try:
        assert run_main("-C", root, "lock")[0] == 0
        for tag in ("cand", "rel"):
            code, out, err = run_main("-C", root, "build", "--all", "--tag", tag)
            assert code == 0, out + err
        args = ("-C", root, "test", "--tag", "cand", "--against", "rel", "--format", "json")
        code, out, err = run_main(*args)
        assert code == 0, out + err
        data = json.loads(out)
        case = data["cases"][0]
        assert case["verdict"] == "unchanged"  # 3 vs 3 samples can reach alpha 0.05
        assert (case["candidate"]["passed"], case["baseline"]["passed"]) == (3, 3)
        cand = [s["output"] for s in data["candidate"]["cases"][0]["samples"]]
        rel = [s["output"] for s in data["baseline"]["cases"][0]["samples"]]
        seeds = [s["seed"] for s in data["candidate"]["cases"][0]["samples"]]
        assert seeds == [42, 43, 44] and cand == rel
        assert data["candidate"]["summary"]["chat_calls"] == 6
        code, out, _ = run_main(*args)
        assert code == 0 and json.loads(out)["candidate"]["summary"]["chat_calls"] == 0
        code, _, err = run_main("-C", root, "test", "--tag", "cand", "--against", "nope")
        assert code == 2 and f"{name}:nope is not on the server" in err
    finally:
        # Every tag of the model, the content tag `name:mf-…` the builds wrote included.
        with contextlib.suppress(Exception):
            for entry in server.models().values():
                if entry.name.casefold().startswith(f"{name}:"):
                    server.delete(entry.name)
