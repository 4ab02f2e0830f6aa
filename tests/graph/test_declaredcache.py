"""Each Modelfile's own request remembered by blob id (graph/declaredcache.py): what comes
back from the cache is exactly what `declared` computes, and anything else is recomputed."""

from __future__ import annotations

import json

import pytest

from mfops.errors import ModelfileError
from mfops.graph.declaredcache import ENTRY_VERSION, RememberedDeclared, decode, encode
from mfops.graph.effective import declared, effective_all
from mfops.graph.inheritance import build_graph
from mfops.repo.cache import Cache
from mfops.repo.repository import Repo

FILES = {
    "base/Modelfile": (
        "# base\nFROM llama3.2:3b\nTEMPLATE {{ .Prompt }}\nSYSTEM Base rules.\n"
        "PARAMETER temperature 0.2\nPARAMETER stop <a>\nPARAMETER stop <b>\n"
        "PARAMETER num_ctx 4096\nPARAMETER penalize_newline true\nLICENSE Base licence\n"
        'LICENSE """second\nlicence"""\nMESSAGE user hi\nMESSAGE assistant hello\n'
        "ADAPTER ./base.gguf\nREQUIRES 0.6\n"
    ),
    "base/base.gguf": "lora-base",
    "mid/Modelfile": 'FROM base\nPARAMETER top_p -0.0\nSYSTEM ""\nDRAFT ./d.gguf\n',
    "mid/d.gguf": "draft",
    "leaf/Modelfile": "FROM mid\nSYSTEM Leaf é rules.\nPARAMETER num_predict -1\n",
    # the same bytes as leaf under another name: one blob, two origins
    "twin/Modelfile": "FROM mid\nSYSTEM Leaf é rules.\nPARAMETER num_predict -1\n",
}


@pytest.fixture
def graph(git_repo):
    for path, text in FILES.items():
        git_repo.write(path, text)
    return build_graph(Repo.find(explicit=git_repo.path).snapshot())


def roundtrip(entry: list[object]) -> object:
    """What a segment gives back: the entry through JSON, as the cache writes it."""
    return json.loads(json.dumps(entry))


def test_a_decoded_entry_is_exactly_the_declared_request(graph):
    for name, node in graph.nodes.items():
        own = declared(node)
        back = decode(roundtrip(encode(own)), node)
        # repr too: 1 == 1.0 == True and 0.0 == -0.0, but a type or sign must not change
        assert back == own and repr(back) == repr(own), name
    assert repr(declared(graph.nodes["mid"]).parameters["top_p"].value) == "-0.0"
    # the origin is the node's name, not the name the entry was made for
    twin, leaf = graph.nodes["twin"], graph.nodes["leaf"]
    assert twin.model.blob == leaf.model.blob
    assert decode(roundtrip(encode(declared(leaf))), twin) == declared(twin)


def test_the_cache_answers_the_second_time_and_the_folds_agree(graph):
    cache = Cache(None)
    own = RememberedDeclared(cache)
    assert effective_all(graph, own=own) == effective_all(graph)
    _, added, _ = cache.counts()["declared"]
    assert added == len({n.model.blob for n in graph.nodes.values()})
    calls: list[str] = []

    class Counting(RememberedDeclared):
        def __call__(self, node):
            calls.append(node.name)
            return super().__call__(node)

    again = Counting(cache)
    assert effective_all(graph, own=again) == effective_all(graph)
    assert cache.counts()["declared"][1] == added  # nothing worked out anew
    assert sorted(calls) == sorted(graph.nodes)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda e: e.__setitem__(0, ENTRY_VERSION + 1),
        lambda e: e.pop(),
        lambda e: e[1].__setitem__("system", ["x", "7"]),  # a line that is not a number
        lambda e: e[1].__setitem__("seed", ["x", 1]),  # not a text field
        lambda e: e[2].__setitem__("temperature", [{"a": 1}, 1]),
        lambda e: e[2].__setitem__("stop", [["a", 2], 1]),
        lambda e: e.__setitem__(4, [["user"]]),
        lambda e: e.__setitem__(4, ["ab"]),  # two letters are not a message
        lambda e: e[1].__setitem__("system", "ab"),
        lambda e: e.__setitem__(6, [[1, 2]]),
        lambda e: e.__setitem__(7, None),  # the node has an ADAPTER
        lambda e: e.__setitem__(8, [1, 2]),  # one DRAFT too many for the node
    ],
)
def test_a_malformed_entry_is_recomputed_not_believed(graph, spoil):
    base = graph.nodes["base"]  # it has an ADAPTER and no DRAFT
    assert base.adapter is not None and not base.drafts
    blob = base.model.blob
    assert blob is not None
    spoiled = roundtrip(encode(declared(base)))
    spoil(spoiled)
    assert decode(spoiled, base) is None
    cache = Cache(None)
    cache.put_declared(blob, spoiled)
    assert RememberedDeclared(cache)(base) == declared(base)
    assert cache.declared(blob) == roundtrip(encode(declared(base)))  # replaced


def test_a_refused_request_is_never_remembered(git_repo):
    git_repo.write("bad/Modelfile", "FROM llama3.2:3b\nPARAMETER num_ctx lots\n")
    graph = build_graph(Repo.find(explicit=git_repo.path).snapshot())
    cache = Cache(None)
    own = RememberedDeclared(cache)
    for _ in range(2):
        with pytest.raises(ModelfileError, match=r"bad/Modelfile:2: invalid int value \[lots\]"):
            own(graph.nodes["bad"])
    assert cache.counts()["declared"] == (0, 0, 0)
