"""Digest invariants: unchanged by presentation, changed by anything that is built."""

from __future__ import annotations

import json

import pytest

from mfops.graph.revision import Revision

BASE = """# engine-bot: base
FROM llama3.2:3b
PARAMETER temperature 0.2
PARAMETER stop <|eot_id|>
SYSTEM \"\"\"
House rules.
\"\"\"
LICENSE MIT
"""
EXPERT = (
    "# expert\nFROM engine-bot\nSYSTEM Python only.\nMESSAGE user hi\nMESSAGE assistant hello\n"
)
PERSONA = "# persona\nFROM python-bot\nPARAMETER top_p 0.9\n"


def digests(repo, ref=None):
    return Revision.open(repo=repo.path, ref=ref).digests


@pytest.fixture
def hierarchy(git_repo):
    git_repo.write("mfops.yaml", "models:\n  engine-bot:\n    modelfile: BaseBot\n")
    git_repo.write("BaseBot", BASE)
    git_repo.write("python-bot/Modelfile", EXPERT)
    git_repo.write("personas/pirate.Modelfile", PERSONA)
    git_repo.commit("v1")
    git_repo.tag("v1")
    return git_repo


def test_digest_format_and_determinism(hierarchy):
    d = digests(hierarchy)
    assert set(d) == {"engine-bot", "python-bot", "pirate"}
    assert all(v.startswith("sha256:") and len(v) == 71 for v in d.values())
    assert d == digests(hierarchy)
    assert len(set(d.values())) == 3


@pytest.mark.parametrize(
    "presentation",
    [
        # reformatted: case, quoting, spacing, comments, blank lines, order of unrelated lines
        '# a different comment\n\nfrom   llama3.2:3b\n\nsystem """\nHouse rules.\n"""\n'
        '# another\nparameter stop "<|eot_id|>"\nPARAMETER temperature 0.20\nLICENSE "MIT"\n',
        # a repeated single-valued command that ends the same, an empty value Ollama omits
        BASE + 'TEMPLATE ""\n',
        # a CRLF file with the same values
        BASE.replace("\n", "\r\n")
        .replace("House rules.\r\n", "House rules.\n")
        .replace('"""\r\nHouse', '"""\nHouse'),
    ],
)
def test_presentation_does_not_change_digests(hierarchy, presentation):
    before = digests(hierarchy)
    hierarchy.write("BaseBot", presentation)
    after = digests(hierarchy)
    assert after == before


def test_renaming_or_moving_the_modelfile_keeps_the_digest(hierarchy):
    before = digests(hierarchy)
    hierarchy.mv("personas/pirate.Modelfile", "pirate/Modelfile")
    hierarchy.mv("BaseBot", "bots/Base")
    hierarchy.write("mfops.yaml", "models:\n  engine-bot:\n    modelfile: bots/Base\n")
    assert digests(hierarchy) == before


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("PARAMETER temperature 0.2", "PARAMETER temperature 0.3"),
        ("PARAMETER stop <|eot_id|>", "PARAMETER stop <|end|>"),
        ("House rules.", "House rules!"),
        ("LICENSE MIT", "LICENSE Apache-2.0"),
        ("FROM llama3.2:3b", "FROM llama3.2:1b"),
        ("LICENSE MIT", "LICENSE MIT\nMESSAGE user x"),
        ("LICENSE MIT", "LICENSE MIT\nREQUIRES 0.14"),
        ("LICENSE MIT", "LICENSE MIT\nRENDERER qwen3"),
    ],
)
def test_any_built_change_moves_the_model_and_every_descendant(hierarchy, old, new):
    before = digests(hierarchy)
    hierarchy.write("BaseBot", BASE.replace(old, new))
    after = digests(hierarchy)
    assert all(after[n] != before[n] for n in ("engine-bot", "python-bot", "pirate"))


def test_a_leaf_change_moves_only_the_leaf(hierarchy):
    before = digests(hierarchy)
    hierarchy.write("personas/pirate.Modelfile", PERSONA.replace("0.9", "0.8"))
    after = digests(hierarchy)
    assert after["pirate"] != before["pirate"]
    assert after["engine-bot"] == before["engine-bot"]
    assert after["python-bot"] == before["python-bot"]


def test_message_order_matters(hierarchy):
    before = digests(hierarchy)
    hierarchy.write(
        "python-bot/Modelfile",
        EXPERT.replace(
            "MESSAGE user hi\nMESSAGE assistant hello", "MESSAGE assistant hello\nMESSAGE user hi"
        ),
    )
    assert digests(hierarchy)["python-bot"] != before["python-bot"]


def test_equal_content_at_two_refs_gives_equal_digests(hierarchy):
    hierarchy.write("README.md", "docs only")
    hierarchy.write("BaseBot", "# reworded comment\n" + BASE)
    hierarchy.commit("docs and comments")
    hierarchy.tag("v2")
    assert digests(hierarchy, "v1") == digests(hierarchy, "v2") == digests(hierarchy)


def test_file_base_and_adapter_by_content(git_repo):
    git_repo.write("a/Modelfile", "# a\nFROM ./w.gguf\nADAPTER ./l.gguf\n")
    git_repo.write("a/w.gguf", "weights-1")
    git_repo.write("a/l.gguf", "lora-1")
    first = digests(git_repo)["a"]
    git_repo.commit("weights")
    git_repo.mv("a/w.gguf", "a/weights.gguf")
    git_repo.write("a/Modelfile", "# a\nFROM ./weights.gguf\nADAPTER ./l.gguf\n")
    assert digests(git_repo)["a"] == first  # same bytes under another name
    git_repo.write("a/l.gguf", "lora-2")
    assert digests(git_repo)["a"] != first
    git_repo.commit("c")
    git_repo.tag("t")
    assert digests(git_repo, "t") == digests(git_repo)


def test_lock_change_moves_every_model_on_that_base(hierarchy):
    hierarchy.write("other/Modelfile", "# other\nFROM mistral:7b\n")
    before = digests(hierarchy)
    lock = {"version": 1, "bases": {"llama3.2:3b": "sha256:" + "a" * 64}}
    hierarchy.write("mfops.lock", json.dumps(lock))
    after = digests(hierarchy)
    assert all(after[n] != before[n] for n in ("engine-bot", "python-bot", "pirate"))
    assert after["other"] == before["other"]


def test_pinned_base_by_tag(git_repo):
    git_repo.write("a/Modelfile", "# a\nFROM llama3.2:3b\n")
    git_repo.write("b/Modelfile", "# b\nFROM a:v1\n")
    first = digests(git_repo)
    git_repo.write("a/Modelfile", "# a\nFROM llama3.2:1b\n")
    second = digests(git_repo)
    assert second["b"] == first["b"]  # a release tag, not the source
    git_repo.write("b/Modelfile", "# b\nFROM a:v2\n")
    assert digests(git_repo)["b"] != first["b"]
