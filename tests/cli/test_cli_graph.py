"""`mfops ls`, `graph`, `show` and `digest` on a real repo, at the working tree and at refs."""

from __future__ import annotations

import json

import pytest

from mfops.language.modelfile import parse

BASE = "# engine-bot\nFROM llama3.2:3b\nSYSTEM Company rules.\nPARAMETER temperature 0.2\n"


@pytest.fixture
def repo(git_repo):
    git_repo.write("mfops.yaml", "models:\n  engine-bot:\n    modelfile: BaseBot\n")
    git_repo.write("BaseBot", BASE)
    git_repo.write("python-bot/Modelfile", "# py\nFROM engine-bot\nSYSTEM Python only.\n")
    git_repo.write("personas/pirate.Modelfile", "# arr\nFROM python-bot\nPARAMETER top_p 0.9\n")
    git_repo.commit("v1")
    git_repo.tag("v1.0.0")
    return git_repo


def test_ls_text_and_json(repo, mfops_cli):
    code, out, err = mfops_cli("-C", str(repo.path), "ls")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "FILE", "FROM", "DEPTH"]
    assert lines[1].split() == ["engine-bot", "BaseBot", "external:llama3.2:3b", "0"]
    assert lines[3].split() == ["pirate", "personas/pirate.Modelfile", "source:python-bot", "2"]
    code, out, _ = mfops_cli("-C", str(repo.path), "ls", "--format", "json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["engine-bot", "python-bot", "pirate"]
    assert rows[1]["from"] == {
        "kind": "source",
        "target": "engine-bot",
        "arg": "engine-bot",
        "line": 2,
    }
    assert rows[0]["children"] == ["python-bot"] and rows[2]["depth"] == 2


def test_ls_at_a_ref(repo, mfops_cli):
    repo.write("new/Modelfile", "# n\nFROM engine-bot\n")
    code, out, _ = mfops_cli("-C", str(repo.path), "ls", "--ref", "v1.0.0", "--format", "json")
    assert code == 0 and "new" not in [r["name"] for r in json.loads(out)]
    code, out, _ = mfops_cli("-C", str(repo.path), "ls", "--format", "json")
    assert "new" in [r["name"] for r in json.loads(out)]


def test_unknown_ref_is_one_line_exit_2(repo, mfops_cli):
    code, out, err = mfops_cli("-C", str(repo.path), "ls", "--ref", "v9.9")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "v9.9" in err


def test_graph_formats(repo, mfops_cli):
    code, out, _ = mfops_cli("-C", str(repo.path), "graph")
    assert code == 0
    assert out.splitlines()[0] == "llama3.2:3b [external]"
    assert "└── engine-bot  (BaseBot)" in out and "        └── pirate" in out
    _, dot, _ = mfops_cli("-C", str(repo.path), "graph", "--format", "dot")
    assert dot.startswith("digraph mfops {") and '"engine-bot" -> "python-bot";' in dot
    _, mermaid, _ = mfops_cli("-C", str(repo.path), "graph", "--format", "mermaid")
    lines = mermaid.splitlines()
    assert lines[0] == "```mermaid" and lines[1] == "flowchart TD" and lines[-1] == "```"
    assert sum("-->" in x for x in lines) == 2 and sum("-.->" in x for x in lines) == 1
    _, js, _ = mfops_cli("-C", str(repo.path), "graph", "--format", "json")
    data = json.loads(js)
    assert data["edges"] == [["engine-bot", "python-bot"], ["python-bot", "pirate"]]
    assert data["bases"] == [{"kind": "external", "target": "llama3.2:3b"}]


def test_cycle_is_one_line_exit_2(repo, mfops_cli):
    repo.write("BaseBot", "# b\nFROM pirate\n")
    code, _, err = mfops_cli("-C", str(repo.path), "graph")
    assert code == 2
    assert err.count("\n") == 1 and "FROM cycle: " in err and " -> " in err


def test_show_declared_and_effective(repo, mfops_cli):
    code, out, _ = mfops_cli("-C", str(repo.path), "show", "pirate")
    assert code == 0 and out == "# arr\nFROM python-bot\nPARAMETER top_p 0.9\n"
    code, out, _ = mfops_cli("-C", str(repo.path), "show", "pirate", "--effective")
    assert code == 0
    cmds = [(c.name, c.args) for c in parse(out).commands]
    assert cmds[0] == ("model", "llama3.2:3b")
    assert ("system", "Python only.") in cmds and ("temperature", "0.2") in cmds
    assert "# SYSTEM from python-bot" in out
    code, out, _ = mfops_cli(
        "-C", str(repo.path), "show", "pirate", "--effective", "--format", "json"
    )
    data = json.loads(out)
    assert data["chain"] == ["engine-bot", "python-bot", "pirate"]
    assert data["system"] == {"value": "Python only.", "from": "python-bot", "line": 3}
    assert data["parameters"]["temperature"]["from"] == "engine-bot"


def test_show_at_ref_and_unknown_model(repo, mfops_cli):
    repo.write("BaseBot", BASE.replace("Company", "New company"))
    code, out, _ = mfops_cli("-C", str(repo.path), "show", "engine-bot", "--ref", "v1.0.0")
    assert code == 0 and "SYSTEM Company rules." in out
    code, out, err = mfops_cli("-C", str(repo.path), "show", "pirat")
    assert code == 2 and out == "" and "unknown model 'pirat'" in err and "pirate" in err


def test_digest_command(repo, mfops_cli):
    _, out, _ = mfops_cli("-C", str(repo.path), "digest", "--json")
    all_digests = json.loads(out)
    assert list(all_digests) == ["engine-bot", "python-bot", "pirate"]
    _, out, _ = mfops_cli("-C", str(repo.path), "digest", "python-bot")
    assert out == f"{all_digests['python-bot']}  python-bot\n"
    code, out, _ = mfops_cli("-C", str(repo.path), "digest", "--ref", "v1.0.0", "--json")
    assert code == 0 and json.loads(out) == all_digests


def test_examples_repo_via_installed_script(run_mfops):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    # MFOPS_CACHE=0: leave no .mfops/cache in the checkout
    done = run_mfops("-C", str(examples), "ls", "--format", "json", env={"MFOPS_CACHE": "0"})
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["pirate-python"]["depth"] == 2
    assert rows["python-bot"]["from"]["target"] == "engine-bot"
