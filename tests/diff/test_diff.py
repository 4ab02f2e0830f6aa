"""mfops.diff.changes on real git repositories: each kind of change, inheritance, renames, levels.

Every test builds a small company repo (engine-bot -> python-bot -> pirate-python), tags it
`v1`, edits it and compares `v1` with the working tree or a second tag.
"""

from __future__ import annotations

import re

import pytest

from mfops.diff.changes import (
    FilesChange,
    FromChange,
    LicenseChange,
    MessagesChange,
    ParameterChange,
    TextChange,
    WeightsChange,
    suggest_version,
)
from mfops.diff.compare import unified
from mfops.diff.revisions import diff_revisions
from mfops.errors import GraphError, ModelfileError, RefError, RepoError, UnknownModelError
from mfops.graph.revision import Revision
from mfops.repo.repository import Repo
from tests.conftest import invoke_mfops

BASE = """\
# engine-bot: the company base.
FROM llama3.2:3b
PARAMETER temperature 0.2
PARAMETER num_ctx 8192
PARAMETER stop <|eot_id|>
SYSTEM \"\"\"
You are an assistant at Acme Engines.
Never share customer data.
\"\"\"
LICENSE Internal use only.
"""
PYTHON = """\
# python-bot: inherits the house SYSTEM.
FROM engine-bot
PARAMETER temperature 0.1
MESSAGE user How do I read a file?
MESSAGE assistant Iterate over open(path).
"""
PIRATE = """\
# pirate-python: overrides SYSTEM.
FROM python-bot
SYSTEM Talk like a pirate.
"""


@pytest.fixture
def acme(git_repo):
    """Three levels, committed and tagged v1."""
    git_repo.write("mfops.yaml", "models:\n  engine-bot:\n    modelfile: BaseBot\n")
    git_repo.write("BaseBot", BASE)
    git_repo.write("python-bot/Modelfile", PYTHON)
    git_repo.write("personas/pirate-python.Modelfile", PIRATE)
    git_repo.commit("v1")
    git_repo.tag("v1")
    return git_repo


def run(repo, a="v1", b=None, **kw):
    r = Repo.find(explicit=repo.root)
    return diff_revisions(Revision(r, a), Revision(r, b), **kw)


def by_name(result):
    return {m.name: m for m in result.models}


def only(changes, cls):
    found = [c for c in changes if isinstance(c, cls)]
    assert len(found) == 1, changes
    return found[0]


# --------------------------------------------------------------------------- no change


def test_comment_and_format_only_edits_are_no_difference(acme):
    acme.write("BaseBot", "# reworded header\n\n" + BASE.replace("PARAMETER", "parameter"))
    acme.write("python-bot/Modelfile", PYTHON + "\n# trailing comment\n")
    result = run(acme)
    assert result.models == ()
    assert result.unchanged == 3
    assert result.summary() == "0 models changed, 0 added, 0 removed, 3 unchanged"
    assert result.level is None


def test_file_moved_under_same_name_is_no_difference_but_is_reported(acme):
    acme.mv("personas/pirate-python.Modelfile", "pirate-python/Modelfile")
    result = run(acme)
    assert result.models == ()
    assert [(m.name, m.old_file, m.new_file) for m in result.moved] == [
        ("pirate-python", "personas/pirate-python.Modelfile", "pirate-python/Modelfile")
    ]


# --------------------------------------------------------------------------- inheritance


def test_base_system_change_shows_on_inheriting_child_not_on_overriding_grandchild(acme):
    acme.write("BaseBot", BASE.replace("customer data", "any data"))
    result = run(acme)
    models = by_name(result)
    assert list(models) == ["engine-bot", "python-bot", "pirate-python"]
    base = only(models["engine-bot"].changes, TextChange)
    assert (base.field, base.origin_old, base.origin_new) == ("system", "engine-bot", "engine-bot")
    assert "-Never share customer data.\n+Never share any data.\n" in base.diff
    child = only(models["python-bot"].changes, TextChange)
    assert child.origin_new == "engine-bot"
    assert child.diff == base.diff
    assert models["python-bot"].rebuilt_because == ("engine-bot",)
    pirate = models["pirate-python"]
    assert pirate.changes == ()
    assert pirate.status == "changed"
    assert pirate.note == "rebuilt because engine-bot changed; no effective difference"
    assert pirate.level == "patch"
    assert result.summary() == "3 models changed, 0 added, 0 removed, 0 unchanged"


def test_declared_mode_compares_only_what_each_file_says(acme):
    acme.write("BaseBot", BASE.replace("customer data", "any data"))
    models = by_name(run(acme, mode="declared"))
    assert only(models["engine-bot"].changes, TextChange).field == "system"
    assert models["python-bot"].changes == ()
    assert models["python-bot"].note == "rebuilt because engine-bot changed; no declared difference"


def test_parameter_change_three_levels_down_with_origin(acme):
    acme.write("BaseBot", BASE.replace("num_ctx 8192", "num_ctx 4096"))
    models = by_name(run(acme))
    for name in ("engine-bot", "python-bot", "pirate-python"):
        change = only(models[name].changes, ParameterChange)
        assert (change.key, change.op, change.old, change.new) == ("num_ctx", "changed", 8192, 4096)
        assert change.origin_new == "engine-bot"
        assert models[name].level == "patch"


def test_child_override_hides_base_parameter_change(acme):
    acme.write("BaseBot", BASE.replace("temperature 0.2", "temperature 0.3"))
    models = by_name(run(acme))
    assert only(models["engine-bot"].changes, ParameterChange).new == pytest.approx(0.3)
    assert models["python-bot"].changes == ()  # python-bot sets its own temperature


def test_parameters_added_removed_changed_with_typed_values_and_stop_elements(acme):
    acme.write(
        "BaseBot",
        BASE.replace("PARAMETER num_ctx 8192\n", "PARAMETER top_k 20\n")
        .replace(
            "PARAMETER stop <|eot_id|>\n",
            "PARAMETER stop <|start|>\nPARAMETER stop <|eot_id|>\nPARAMETER stop END\n",
        )
        .replace("temperature 0.2", "temperature 0.25"),
    )
    changes = {c.key: c for c in by_name(run(acme))["engine-bot"].changes}
    assert (changes["num_ctx"].op, changes["num_ctx"].old, changes["num_ctx"].new) == (
        "removed",
        8192,
        None,
    )
    assert (changes["top_k"].op, changes["top_k"].new) == ("added", 20)
    assert isinstance(changes["top_k"].new, int)
    assert changes["temperature"].op == "changed"
    assert isinstance(changes["temperature"].new, float)
    stop = changes["stop"]
    assert (stop.old, stop.new) == (["<|eot_id|>"], ["<|start|>", "<|eot_id|>", "END"])
    assert [(i.op, i.index, i.new) for i in stop.items] == [
        ("added", 0, "<|start|>"),
        ("added", 2, "END"),
    ]


def test_parameters_with_no_key_in_common(git_repo):
    git_repo.write("a/Modelfile", "FROM llama3.2\nPARAMETER top_k 5\n")
    git_repo.commit("one")
    git_repo.tag("v1")
    git_repo.write("a/Modelfile", "FROM llama3.2\nPARAMETER stop x\nPARAMETER stop y\n")
    (model,) = run(git_repo).models
    assert [(c.key, c.op, c.old, c.new, c.items) for c in model.changes] == [
        ("stop", "added", None, ["x", "y"], ()),
        ("top_k", "removed", 5, None, ()),
    ]


def test_stop_element_removed(acme):
    acme.write("BaseBot", BASE.replace("PARAMETER stop <|eot_id|>\n", ""))
    acme.write("python-bot/Modelfile", PYTHON + "PARAMETER stop a\nPARAMETER stop b\n")
    acme.commit("two stops")
    acme.tag("v2")
    acme.write("python-bot/Modelfile", PYTHON + "PARAMETER stop b\n")
    change = only(by_name(run(acme, "v2"))["python-bot"].changes, ParameterChange)
    assert [(i.op, i.index, i.old) for i in change.items] == [("removed", 0, "a")]


# --------------------------------------------------------------------------- FROM, weights, files


def test_from_change_kind_and_target(acme):
    acme.write("python-bot/Modelfile", PYTHON.replace("FROM engine-bot", "FROM qwen2.5:7b"))
    models = by_name(run(acme))
    change = only(models["python-bot"].changes, FromChange)
    assert (change.old.kind, change.old.target) == ("source", "engine-bot")
    assert (change.new.kind, change.new.target) == ("external", "qwen2.5:7b")
    assert models["python-bot"].level == "major"
    weights = only(models["python-bot"].changes, WeightsChange)
    assert (weights.old.target, weights.origin_old) == ("llama3.2:3b", "engine-bot")
    assert (weights.new.target, weights.origin_new) == ("qwen2.5:7b", "python-bot")
    # pirate-python inherits the new weights, and python-bot's lost SYSTEM/LICENSE/stop.
    pirate = models["pirate-python"]
    assert only(pirate.changes, WeightsChange).origin_new == "python-bot"
    assert {"weights", "license", "parameter"} <= set(pirate.kinds)


def test_root_weights_change_is_a_from_change_there_and_inherited_below(acme):
    acme.write("BaseBot", BASE.replace("llama3.2:3b", "llama3.2:1b"))
    models = by_name(run(acme))
    assert [c.kind for c in models["engine-bot"].changes] == ["from"]
    weights = only(models["pirate-python"].changes, WeightsChange)
    assert (weights.old.target, weights.new.target) == ("llama3.2:3b", "llama3.2:1b")
    assert weights.origin_new == "engine-bot"


def test_lock_refresh_changes_weights_content(acme):
    old, new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    lock = '{"version": 1, "bases": {"llama3.2:3b": "%s"}}\n'
    acme.write("mfops.lock", lock % old)
    acme.commit("lock")
    acme.tag("locked")
    acme.write("mfops.lock", lock % new)
    models = by_name(run(acme, "locked"))
    change = only(models["engine-bot"].changes, FromChange)
    assert (change.old.content, change.new.content) == (old, new)
    assert only(models["python-bot"].changes, WeightsChange).new.content == new


def test_adapter_and_file_base_compared_by_content(git_repo):
    git_repo.write("w/model.gguf", "GGUF weights v1")
    git_repo.write("w/lora.gguf", "lora v1")
    git_repo.write("tuned/Modelfile", "FROM ../w/model.gguf\nADAPTER ../w/lora.gguf\n")
    git_repo.write("child/Modelfile", "FROM tuned\nADAPTER ./extra.gguf\n")
    git_repo.write("child/extra.gguf", "extra")
    git_repo.commit("files")
    git_repo.tag("v1")
    git_repo.write("w/model.gguf", "GGUF weights v2")
    git_repo.write("w/lora.gguf", "lora v2")
    models = by_name(run(git_repo))
    tuned = models["tuned"]
    assert tuned.kinds == ("from", "adapters")
    base = only(tuned.changes, FromChange)
    assert base.old.kind == base.new.kind == "file"
    assert base.old.content != base.new.content
    child = models["child"]
    adapters = only(child.changes, FilesChange)
    assert [f.origin for f in adapters.new] == ["tuned", "child"]
    assert adapters.old[0].digest != adapters.new[0].digest
    assert adapters.old[1] == adapters.new[1]
    assert only(child.changes, WeightsChange).origin_new == "tuned"


def test_draft_requires_renderer_parser(acme):
    acme.write("python-bot/draft.gguf", "small")
    acme.commit("draft file")
    acme.tag("v1b")
    acme.write("BaseBot", BASE + "REQUIRES 0.14.0\nRENDERER qwen3\nPARSER qwen3\n")
    acme.write("python-bot/Modelfile", PYTHON + "DRAFT ./draft.gguf\n")
    models = by_name(run(acme, "v1b"))
    engine = models["engine-bot"]
    texts = {c.field: (c.old, c.new, c.diff) for c in engine.changes}
    assert texts == {
        "renderer": (None, "qwen3", None),
        "parser": (None, "qwen3", None),
        "requires": (None, "0.14.0", None),
    }
    python = models["python-bot"]
    assert python.kinds == ("draft", "renderer", "parser", "requires")
    assert only(python.changes, FilesChange).new[0].path == "python-bot/draft.gguf"
    assert {c.origin_new for c in python.changes if isinstance(c, TextChange)} == {"engine-bot"}


# --------------------------------------------------------------------------- texts, messages


def test_template_unified_diff(acme):
    acme.write("python-bot/Modelfile", PYTHON + 'TEMPLATE """{{ .System }}\n{{ .Prompt }}"""\n')
    acme.commit("template")
    acme.tag("v2")
    acme.write("python-bot/Modelfile", PYTHON + 'TEMPLATE """{{ .System }}\nQ: {{ .Prompt }}"""\n')
    change = only(by_name(run(acme, "v2"))["python-bot"].changes, TextChange)
    assert change.field == "template"
    assert change.diff == (
        "@@ -1,2 +1,2 @@\n {{ .System }}\n-{{ .Prompt }}\n\\ No newline at end of text\n"
        "+Q: {{ .Prompt }}\n\\ No newline at end of text\n"
    )


def test_message_history_and_inherited_license(acme):
    acme.write("python-bot/Modelfile", PYTHON.replace("Iterate over", "Loop over"))
    acme.write("BaseBot", BASE.replace("Internal use only.", "Internal use only. (c) Acme"))
    models = by_name(run(acme))
    msgs = only(models["python-bot"].changes, MessagesChange)
    assert [m.content for m in msgs.new] == ["How do I read a file?", "Loop over open(path)."]
    assert "-assistant: Iterate over open(path).\n+assistant: Loop over open(path).\n" in msgs.diff
    assert msgs.origin_new == "python-bot"
    lic = only(models["pirate-python"].changes, LicenseChange)
    assert (lic.old, lic.new) == (("Internal use only.",), ("Internal use only. (c) Acme",))
    assert lic.origin_new == "engine-bot"
    # pirate inherits python-bot's messages, which changed too
    assert only(models["pirate-python"].changes, MessagesChange).origin_new == "python-bot"


def test_unified_handles_absent_and_trailing_newline():
    assert unified(None, None) == ""
    assert unified("a\n", "a") == "@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of text\n"
    assert unified(None, "x\n") == "@@ -0,0 +1 @@\n+x\n"


# --------------------------------------------------------------------------- add, remove, rename


def test_added_and_removed(acme):
    acme.rm("personas/pirate-python.Modelfile")
    acme.write("go-bot/Modelfile", "FROM engine-bot\nSYSTEM Only Go.\n")
    result = run(acme)
    models = by_name(result)
    assert (models["go-bot"].status, models["go-bot"].new_file) == ("added", "go-bot/Modelfile")
    assert models["go-bot"].base.target == "engine-bot"
    assert models["pirate-python"].status == "removed"
    assert models["pirate-python"].old_file == "personas/pirate-python.Modelfile"
    assert [m.name for m in result.models] == ["go-bot", "pirate-python"]
    assert result.summary() == "0 models changed, 1 added, 1 removed, 2 unchanged"
    assert result.level == "major"


def test_rename_with_equal_content(acme):
    acme.mv("personas/pirate-python.Modelfile", "personas/buccaneer.Modelfile")
    result = run(acme)
    (model,) = result.models
    assert (model.status, model.old_name, model.name) == ("renamed", "pirate-python", "buccaneer")
    assert model.old_digest == model.new_digest
    assert model.changes == ()
    assert result.summary() == "0 models changed, 0 added, 0 removed, 1 renamed, 2 unchanged"


def test_rename_of_a_parent_keeps_children_unchanged(acme):
    acme.write("mfops.yaml", "models:\n  company-bot:\n    modelfile: BaseBot\n")
    acme.write("python-bot/Modelfile", PYTHON.replace("FROM engine-bot", "FROM company-bot"))
    result = run(acme)
    (model,) = result.models
    assert (model.status, model.old_name, model.name) == ("renamed", "engine-bot", "company-bot")
    assert result.unchanged == 2  # python-bot's digest hangs on engine-bot's, not its name


def test_rename_detected_by_equal_effective_content(acme):
    # pirate-python becomes a flat model FROM the weights: other digest, same effective config
    flat = (
        "FROM llama3.2:3b\nPARAMETER temperature 0.1\nPARAMETER num_ctx 8192\n"
        "PARAMETER stop <|eot_id|>\nSYSTEM Talk like a pirate.\nLICENSE Internal use only.\n"
        "MESSAGE user How do I read a file?\nMESSAGE assistant Iterate over open(path).\n"
    )
    acme.rm("personas/pirate-python.Modelfile")
    acme.write("corsair/Modelfile", flat)
    (model,) = run(acme).models
    assert (model.status, model.old_name, model.name) == ("renamed", "pirate-python", "corsair")
    assert model.old_digest != model.new_digest
    assert model.kinds == ("from",)


def test_name_filter_and_unknown_name(acme):
    acme.write("BaseBot", BASE.replace("customer data", "any data"))
    result = run(acme, names=["python-bot"])
    assert [m.name for m in result.models] == ["python-bot"]
    assert result.unchanged == 0
    with pytest.raises(UnknownModelError, match=r"unknown model 'pyton-bot'.*did you mean"):
        run(acme, names=["pyton-bot"])


def test_two_tags(acme):
    acme.write("BaseBot", BASE.replace("0.2", "0.3"))
    acme.commit("warmer")
    acme.tag("v2")
    acme.write("BaseBot", BASE)  # the working tree is not involved
    result = run(acme, "v1", "v2")
    assert [m.name for m in result.models] == ["engine-bot", "python-bot", "pirate-python"]
    assert [m.kinds for m in result.models] == [("parameter",), (), ()]
    assert (result.old_ref, result.new_ref, result.new_label) == ("v1", "v2", "v2")


# --------------------------------------------------------------------------- bad input


def test_unknown_ref(acme):
    with pytest.raises(RefError):
        run(acme, "v9")


def test_ref_without_models(git_repo):
    git_repo.write("README.md", "nothing yet\n")
    git_repo.commit("empty")
    git_repo.tag("empty")
    git_repo.write("a/Modelfile", "FROM llama3.2\n")
    with pytest.raises(RepoError, match="no models at empty"):
        run(git_repo, "empty")


def test_parse_error_at_a_ref_names_ref_file_and_line(acme):
    acme.write("python-bot/Modelfile", PYTHON + "PARAMETER top_k many\n")
    acme.commit("broken")
    acme.tag("broken")
    acme.write("python-bot/Modelfile", PYTHON)
    with pytest.raises(ModelfileError) as info:
        run(acme, "broken")
    assert str(info.value).startswith("broken:python-bot/Modelfile:6:")


def test_cycle_at_a_ref(acme):
    acme.write("BaseBot", BASE.replace("FROM llama3.2:3b", "FROM pirate-python"))
    acme.commit("cycle")
    acme.tag("cyclic")
    with pytest.raises(GraphError, match=r"cyclic.*FROM cycle"):
        run(acme, "cyclic")


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize(
    ("edit", "level"),
    [
        (lambda: ("BaseBot", BASE.replace("0.2", "0.3")), "patch"),
        (lambda: ("BaseBot", BASE.replace("customer", "any")), "minor"),
        (lambda: ("BaseBot", BASE.replace("3b", "1b")), "major"),
        (lambda: ("new/Modelfile", "FROM engine-bot\n"), "minor"),
    ],
)
def test_suggest_version_levels(acme, edit, level):
    acme.write(*edit())
    result = run(acme)
    suggestion = suggest_version(result, ["v1.4.2", "v1.4.1", "v1.0.0"])
    assert (suggestion.level, suggestion.previous) == (level, "v1.4.2")
    assert suggestion.next == {"patch": "v1.4.3", "minor": "v1.5.0", "major": "v2.0.0"}[level]
    assert suggestion.reasons


def test_suggest_version_without_changes_or_tags(acme):
    assert suggest_version(run(acme), ["v1.0.0"]).next is None
    acme.write("BaseBot", BASE.replace("customer", "any"))
    assert suggest_version(run(acme), []).next == "v0.1.0"


def test_markdown_draws_the_affected_subtrees_as_mermaid(tmp_path):
    """Changed models are marked, unchanged ancestors shown, unrelated branches left out."""
    from tests.gitrepo import GitRepo

    repo = GitRepo(tmp_path / "r")
    files = {
        "a/Modelfile": "FROM llama3.2\nSYSTEM a\n",
        "b/Modelfile": "FROM a\nSYSTEM b\n",
        "c/Modelfile": "FROM b\nSYSTEM c\n",
        "d/Modelfile": "FROM a\nSYSTEM d\n",
        "e/Modelfile": "FROM qwen3\nSYSTEM e\n",
    }
    for path, text in files.items():
        repo.write(path, text)
    repo.commit("models")
    repo.write("c/Modelfile", "FROM b\nSYSTEM c2\n")
    repo.write("f/Modelfile", "FROM c\nSYSTEM f\n")
    code, out, err = invoke_mfops("-C", str(repo.root), "diff", "--format", "markdown")
    assert code == 0, err
    block = out.split("```mermaid\n", 1)[1].split("```", 1)[0]
    labels = re.findall(r'\w\["([^"]+)"\]', block)  # model nodes (bases are `(["..."])`)
    assert sorted(labels) == ["+ f", "a", "b", "~ c"]
    assert '(["llama3.2:latest"])' in block  # the external base, rounded
    assert "qwen3" not in block and '"d"' not in block and '"e"' not in block
    assert "classDef changed" in block and "classDef added" in block
    assert "Inheritance of the changed models" in out


def test_markdown_leaves_the_picture_out_when_too_large():
    from mfops.graph.views import mermaid_affected

    class Node:
        def __init__(self, parent):
            self.parent = parent

    class G:
        def __init__(self):
            self.order = [f"m{i}" for i in range(5)]
            self.nodes = {f"m{i}": Node(f"m{i - 1}" if i else None) for i in range(5)}

        def ancestors(self, name):
            i = int(name[1:])
            return [f"m{j}" for j in range(i)]

    assert mermaid_affected(G(), {"m4": "changed"}, limit=4) is None  # type: ignore[arg-type]
