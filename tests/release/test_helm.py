"""`mfops export helm-values`: the released models at a tag as values of the Ollama Helm
chart (otwld/ollama-helm), checked by doing what a pod does with them.

A release is made for real (git repo, double, build, promote, records on
refs/mfops/history); the exported values are loaded as YAML, checked against the chart's
keys, and then run through the chart's start-up step (tests/helmkit.py: its shell script,
with the real `ollama` CLI) on a fresh double standing for a new pod. Every model the pod
creates is compared field by field with the released model (server/compare.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import ollama
import pytest
import yaml

from mfops.release.helm import export_helm, heredoc_text
from mfops.repo.repository import Repo
from mfops.server.client import Server, ServerOptions
from mfops.server.compare import compare_configs
from mfops.server.hosts import resolve_host
from mfops.testing.double import OllamaDouble, fake_gguf
from tests.buildkit import BASE, HIERARCHY, Workspace, make_workspace
from tests.helmkit import create_from_text, run_pod_startup

#: Text a shell here-document would change if it were not escaped, and a Go template
#: with variables (`$x`), as real chat templates have.
SHELLY = {
    "shelly/Modelfile": (
        "FROM leaf\n"
        'TEMPLATE """{{ $sys := .System }}{{ if $sys }}<s>{{ $sys }}</s>{{ end }}{{ .Prompt }}"""\n'
        'SYSTEM """It costs $5 or ${PRICE}; run `ls` in C:\\temp\\n and \\$HOME.\n'
        'Second line\\\n"""\n'
        "PARAMETER stop $\n"
    ),
}
FILES = {**HIERARCHY, **SHELLY}
ORDER = ["base", "other", "mid", "leaf", "shelly"]


def add_base(double: OllamaDouble) -> None:
    double.add_registry_model(
        BASE,
        template="{{ .System }} {{ .Prompt }}",
        parameters={"top_k": 40},
        license="LLAMA LICENSE",
    )


@pytest.fixture(name="released")
def released_fixture(tmp_path: Path) -> Workspace:
    """FILES built and promoted to v1 (alias latest) on a double."""
    double = OllamaDouble()
    double.start()
    add_base(double)
    ws = make_workspace(tmp_path, double, FILES)
    ws.ok("build", "--all")
    ws.ok("promote", "--all", "--to", "v1", "--alias", "latest", "--allow-untested")
    yield ws
    double.stop()


def export(ws: Workspace, *args: str) -> dict:
    out = ws.ok("export", "helm-values", *args)
    return yaml.safe_load(out)


def server(url: str) -> Server:
    return Server(resolve_host(url), ServerOptions(timeout=30))


def assert_same_models(released: Server, pod: Server, pairs: list[tuple[str, str]]) -> None:
    for rel_name, pod_name in pairs:
        a, b = released.show(rel_name), pod.show(pod_name)
        assert a is not None and b is not None, (rel_name, pod_name)
        assert compare_configs(a, b) == (), (rel_name, compare_configs(a, b))
        assert a.weights.rpartition("/")[2] == b.weights.rpartition("/")[2]


def test_values_have_the_charts_shape_in_dependency_order(released: Workspace):
    values = export(released, "--tag", "v1")
    assert list(values) == ["ollama"]
    assert list(values["ollama"]) == ["models"]
    models = values["ollama"]["models"]
    assert list(models) == ["pull", "create"]
    assert models["pull"] == [BASE]
    names = [e["name"] for e in models["create"]]
    assert names == [f"{n}:v1" for n in ORDER]  # parents before children
    assert all(list(e) == ["name", "template"] for e in models["create"])
    lock = json.loads((released.root / "mfops.lock").read_text())
    locked = lock["bases"][BASE]
    commit = released.repo.head()
    leaf = models["create"][ORDER.index("leaf")]["template"]
    # flattened: FROM the locked base, never FROM a parent; the digest in a comment
    assert "\nFROM llama3.2:3b\n" in leaf and "FROM mid" not in leaf
    assert f"# base llama3.2:3b locked at {locked}" in leaf
    assert f"# leaf:v1 from commit {commit}" in leaf
    assert "SYSTEM You are the leaf." in leaf and "MESSAGE user hi" in leaf
    # `$`, backquotes and backslashes are escaped for the chart's here-document
    shelly = models["create"][ORDER.index("shelly")]["template"]
    assert "\\$sys" in shelly and "\\`ls\\`" in shelly and "$5" not in shelly.replace("\\$5", "")


def test_every_pod_creates_exactly_the_released_models(released: Workspace, tmp_path: Path):
    """The chart's start-up script with the real ollama CLI on a fresh double (a new pod):
    the files it writes are the effective Modelfiles byte for byte, and every model it
    creates equals the released one, field by field."""
    values = export(released, "--tag", "v1")
    with OllamaDouble() as pod:
        add_base(pod)
        files = run_pod_startup(values, pod.url, tmp_path / "pod")
        intended = export_helm(Repo.find(explicit=released.root), "v1")
        for model in intended.models:  # the chart adds one empty line at the end
            assert files[model.target] == model.modelfile + "\n"
        assert_same_models(
            server(released.double.url),
            server(pod.url),
            [(f"{n}:v1", f"{n}:v1") for n in ORDER],
        )
        assert "It costs $5 or ${PRICE}; run `ls`" in (server(pod.url).show("shelly:v1").system)


def test_created_with_the_python_client_too(released: Workspace):
    """Without the CLI: each written Modelfile created through the API matches as well."""
    values = export(released, "--tag", "latest")
    with OllamaDouble() as pod:
        add_base(pod)
        client = ollama.Client(host=pod.url)
        client.pull(BASE)
        for entry in values["ollama"]["models"]["create"]:
            text = entry["template"].replace("\\$", "$").replace("\\`", "`").replace("\\\\", "\\")
            create_from_text(client, entry["name"], text)
        assert_same_models(
            server(released.double.url),
            server(pod.url),
            [(f"{n}:v1", f"{n}:latest") for n in ORDER],
        )


def test_heredoc_escaping_round_trips_through_sh():
    text = "a $HOME ${X} `id` \\ \\$ \\\\n end\\\n{{ $x }}\n"
    script = f"cat <<EOF\n{heredoc_text(text)}\nEOF\n"
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == text + "\n"


def test_a_rollback_exports_the_release_it_restored(released: Workspace, tmp_path: Path):
    v1_commit = released.repo.head()
    released.repo.write("leaf/Modelfile", "FROM mid\nSYSTEM You are the new leaf.\n")
    released.repo.commit("new leaf")
    released.ok("build", "--changed")
    released.ok("promote", "leaf", "--to", "v2", "--alias", "latest", "--allow-untested")
    leaf = next(
        e
        for e in export(released, "--tag", "latest")["ollama"]["models"]["create"]
        if e["name"] == "leaf:latest"
    )
    assert "You are the new leaf." in leaf["template"]
    released.ok("rollback", "leaf", "--to", "v1")
    creates = export(released, "--tag", "latest")["ollama"]["models"]["create"]
    leaf = next(e for e in creates if e["name"] == "leaf:latest")
    assert "SYSTEM You are the leaf." in leaf["template"]
    assert f"from commit {v1_commit}" in leaf["template"]
    v2 = export(released, "--tag", "v2")["ollama"]["models"]["create"]
    assert [e["name"] for e in v2] == ["leaf:v2"]


def test_unknown_tag_is_exit_2_with_a_suggestion(released: Workspace):
    code, out, err = released.mfops("export", "helm-values", "--tag", "v11")
    assert code == 2 and out == ""
    assert err == ("mfops: no release at tag 'v11' in the release records (did you mean v1?)\n")
    code, _, err = released.mfops("export", "helm-values", "--tag", "prod")
    assert code == 2 and "(released tags: latest, v1)" in err


def test_nothing_released_says_how_to_fetch(tmp_path: Path):
    with OllamaDouble() as double:
        add_base(double)
        ws = make_workspace(tmp_path, double)
        code, _, err = ws.mfops("export", "helm-values", "--tag", "v1")
        assert code == 2
        assert "nothing is released yet" in err and "mfops history --sync origin" in err


def test_output_file_is_written_atomically(released: Workspace, tmp_path: Path):
    target = tmp_path / "values-models.yaml"
    target.write_text("old\n")
    code, out, err = released.mfops("export", "helm-values", "--tag", "v1", "-o", str(target))
    assert code == 0 and out == ""
    assert err == f"wrote {target}: 5 models at v1, 1 bases to pull\n"
    assert yaml.safe_load(target.read_text())["ollama"]["models"]["pull"] == [BASE]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    code, _, err = released.mfops(
        "export", "helm-values", "--tag", "v1", "-o", str(tmp_path / "no" / "f.yaml")
    )
    assert code == 2 and "does not exist" in err


def test_models_a_pod_cannot_reproduce_are_refused_by_name(tmp_path: Path):
    with OllamaDouble() as double:
        add_base(double)
        files = {
            "base/Modelfile": HIERARCHY["base/Modelfile"],
            "local/Modelfile": "FROM ./w.gguf\nSYSTEM local\n",
            "local/w.gguf": fake_gguf(),
            "eof/Modelfile": 'FROM base\nSYSTEM """one\nEOF\ntwo"""\n',
        }
        ws = make_workspace(tmp_path, double, files)
        ws.ok("build", "--all")
        ws.ok("promote", "--all", "--to", "v1", "--allow-untested")
        code, out, err = ws.mfops("export", "helm-values", "--tag", "v1")
        assert code == 1 and out == ""
        assert err.startswith("mfops: cannot export 2 of 3 models at v1 for the chart: ")
        assert "eof: its Modelfile has a line `EOF`" in err
        assert "local: its weights come from a local file (local/w.gguf)" in err
        assert err.count("\n") == 1


@pytest.mark.ollama
def test_on_the_real_server_the_exported_models_equal_the_release(tmp_path: Path):
    """A release built on a real Ollama, exported, and the chart's create step run with
    the ollama CLI against the same server under another tag (`pod`): every model equals
    its release. The pull step is left out: the test server cannot reach a registry, and
    the base (made here from the tiny GGUF) is already there."""
    import hashlib

    from tests.realserver import RealRepo, raw, real_host, tiny_gguf

    real = RealRepo(tmp_path / "repo", real_host())
    try:
        weights = tiny_gguf()
        digest = "sha256:" + hashlib.sha256(weights).hexdigest()
        assert raw(real.host, "POST", f"/api/blobs/{digest}", weights)[0] in (200, 201)
        base = f"{real.tag}-base:v1"
        status, body = raw(
            real.host,
            "POST",
            "/api/create",
            {
                "model": base,
                "files": {"tiny.gguf": digest},
                "template": "{{ .System }}|{{ .Prompt }}",
                "parameters": {"num_predict": 8},
                "license": "BASE LICENSE",
                "stream": False,
            },
        )
        assert status == 200, body
        bot, kid = f"{real.tag}-bot", f"{real.tag}-kid"
        real.write(
            {
                f"{bot}/Modelfile": (
                    f"FROM {base}\nSYSTEM You are the bot.\nPARAMETER temperature 0.25\n"
                    "LICENSE MIT\nMESSAGE user hi\nMESSAGE assistant hello\n"
                ),
                f"{kid}/Modelfile": (
                    f'FROM {bot}\nTEMPLATE """{{{{ $s := .System }}}}[{{{{ $s }}}}] {{{{ .Prompt }}}}"""\n'
                    'SYSTEM """Costs $5; run `ls` in C:\\temp."""\nPARAMETER stop END\n'
                ),
            }
        )
        real.ok("lock")
        real.repo.commit("lock")
        real.ok("build", "--all")
        real.ok("promote", "--all", "--to", "v1", "--allow-untested")
        values = yaml.safe_load(real.ok("export", "helm-values", "--tag", "v1"))
        models = values["ollama"]["models"]
        assert models["pull"] == [base]
        assert [e["name"] for e in models["create"]] == [f"{bot}:v1", f"{kid}:v1"]
        models["pull"] = []
        for entry in models["create"]:
            entry["name"] = entry["name"].replace(":v1", ":pod")
        run_pod_startup(values, real.host, tmp_path / "pod")
        srv = server(real.host)
        assert_same_models(srv, srv, [(f"{n}:v1", f"{n}:pod") for n in (bot, kid)])
        assert srv.show(f"{kid}:pod").system == "Costs $5; run `ls` in C:\\temp."
    finally:
        real.cleanup()
