"""Effective config: Ollama's create semantics folded through the source chain."""

from __future__ import annotations

import pytest

from mfops.errors import ModelfileError
from mfops.graph.effective import effective_all, to_modelfile
from mfops.graph.inheritance import build_graph
from mfops.language.modelfile import parse
from mfops.repo.repository import Repo

BASE = """# base
FROM llama3.2:3b
TEMPLATE {{ .Prompt }}
SYSTEM Base rules.
PARAMETER temperature 0.2
PARAMETER stop <a>
PARAMETER stop <b>
PARAMETER num_ctx 4096
LICENSE Base licence
MESSAGE user hi
MESSAGE assistant hello
ADAPTER ./base.gguf
"""


@pytest.fixture
def chain(git_repo):
    git_repo.write("base/Modelfile", BASE)
    git_repo.write("base/base.gguf", "lora-base")
    git_repo.write(
        "mid/Modelfile",
        "# mid\nFROM base\nPARAMETER stop <c>\nLICENSE Mid licence\n"
        'ADAPTER ./mid.gguf\nSYSTEM ""\n',
    )
    git_repo.write("mid/mid.gguf", "lora-mid")
    git_repo.write(
        "leaf/Modelfile",
        "# leaf\nFROM mid\nSYSTEM Leaf rules.\nPARAMETER temperature 0.9\n"
        "MESSAGE user yo\nPARAMETER mirostat 1\n",
    )
    snap = Repo.find(explicit=git_repo.path).snapshot()
    graph = build_graph(snap)
    return graph, effective_all(graph)


def test_text_fields_replace_or_inherit(chain):
    _, eff = chain
    assert eff["mid"].texts["system"].value == "Base rules."  # empty SYSTEM cannot clear
    assert eff["mid"].texts["system"].origin == "base"
    assert eff["leaf"].texts["system"].value == "Leaf rules."
    assert eff["leaf"].texts["template"].origin == "base"


def test_parameters_merge_per_key_and_stop_is_replaced_whole(chain):
    _, eff = chain
    params = {k: (v.value, v.origin) for k, v in eff["leaf"].parameters.items()}
    assert params == {
        "temperature": (0.9, "leaf"),
        "stop": (["<c>"], "mid"),  # a child's stop list replaces the parent's
        "num_ctx": (4096, "base"),
    }  # mirostat is deprecated: dropped


def test_messages_replaced_only_when_given(chain):
    _, eff = chain
    assert [(m.role, m.content) for m in eff["mid"].messages.value] == [
        ("user", "hi"),
        ("assistant", "hello"),
    ]
    assert eff["leaf"].messages.origin == "leaf"
    assert [m.content for m in eff["leaf"].messages.value] == ["yo"]


def test_licenses_append_and_adapters_stack(chain):
    _, eff = chain
    assert [(x.value, x.origin) for x in eff["leaf"].licenses] == [
        ("Base licence", "base"),
        ("Mid licence", "mid"),
    ]
    assert [a.value.repo_path for a in eff["leaf"].adapters] == ["base/base.gguf", "mid/mid.gguf"]
    assert eff["leaf"].base.target == "llama3.2:3b"
    assert eff["leaf"].chain == ("base", "mid", "leaf")


def test_effective_modelfile_is_valid_and_says_where_values_come_from(chain):
    _, eff = chain
    text = to_modelfile(eff["leaf"], model_dir="leaf")
    mf = parse(text)  # a valid Modelfile
    cmds = [(c.name, c.args) for c in mf.commands]
    assert ("model", "llama3.2:3b") in cmds
    assert ("system", "Leaf rules.") in cmds
    assert ("stop", "<c>") in cmds and ("stop", "<a>") not in cmds
    assert ("num_ctx", "4096") in cmds
    assert "# num_ctx from base" in text
    params = mf.parameters()
    assert params.error is None and params.values["temperature"] == 0.9


def test_single_adapter_path_is_relative_to_the_shown_model(git_repo):
    git_repo.write("a/Modelfile", "FROM llama3.2:3b\nADAPTER ./l.gguf\n")
    git_repo.write("a/l.gguf", "lora")
    git_repo.write("x/y/Modelfile", "FROM a\n")
    snap = Repo.find(explicit=git_repo.path).snapshot()
    eff = effective_all(build_graph(snap))
    text = to_modelfile(eff["y"], model_dir="x/y")
    assert "ADAPTER ../../a/l.gguf" in text


def test_invalid_parameter_is_a_located_error(git_repo):
    git_repo.write("a/Modelfile", "FROM llama3.2:3b\nPARAMETER num_ctx 4096.0\n")
    snap = Repo.find(explicit=git_repo.path).snapshot()
    with pytest.raises(ModelfileError) as err:
        effective_all(build_graph(snap))
    assert err.value.line == 2 and "invalid int value [4096.0]" in str(err.value)


def test_invalid_requires(git_repo):
    git_repo.write("a/Modelfile", "FROM llama3.2:3b\nREQUIRES 1.2-pre\n")
    snap = Repo.find(explicit=git_repo.path).snapshot()
    with pytest.raises(ModelfileError, match="requires must be a valid semver"):
        effective_all(build_graph(snap))
