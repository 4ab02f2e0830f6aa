"""Classifications shared between commits whose trees have the same layout.

`diff v1 v2` builds the graph at both commits; a model whose base is a name and whose
Modelfile did not change is classified once when the two trees hold the same paths
(graph/inheritance.py, `_shared_classes`). The graphs must be exactly the ones built from
scratch, and a commit that adds a path a FROM resolves to must be classified anew.
"""

from __future__ import annotations

import os

from mfops.graph.inheritance import build_graph
from mfops.repo.repository import Repo
from tests.gitrepo import GitRepo


def graph_view(graph) -> dict[str, tuple[object, ...]]:
    return {
        name: (node.model.path, node.model.blob, node.base, node.adapter, node.drafts)
        for name, node in graph.nodes.items()
    }


def fresh(root, ref: str) -> dict[str, tuple[object, ...]]:
    os.environ["MFOPS_CACHE"] = "0"
    try:
        with Repo.find(root) as repo:
            return graph_view(build_graph(repo.snapshot(ref)))
    finally:
        del os.environ["MFOPS_CACHE"]


def test_commits_with_one_layout_share_classifications_and_get_the_same_graphs(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.write("mfops.yaml", "models: {}\n")
    repo.write("models/a/Modelfile", "FROM llama3.2:3b\n")
    repo.write("models/b/Modelfile", "FROM a\nSYSTEM one\n")
    repo.write("models/c.Modelfile", "FROM ./w.gguf\n")
    repo.write("models/w.gguf", "GGUF")
    repo.commit("v1")
    repo.tag("v1")
    repo.write("models/b/Modelfile", "FROM a\nSYSTEM two\n")  # same paths, new content
    repo.commit("v2")
    repo.tag("v2")
    repo.write("models/b/a", "now a file named like b's FROM sits beside it")
    repo.commit("v3")
    repo.tag("v3")
    expected = {ref: fresh(repo.root, ref) for ref in ("v1", "v2", "v3")}
    assert expected["v3"]["b"][2].kind == "file"  # the new path changed what FROM a is
    with Repo.find(repo.root) as opened:
        built = {ref: graph_view(build_graph(opened.snapshot(ref))) for ref in ("v1", "v2")}
        shared = [v for k, v in opened.cache.memo.items() if k.startswith("classified")]
        assert len(shared) == 1  # v1 and v2: one layout
        assert {key[0] for key in shared[0][1]} == {"a", "b"}  # the file base is not shared
        built["v3"] = graph_view(build_graph(opened.snapshot("v3")))
    assert built == expected
