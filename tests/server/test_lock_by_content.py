"""A base made on each server from one GGUF file (not pulled): Ollama 0.24 writes the file's
path in the server's models directory into its manifest, so two servers whose OLLAMA_MODELS
differ list the same base under two digests. The lock then also holds the base's content
fingerprint, and a server whose copy reads back with it holds the locked base; one whose
content differs is still refused. Two doubles of 0.24.0 with their own models directories,
the installed mfops in a subprocess."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from mfops.testing.double import OllamaDouble, fake_gguf
from tests.gitrepo import GitRepo

BASE = "wbase:latest"


def make_base(double: OllamaDouble, system: str = "You are careful.") -> None:
    data = fake_gguf()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    httpx.post(f"{double.url}/api/blobs/{digest}", content=data, timeout=10)
    body = {"model": BASE, "files": {"w.gguf": digest}, "system": system, "stream": False}
    assert httpx.post(f"{double.url}/api/create", json=body, timeout=10).status_code == 200


def listed(double: OllamaDouble) -> dict[str, str]:
    models = httpx.get(f"{double.url}/api/tags", timeout=10).json()["models"]
    return {m["name"]: m["digest"] for m in models}


@pytest.fixture(name="servers")
def servers_fixture() -> Iterator[list[OllamaDouble]]:
    twins = [
        OllamaDouble(version="0.24.0", models_dir=f"/srv/{n}/models", rewrite_gguf=False)
        for n in ("a", "b")
    ]
    for d in twins:
        d.start()
        make_base(d)
    try:
        yield twins
    finally:
        for d in twins:
            d.stop()


@pytest.fixture(name="repo")
def repo_fixture(tmp_path, servers, run_mfops) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.write("m/Modelfile", "FROM wbase\nSYSTEM You are the company bot.\n")
    repo.commit("a model on a base made from a file")
    done = run_mfops("lock", "--host", servers[0].url, cwd=repo.root)
    assert done.returncode == 0, done.stderr
    repo.commit("lock")
    return repo


def test_the_lock_holds_the_fingerprint_of_a_base_made_from_a_file(repo, servers):
    a, b = (listed(d)[BASE] for d in servers)
    assert a != b  # one file, one content, two manifest digests (the real 0.24.0 does this)
    lock = json.loads((repo.root / "mfops.lock").read_text())
    assert lock["bases"] == {BASE: f"sha256:{a}"}
    assert list(lock["contents"]) == [BASE] and lock["contents"][BASE].startswith("sha256:")


def test_a_server_holding_the_same_content_under_another_digest_builds(repo, servers, run_mfops):
    other = servers[1]
    done = run_mfops("build", "--all", "--host", other.url, "--format", "json", cwd=repo.root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] and other.calls.count("/api/create") == 2
    done = run_mfops("status", "--host", other.url, "--format", "json", cwd=repo.root)
    (base,) = json.loads(done.stdout)["bases"]
    assert (base["state"], base["same_content"]) == ("ok", True)
    text = run_mfops("status", "--host", other.url, cwd=repo.root).stdout
    assert f"{BASE}: matches the lock by content (another digest: made there from a file)" in text
    before = (repo.root / "mfops.lock").read_text()
    done = run_mfops("lock", "--update", "--host", other.url, cwd=repo.root)
    assert done.returncode == 0, done.stderr
    assert (repo.root / "mfops.lock").read_text() == before  # the same base: no churn


def test_a_server_whose_base_really_differs_is_still_refused(repo, servers, run_mfops):
    other = servers[1]
    make_base(other, system="Something else entirely.")
    done = run_mfops("build", "--all", "--host", other.url, cwd=repo.root)
    assert done.returncode == 1
    assert f"mfops.lock: {BASE} is locked at sha256:" in done.stderr
    assert other.calls.count("/api/create") == 2  # its two bases only: nothing built on it


def test_a_pulled_base_gets_no_fingerprint(tmp_path, run_mfops):
    with OllamaDouble(version="0.24.0") as double:
        double.add_local_model("pulled:latest", system="from a registry")
        repo = GitRepo(tmp_path / "repo")
        repo.write("m/Modelfile", "FROM pulled\n")
        repo.commit("a model on a pulled base")
        done = run_mfops("lock", "--host", double.url, cwd=repo.root)
        assert done.returncode == 0, done.stderr
    lock = json.loads((repo.root / "mfops.lock").read_text())
    assert set(lock) == {"version", "bases"}  # as before: older mfops read it unchanged
