"""A graph stored as columns (graph/stored.py): loaded back it is the graph that was dumped,
its Modelfiles are made only when asked for, and anything not exactly of the dumped shape is
refused (the graph is then built from the tree as if nothing was stored)."""

from __future__ import annotations

import copy

import pytest

from mfops.graph import stored
from mfops.graph.inheritance import build_graph
from mfops.graph.revision import Revision
from mfops.graph.stored import StoredModel, dump, load
from mfops.language.modelfile import parse
from mfops.repo.cache import Cache
from mfops.repo.repository import Repo


@pytest.fixture
def graph(git_repo):
    git_repo.write("base/Modelfile", "FROM llama3.2:3b\nSYSTEM base\nADAPTER ./lora.gguf\n")
    git_repo.write("base/lora.gguf", "lora")
    git_repo.write("mid/Modelfile", "FROM base\r\nDRAFT ./d.gguf\r\n")
    git_repo.write("mid/d.gguf", "draft")
    git_repo.write("x/leaf.Modelfile", "FROM mid\nPARAMETER temperature 0.5\n")
    git_repo.write("pinned.Modelfile", "FROM base:v1\n")
    git_repo.write("w/weights.gguf", "GGUF")
    git_repo.write("w/Modelfile", "FROM ./weights.gguf\n")
    git_repo.write(
        "mfops.yaml",
        "models:\n  leaf:\n    modelfile: x/leaf.Modelfile\n    description: the leaf\n"
        "    tests: [x/leaf.test.yaml]\n",
    )
    git_repo.commit("all")
    repo = Repo.find(explicit=git_repo.path)
    return repo, build_graph(repo.snapshot("HEAD"))


def reload(repo: Repo, data: object):
    return load(
        data,
        Cache(None),
        lambda path: f"HEAD:{path}",
        lambda blob, shown: parse(repo.store.read_blob(blob), path=shown),
    )


def test_a_loaded_graph_is_the_dumped_one(graph):
    repo, built = graph
    data = dump(built)
    assert data["more"]  # CRLF, description and tests, files, adapter, drafts
    back = reload(repo, data)
    assert back is not None
    assert back.order == built.order and back.children == built.children
    assert dump(back) == data
    for name, node in built.nodes.items():
        other = back.nodes[name]
        assert (other.base, other.adapter, other.drafts) == (node.base, node.adapter, node.drafts)
        assert other.model.description == node.model.description
        assert other.model.tests == node.model.tests
        assert other.model.modelfile.newline == node.model.modelfile.newline
        assert other.model.modelfile.of("FROM") == node.model.modelfile.of("FROM")


def test_modelfiles_are_made_only_when_asked_for(graph):
    repo, built = graph
    back = reload(repo, dump(built))
    assert back is not None
    model = back.nodes["leaf"].model
    assert isinstance(model, StoredModel) and "_modelfile" not in model.__dict__
    assert model.path == "x/leaf.Modelfile" and model.blob == built.nodes["leaf"].model.blob
    assert model.modelfile.path == "HEAD:x/leaf.Modelfile"
    assert model.modelfile is model.modelfile  # made once
    assert model.modelfile.last("PARAMETER").value == "0.5"
    assert "_modelfile" not in back.nodes["mid"].model.__dict__


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.pop("more"),
        lambda d: d.__setitem__("extra", []),
        lambda d: d["name"].pop(),  # columns of different lengths
        lambda d: d["name"].__setitem__(1, d["name"][0]),  # a name twice
        lambda d: d["kind"].__setitem__(0, "weird"),
        lambda d: d["line"].__setitem__(0, "3"),
        lambda d: d["path"].__setitem__(0, None),
        lambda d: d["target"].__setitem__(d["kind"].index("source"), "nobody"),
        lambda d: d["more"].append(d["more"][0]),  # the same model twice
        lambda d: d["more"][0].__setitem__(0, 99),  # no such model
        lambda d: d["more"][0].__setitem__(1, "\t"),  # not a newline
        lambda d: d["more"][0].__setitem__(3, [1]),  # a test that is not a path
        lambda d: d["more"][0].__setitem__(4, [["x"]]),  # a malformed path row
    ],
)
def test_anything_not_of_the_dumped_shape_is_refused(graph, spoil):
    repo, built = graph
    data = copy.deepcopy(dump(built))
    spoil(data)
    assert reload(repo, data) is None


def test_a_cycle_is_refused(graph):
    repo, built = graph
    data = dump(built)
    i, j = data["name"].index("base"), data["name"].index("mid")
    data["kind"][i], data["arg"][i], data["target"][i] = "source", "mid", "mid"
    assert data["kind"][j] == "source"
    assert reload(repo, data) is None


def test_a_revision_uses_the_stored_columns(graph):
    repo, built = graph
    first = Revision(repo, "HEAD")
    assert first.graph.order == built.order
    again = Revision(repo, "HEAD")
    assert isinstance(again.graph.nodes["leaf"].model, StoredModel)
    assert stored.COLUMNS == ("name", "path", "blob", "kind", "arg", "target", "line")
