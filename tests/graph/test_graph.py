"""The inheritance graph: FROM kinds, order, closures and the errors users can cause."""

from __future__ import annotations

import itertools

import pytest

from mfops.errors import GraphError, ModelfileError, UnknownModelError
from mfops.graph.inheritance import build_graph, looks_like_path
from mfops.repo.repository import Repo

BASE = "# base\nFROM llama3.2:3b\nSYSTEM Be kind.\n"


def graph_of(repo, ref=None):
    return build_graph(Repo.find(explicit=repo.path).snapshot(ref))


def test_kinds_source_pinned_file_external(git_repo):
    git_repo.write("base/Modelfile", BASE)
    git_repo.write("expert/Modelfile", "FROM base\n")
    git_repo.write("pinned/Modelfile", "FROM base:v1.0\n")
    git_repo.write("local/Modelfile", "FROM ./w.gguf\n")
    git_repo.write("local/w.gguf", "GGUF weights")
    git_repo.write("ext.Modelfile", "FROM qwen2.5\n")
    g = graph_of(git_repo)
    kinds = {n: (g.nodes[n].base.kind, g.nodes[n].base.target) for n in g.order}
    assert kinds == {
        "base": ("external", "llama3.2:3b"),
        "expert": ("source", "base"),
        "pinned": ("pinned", "base:v1.0"),
        "local": ("file", "local/w.gguf"),
        "ext": ("external", "qwen2.5:latest"),
    }


def test_order_parents_first_and_closures(git_repo):
    git_repo.write("a/Modelfile", BASE)
    git_repo.write("b/Modelfile", "FROM a\n")
    git_repo.write("c/Modelfile", "FROM b\n")
    git_repo.write("d/Modelfile", "FROM a\n")
    git_repo.write("z/Modelfile", "FROM mistral:7b\n")
    g = graph_of(git_repo)
    assert g.order.index("a") < g.order.index("b") < g.order.index("c")
    assert g.ancestors("c") == ["a", "b"]
    assert g.descendants("a") == ["b", "d", "c"]
    assert g.roots == ("a", "z")
    assert g.depths == {"a": 0, "z": 0, "b": 1, "d": 1, "c": 2}
    assert g.closure(["b"], up=True, down=True) == ["a", "b", "c"]
    assert g.root_of("c") == "a"


def test_cycle_is_printed_whole(git_repo):
    git_repo.write("a/Modelfile", "FROM c\n")
    git_repo.write("b/Modelfile", "FROM a\n")
    git_repo.write("c/Modelfile", "FROM b\n")
    with pytest.raises(GraphError) as err:
        graph_of(git_repo)
    message = str(err.value)
    assert "FROM cycle:" in message
    cycle = message.split("FROM cycle: ")[1].split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    # each model is FROM the next one
    parents = {"a": "c", "b": "a", "c": "b"}
    assert all(parents[x] == y for x, y in itertools.pairwise(cycle))


def test_from_itself(git_repo):
    git_repo.write("a/Modelfile", "FROM a\n")
    with pytest.raises(GraphError, match=r"a/Modelfile:1: a is FROM itself"):
        graph_of(git_repo)


def test_path_like_from_that_does_not_exist(git_repo):
    git_repo.write("a/Modelfile", "# x\nFROM ./mdoel.gguf\n")
    with pytest.raises(GraphError, match=r"a/Modelfile:2: FROM path './mdoel.gguf' does not exist"):
        graph_of(git_repo)


def test_path_escaping_the_repo_is_refused(git_repo, tmp_path):
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(b"GGUF")
    git_repo.write("a/Modelfile", "FROM ../../../outside.gguf\n")
    with pytest.raises(GraphError, match="outside the repository"):
        graph_of(git_repo)
    git_repo.write("a/Modelfile", f"FROM {outside}\n")
    with pytest.raises(GraphError, match="outside the repository"):
        graph_of(git_repo)


def test_symlink_out_of_the_repo_is_refused(git_repo, tmp_path):
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    git_repo.write("a/Modelfile", "FROM ./w.gguf\n")
    git_repo.symlink("a/w.gguf", str(tmp_path / "w.gguf"))
    with pytest.raises(GraphError, match="outside the repository"):
        graph_of(git_repo)


def test_allowed_outside_path(git_repo, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "w.gguf").write_bytes(b"GGUF")
    git_repo.write("mfops.yaml", f"allow_paths: [{weights}]\n")
    git_repo.write("a/Modelfile", f"FROM {weights}/w.gguf\n")
    g = graph_of(git_repo)
    assert g.nodes["a"].base.kind == "file"


def test_missing_adapter(git_repo):
    git_repo.write("a/Modelfile", "FROM llama3.2:3b\nADAPTER ./lora.gguf\n")
    expected = r"a/Modelfile:2: ADAPTER path './lora.gguf' does not exist"
    with pytest.raises(GraphError, match=expected):
        graph_of(git_repo)


def test_invalid_from_name_points_at_the_line(git_repo):
    git_repo.write("a/Modelfile", "# c\nFROM llama3.2 # base\n")
    with pytest.raises(ModelfileError) as err:
        graph_of(git_repo)
    assert err.value.line == 2
    assert "neither an existing path nor a valid model name" in str(err.value)


def test_unknown_model_suggests(git_repo):
    git_repo.write("python-bot/Modelfile", BASE)
    g = graph_of(git_repo)
    with pytest.raises(UnknownModelError, match="did you mean python-bot"):
        g["pyton-bot"]


def test_graph_at_a_ref_without_checkout(git_repo):
    git_repo.write("a/Modelfile", BASE)
    git_repo.commit("one")
    git_repo.tag("v1")
    git_repo.write("b/Modelfile", "FROM a\n")
    git_repo.commit("two")
    assert list(graph_of(git_repo, "v1").order) == ["a"]
    assert list(graph_of(git_repo, "HEAD").order) == ["a", "b"]
    # only mfops' own ignored state folder (its parse cache) may have appeared
    assert [line for line in git_repo.status().splitlines() if " .mfops/" not in line] == []


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("./x.gguf", True),
        ("../w", True),
        ("/abs/x", True),
        ("~/m.gguf", True),
        ("x.gguf", True),
        ("llama3.2", False),
        ("hf.co/org/repo:Q4", False),
    ],
)
def test_looks_like_path(arg, expected):
    assert looks_like_path(arg) is expected


def test_from_a_model_whose_directory_sits_next_to_the_file(git_repo):
    """Ollama lets the filesystem decide: `FROM base` next to a `base/` folder imports it."""
    git_repo.write("base/Modelfile", BASE)
    git_repo.write("expert.Modelfile", "# e\nFROM base\n")
    with pytest.raises(GraphError, match="Ollama imports the directory instead"):
        graph_of(git_repo)
