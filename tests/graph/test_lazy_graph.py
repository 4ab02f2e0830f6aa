"""A commit's stored graph makes its nodes only when they are used (graph/stored.py
`StoredNodes`), and orders only what it is asked to (`Graph.sort`): `diff v1 v2` on a large
repository touches the changed models and their ancestors, and gives the same result as
with every node made."""

from __future__ import annotations

import copy

import pytest

from mfops.diff.revisions import diff_revisions
from mfops.graph.inheritance import Graph, build_graph
from mfops.graph.revision import Revision
from mfops.graph.stored import StoredNodes, dump, load
from mfops.language.modelfile import parse
from mfops.repo.cache import Cache
from mfops.repo.repository import Repo


def _chains(git_repo, suffix: str = "") -> None:
    for c in range(4):
        for level in range(3):
            parent = "llama3.2:3b" if level == 0 else f"c{c}l{level - 1}"
            git_repo.write(
                f"c{c}l{level}/Modelfile", f"FROM {parent}\nSYSTEM chain {c} {level}{suffix}\n"
            )


@pytest.fixture
def two_tags(git_repo):
    _chains(git_repo)
    git_repo.write("mfops.lock", "")  # (no lock needed: nothing is built)
    git_repo.commit("v1")
    git_repo.tag("v1")
    git_repo.write("c1l0/Modelfile", "FROM llama3.2:3b\nSYSTEM chain 1 edited\n")
    git_repo.write("c3l1/Modelfile", "FROM c3l0\nSYSTEM chain 3 edited\n")
    git_repo.commit("v2")
    git_repo.tag("v2")
    return Repo.find(explicit=git_repo.path)


def _reload(repo: Repo, data: object, *, lazy: bool) -> Graph | None:
    return load(
        data,
        Cache(None),
        lambda path: f"HEAD:{path}",
        lambda blob, shown: parse(repo.store.read_blob(blob), path=shown),
        lazy=lazy,
    )


def test_a_lazy_graph_is_the_eager_one(two_tags):
    built = build_graph(two_tags.snapshot("v2"))
    data = dump(built)
    lazy = _reload(two_tags, data, lazy=True)
    assert lazy is not None and isinstance(lazy.nodes, StoredNodes)
    assert lazy.nodes._made == {}  # nothing made by loading
    assert list(lazy.nodes) == list(built.nodes) and len(lazy.nodes) == len(built.nodes)
    assert lazy.order == built.order and lazy.depths == built.depths
    assert lazy.paths == {n: node.model.path for n, node in built.nodes.items()}
    assert lazy.ancestors("c2l2") == built.ancestors("c2l2") == ["c2l0", "c2l1"]
    assert lazy.nodes._made == {}  # order, depths, paths and ancestors made none
    assert lazy.closure(["c2l1"], down=True) == built.closure(["c2l1"], down=True)
    assert set(lazy.nodes._made) == {"c2l1"}
    assert dump(lazy) == data  # every node, made in the stored order
    for name, node in built.nodes.items():
        other = lazy.nodes[name]
        assert (other.base, other.adapter, other.drafts) == (node.base, node.adapter, node.drafts)
        assert other.model.path == node.model.path and other.model.blob == node.model.blob


def test_sort_gives_the_graphs_order_of_any_subset(two_tags):
    graph = build_graph(two_tags.snapshot("v2"))
    for picked in ({"c0l2", "c3l0", "c1l1"}, set(graph.nodes), set()):
        assert graph.sort(picked) == [n for n in graph.order if n in picked]


def test_a_lazy_graph_with_a_cycle_is_refused(two_tags):
    data = copy.deepcopy(dump(build_graph(two_tags.snapshot("v2"))))
    i, j = data["name"].index("c0l0"), data["name"].index("c0l1")
    data["kind"][i], data["arg"][i], data["target"][i] = "source", "c0l1", "c0l1"
    assert data["target"][j] == "c0l0"
    assert _reload(two_tags, data, lazy=True) is None
    assert _reload(two_tags, data, lazy=False) is None


def test_a_diff_makes_only_the_changed_models_and_their_ancestors(two_tags):
    # build both commits' graphs and digests once, so the cache holds them
    expected = diff_revisions(Revision(two_tags, "v1"), Revision(two_tags, "v2"))
    old, new = Revision(two_tags, "v1"), Revision(two_tags, "v2")
    result = diff_revisions(old, new)
    assert result == expected
    for rev in (old, new):
        assert isinstance(rev.graph.nodes, StoredNodes)
        made = set(rev.graph.nodes._made)
        assert made == {"c1l0", "c1l1", "c1l2", "c3l0", "c3l1", "c3l2"}
    assert [m.name for m in result.models] == ["c1l0", "c1l1", "c3l1", "c1l2", "c3l2"]
    assert result.unchanged == 7
