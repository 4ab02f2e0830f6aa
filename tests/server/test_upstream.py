"""Bases that move upstream: `mfops lock --check` against a registry stub on 127.0.0.1,
`lock --update --pull` through the double (which pulls from the stub) and `build --changed`,
`status --upstream`, and every registry fault as one line, exit 2, the lock untouched."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfops.server.client import Server, resolve_host
from mfops.testing.double import OllamaDouble
from tests.buildkit import Workspace, make_workspace, run_main
from tests.gitrepo import GitRepo
from tests.registry_stub import Fault, RegistryStub


@pytest.fixture
def stub() -> Iterator[RegistryStub]:
    with RegistryStub() as registry:
        yield registry


@pytest.fixture
def double(stub: RegistryStub) -> Iterator[OllamaDouble]:
    """A double whose pulls go to the stub (its own pretend registry is empty)."""
    with OllamaDouble() as d:
        d.store.registry.upstream = stub.url
        yield d


def files(stub: RegistryStub, registry: str | None = None) -> dict[str, str]:
    return {
        "mfops.yaml": (
            f"defaults:\n  registry: {registry or stub.netloc}\n"
            f"  insecure_registries: [{stub.netloc}]\n"
        ),
        "a/Modelfile": "FROM base\nSYSTEM a\n",
        "c/Modelfile": "FROM a\nSYSTEM c\n",
        "b/Modelfile": f"FROM {stub.netloc}/team/tuned:v1\nSYSTEM b\n",
    }


@pytest.fixture
def ws(tmp_path: Path, stub: RegistryStub, double: OllamaDouble) -> Workspace:
    stub.publish_model("library/base:latest", system="v1")
    stub.publish_model("team/tuned:v1", system="t1")
    ws = make_workspace(tmp_path, double, files(stub))
    stub.requests.clear()  # the pulls of make_workspace's `lock --pull`
    return ws


def lock_text(ws: Workspace) -> str:
    return (ws.root / "mfops.lock").read_text()


def tuned(stub: RegistryStub) -> str:
    return f"{stub.netloc}/team/tuned:v1"


def test_lock_records_what_the_registry_serves(ws, stub):
    """The lock (the server's /api/tags digest after a pull) is the sha256 of the
    registry's manifest bytes, so the check compares like with like."""
    locked = json.loads(lock_text(ws))["bases"]
    assert locked == {
        "base:latest": stub.publish_model("library/base:latest", system="v1"),
        tuned(stub): stub.publish_model("team/tuned:v1", system="t1"),
    }


def test_nothing_moved_exits_0_without_a_server(ws, stub):
    ws.double.stop()  # --check never talks to Ollama
    code, out, err = ws.mfops("lock", "--check")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "no base moved upstream"
    assert "current   base:latest  sha256:" in out
    paths = sorted(r.path for r in stub.manifest_requests())
    assert paths == ["/v2/library/base/manifests/latest", "/v2/team/tuned/manifests/v1"]
    assert all(
        r.headers.get("Accept") == "application/vnd.docker.distribution.manifest.v2+json"
        for r in stub.manifest_requests()
    )


def test_a_moved_base_is_named_with_both_digests_and_its_models(ws, stub):
    old = json.loads(lock_text(ws))["bases"]["base:latest"]
    new = stub.publish_model("library/base:latest", system="v2")
    before = lock_text(ws)
    code, out, err = ws.mfops("lock", "--check")
    assert code == 1, err
    assert (
        f"moved     base:latest  (at {stub.netloc})\n"
        f"  locked    {old}\n  upstream  {new}\n  models    a, c\n"
    ) in out
    assert "`mfops lock --update --pull base:latest`" in out
    code, out, _ = ws.mfops("lock", "--check", "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert report["moved"] == ["base:latest"]
    row = next(r for r in report["bases"] if r["reference"] == "base:latest")
    assert row == {
        "reference": "base:latest",
        "registry": stub.netloc,
        "state": "moved",
        "locked": old,
        "upstream": new,
        "used_by": ["a"],
        "affected": ["a", "c"],
    }
    assert lock_text(ws) == before, "--check never writes the lock"
    assert not ws.double.calls.count("/api/pull")


def test_check_of_named_bases_only(ws, stub):
    stub.publish_model("library/base:latest", system="v2")
    code, out, _ = ws.mfops("lock", "--check", tuned(stub))
    assert code == 0
    assert "base:latest" not in out
    code, _, err = ws.mfops("lock", "--check", "nope:1b")
    assert code == 2
    assert err.startswith("mfops: nope:1b is not an external base of this repo (its external")


def test_update_pull_then_build_changed_rebuilds_exactly_the_dependants(ws, stub):
    new = stub.publish_model("library/base:latest", system="v2")
    code, out, err = ws.mfops("lock", "--update", "--pull", "base")
    assert code == 0, err
    assert f"updated   base:latest  {new}" in out
    assert ws.double.digest("base:latest") == new.removeprefix("sha256:")
    assert json.loads(lock_text(ws))["bases"]["base:latest"] == new
    code, out, _ = ws.mfops("lock", "--check")
    assert code == 0, "after the update the lock is what the registry serves"
    ws.repo.commit("take the new base")
    ws.double.calls.reset()
    ws.build_json("--changed")
    assert sorted(ws.creates()) == [f"a:{ws.tag()}", f"c:{ws.tag()}"]


def test_check_update_pull_in_one_step(ws, stub):
    new = stub.publish_model("library/base:latest", system="v2")
    locked_tuned = json.loads(lock_text(ws))["bases"][tuned(stub)]
    code, out, err = ws.mfops("lock", "--check", "--update", "--pull", "--format", "json")
    assert code == 1, err  # the check's verdict: something moved (and was taken)
    assert json.loads(out)["written"] is True
    assert json.loads(lock_text(ws))["bases"] == {"base:latest": new, tuned(stub): locked_tuned}
    pulled = [b["model"] for b in ws.double.calls.bodies("/api/pull")]
    assert pulled == ["base:latest"], "only the moved base is pulled"
    assert ws.mfops("lock", "--check")[0] == 0


def test_nothing_moved_means_check_update_touches_no_server(ws, stub):
    ws.double.stop()
    before = lock_text(ws)
    assert ws.mfops("lock", "--check", "--update", "--pull")[0] == 0
    assert lock_text(ws) == before


def test_a_base_with_a_host_is_pulled_insecure_only_when_listed(tmp_path, stub, double):
    stub.publish_model("library/base:latest", system="v1")
    stub.publish_model("team/tuned:v1", system="t1")
    ws = make_workspace(tmp_path, double, files(stub), lock=False)
    assert ws.mfops("lock", "--pull")[0] == 0
    insecure = {b["model"]: b.get("insecure") for b in double.calls.bodies("/api/pull")}
    # every pull says whether plain http is allowed; only a listed registry gets True
    assert insecure == {"base:latest": False, tuned(stub): True}


def test_plain_http_registry_must_be_listed(tmp_path, stub, double):
    stub.publish_model("library/base:latest", system="v1")
    stub.publish_model("team/tuned:v1", system="t1")
    ws = make_workspace(tmp_path, double, files(stub))
    ws.repo.write("mfops.yaml", f"defaults:\n  registry: http://{stub.netloc}\n")
    code, _, err = ws.mfops("lock", "--check", "base")
    assert code == 2
    assert err == (
        f"mfops: registry http://{stub.netloc} (base:latest) speaks plain http but is not "
        f"listed as insecure (add {stub.netloc} to defaults.insecure_registries in mfops.yaml)\n"
    )
    # Not listed, no scheme: https, which the plain-http stub cannot speak.
    code, _, err = ws.mfops("lock", "--check", tuned(stub))
    assert code == 2
    assert err.startswith(f"mfops: cannot reach registry https://{stub.netloc} for {tuned(stub)}")


def test_credentials_are_sent_and_never_printed(tmp_path, stub, double):
    stub.publish_model("library/base:latest", system="v1")
    stub.publish_model("team/tuned:v1", system="t1")
    ws = make_workspace(tmp_path, double, files(stub, registry=f"bot:s3cret@{stub.netloc}"))
    stub.requests.clear()
    code, out, err = ws.mfops("lock", "--check", "base", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["bases"][0]["registry"] == stub.netloc
    assert "s3cret" not in out + err
    sent = [r.headers.get("Authorization") for r in stub.manifest_requests()]
    assert sent == ["Basic " + base64.b64encode(b"bot:s3cret").decode()]
    stub.fault = Fault(status=401)
    for fmt in ("text", "json"):
        code, out, err = ws.mfops("lock", "--check", "base", "--format", fmt)
        assert code == 2
        assert "s3cret" not in out + err
        assert err.startswith(f"mfops: registry http://{stub.netloc}: base:latest: access denied")


FAULTS = [
    (Fault(status=401), "access denied (HTTP 401) (the model is private, or the registry needs"),
    (Fault(status=404), "no such model or tag there (HTTP 404) (check the FROM line"),
    (Fault(status=500), "the registry answered HTTP 500"),
    (Fault(body=b"<html>login</html>"), "the answer is not a model manifest (not JSON)"),
    (Fault(body=b"[1, 2]"), "the answer is not a model manifest (not a JSON object)"),
    (
        Fault(body=b'{"schemaVersion": 2, "config": {"digest": "md5:x"}, "layers": [{}]}'),
        "the answer is not a model manifest (a layer without a sha256 digest)",
    ),
    (Fault(redirect="http://localhost:9"), "redirected to another host (http://localhost:9);"),
    (Fault(delay=3), "no complete answer within 0.5s (the registry is slow or stuck"),
]


@pytest.mark.parametrize(
    ("fault", "message"), FAULTS, ids=lambda v: v.__class__.__name__ if isinstance(v, Fault) else ""
)
def test_registry_faults_are_one_line_exit_2_lock_untouched(ws, stub, fault, message):
    stub.publish_model("library/base:latest", system="v2")  # moved, but the check cannot say
    before = lock_text(ws)
    stub.fault = fault
    for extra in ((), ("--update", "--pull")):
        code, out, err = ws.mfops("lock", "--check", "base", "--registry-timeout", "0.5", *extra)
        assert code == 2
        assert out == ""
        assert (
            err
            == f"mfops: registry http://{stub.netloc}: base:latest: {message}"
            + (err.split(message, 1)[1])
        )
        assert err.count("\n") == 1 and "Traceback" not in err
        assert lock_text(ws) == before
    assert not ws.double.calls.count("/api/pull")


def test_redirect_to_another_host_is_never_followed(ws, stub):
    with RegistryStub() as other:
        other.publish_model("library/base:latest", system="elsewhere")
        stub.fault = Fault(redirect=other.url.replace("127.0.0.1", "localhost"))
        assert ws.mfops("lock", "--check", "base")[0] == 2
        assert other.requests == []


def test_a_redirect_on_the_same_host_is_followed(ws, stub):
    stub.fault = Fault(redirect=stub.url, times=1)
    code, _, err = ws.mfops("lock", "--check", "base")
    assert (code, err) == (0, "")
    assert [r.path for r in stub.manifest_requests()] == ["/v2/library/base/manifests/latest"] * 2


def test_unreachable_registry_is_named(ws, stub):
    stub.stop()
    code, _, err = ws.mfops("lock", "--check")
    assert code == 2
    assert err.startswith(f"mfops: cannot reach registry http://{stub.netloc} for ")
    assert "(check the network, or defaults.registry in mfops.yaml)" in err


def test_status_shows_locked_server_and_upstream(ws, stub):
    new = stub.publish_model("library/base:latest", system="v2")
    locked = json.loads(lock_text(ws))["bases"]["base:latest"]
    code, out, err = ws.mfops("status", "--upstream", "--format", "json")
    assert code == 0, err
    base = next(b for b in json.loads(out)["bases"] if b["reference"] == "base:latest")
    assert (base["locked"], base["server"], base["upstream"]) == (locked, locked, new)
    assert base["upstream_state"] == "moved"
    code, out, _ = ws.mfops("status", "--upstream")
    assert f"  base:latest: matches the lock; MOVED upstream (locked {locked}, " in out
    assert f"upstream {new})" in out
    code, out, _ = ws.mfops("status", "--format", "json")
    assert "upstream" not in json.loads(out)["bases"][0], "no registry call without --upstream"
    assert ws.mfops("status", "--upstream", "--exit-code")[0] == 1
    stub.fault = Fault(status=500)
    code, _, err = ws.mfops("status", "--upstream")
    assert code == 2
    assert "the registry answered HTTP 500" in err


def test_config_refuses_bad_registries(tmp_path, stub, double):
    ws = make_workspace(tmp_path, double, {"a/Modelfile": "FROM base\n"}, lock=False)
    for yaml_text, message in (
        ("defaults:\n  registry: ftp://x\n", "registry scheme must be http or https, not 'ftp'"),
        ("defaults:\n  registry: https://u:pw@host/path\n", "a URL without a path"),
        ("defaults:\n  insecure_registries: [http://x]\n", "is not a registry host"),
        ("defaults:\n  insecure_registries: x\n", "expected a list of strings"),
    ):
        ws.repo.write("mfops.yaml", yaml_text)
        code, _, err = ws.mfops("lock", "--check")
        assert code == 2
        assert err.startswith("mfops.yaml:") and message in err, err
        assert "pw" not in err


@pytest.mark.ollama
def test_a_real_ollama_pulls_from_the_stub_and_lock_check_agrees(tmp_path, monkeypatch):
    """Against a real server (MFOPS_TEST_OLLAMA_HOST, MFOPS_TEST_GGUF for the weights): the
    server pulls `127.0.0.1:PORT/library/tiny:latest` from the stub over plain http (the
    registry is listed as insecure), the digest it records is the sha256 of the manifest
    the stub served, so `lock --check` agrees with it; a new upstream manifest is reported
    moved, and `lock --update --pull` takes it."""
    host = os.environ["MFOPS_TEST_OLLAMA_HOST"]
    gguf = os.environ.get("MFOPS_TEST_GGUF")
    if not gguf:
        pytest.skip("set MFOPS_TEST_GGUF to the tiny model file")
    weights = Path(gguf).read_bytes()

    def config(kind: str) -> bytes:
        return json.dumps(
            {"model_format": "gguf", "model_family": "llama", "model_type": kind,
             "file_type": "F32", "architecture": "amd64", "os": "linux"}
        ).encode()  # fmt: skip

    name = f"mfops-it-{uuid.uuid4().hex[:8]}"
    server = Server(resolve_host(host))
    with RegistryStub() as registry:
        first = registry.publish_file(f"library/{name}:latest", weights, config("1M"))
        base = f"{registry.netloc}/library/{name}:latest"
        repo = GitRepo(tmp_path / "repo")
        repo.write("mfops.yaml", f"defaults:\n  insecure_registries: [{registry.netloc}]\n")
        repo.write("a/Modelfile", f"FROM {base}\nSYSTEM You are terse.\n")
        repo.commit("models")
        monkeypatch.setenv("OLLAMA_HOST", host)

        def mfops(*args: str) -> tuple[int, str, str]:
            return run_main("-C", str(repo.root), *args)

        try:
            code, out, err = mfops("lock", "--pull")
            assert code == 0, out + err
            assert json.loads((repo.root / "mfops.lock").read_text())["bases"] == {base: first}
            assert mfops("lock", "--check")[0] == 0
            second = registry.publish_file(f"library/{name}:latest", weights, config("2M"))
            code, out, _ = mfops("lock", "--check")
            assert code == 1
            assert f"  locked    {first}\n  upstream  {second}\n  models    a\n" in out
            assert mfops("lock", "--update", "--pull")[0] == 0
            assert json.loads((repo.root / "mfops.lock").read_text())["bases"] == {base: second}
            assert mfops("lock", "--check")[0] == 0
        finally:
            with contextlib.suppress(Exception):  # best-effort cleanup
                server.delete(base)
            server.close()
