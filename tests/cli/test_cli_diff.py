"""`mfops diff` end to end through `mfops.cli.main.main`: formats, options, exit codes, errors.

The command returns its exit code, which only `main()` turns into the process status, so these
tests call `main` inside CliRunner's isolation (stdout and stderr kept apart).
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys

import jsonschema
import pytest

from mfops.diff.changes import BaseRef, DiffResult, ModelDiff, TextChange
from mfops.diff.jsonview import SCHEMA
from mfops.diff.render import _code, _fence, origin_note, render_text
from tests.cli_runner import invoke_mfops
from tests.gitrepo import GitRepo

BASE = """\
# engine-bot
FROM llama3.2:3b
PARAMETER temperature 0.2
PARAMETER stop <|eot_id|>
SYSTEM \"\"\"You are at Acme.
Be brief.\"\"\"
LICENSE Internal.
"""
CHILD = "# python-bot\nFROM engine-bot\nPARAMETER temperature 0.1\n"
GRANDCHILD = "# pirate\nFROM python-bot\nSYSTEM Arr.\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


run = invoke_mfops  # (exit code, stdout, stderr), in-process


@pytest.fixture
def acme(git_repo, monkeypatch):
    git_repo.write("mfops.yaml", "models:\n  engine-bot:\n    modelfile: BaseBot\n")
    git_repo.write("BaseBot", BASE)
    git_repo.write("python-bot/Modelfile", CHILD)
    git_repo.write("personas/pirate.Modelfile", GRANDCHILD)  # in a folder: a `python-bot`
    git_repo.write("solo.Modelfile", "FROM qwen2.5:7b\nSYSTEM Solo.\n")  # dir beside it is a path
    git_repo.commit("v1")
    git_repo.tag("v1.0.0")
    monkeypatch.chdir(git_repo.root)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return git_repo


@pytest.fixture
def edited(acme):
    """Every kind of change a reviewer meets most: texts, parameters, add, remove, rename."""
    stops = "PARAMETER stop <|eot_id|>\nPARAMETER stop END"
    acme.write(
        "BaseBot",
        BASE.replace("Be brief.", "Be brief and kind.")
        .replace("PARAMETER stop <|eot_id|>", stops)
        .replace("LICENSE Internal.", "LICENSE Internal. Acme.\nREQUIRES 0.14.0"),
    )
    acme.write("python-bot/Modelfile", CHILD.replace("0.1", "0.15") + "MESSAGE user hi\n")
    acme.write("go-bot/Modelfile", "FROM engine-bot\nSYSTEM Go only.\n")
    acme.mv("solo.Modelfile", "lone.Modelfile")
    return acme


# --------------------------------------------------------------------------- text


def test_text_output(acme):
    acme.write("BaseBot", BASE.replace("Be brief.", "Be kind.").replace("0.2", "0.3"))
    code, out, err = run("diff", "v1.0.0")
    assert (code, err) == (0, "")
    assert out == (
        "diff v1.0.0 -> working tree (effective configs)\n"
        "\n"
        "~ engine-bot  changed  (BaseBot)\n"
        "    SYSTEM\n"
        "      @@ -1,2 +1,2 @@\n"
        "       You are at Acme.\n"
        "      -Be brief.\n"
        "      \\ No newline at end of text\n"
        "      +Be kind.\n"
        "      \\ No newline at end of text\n"
        "    PARAMETER temperature: 0.2 -> 0.3\n"
        "\n"
        "~ python-bot  changed  (python-bot/Modelfile)\n"
        "    SYSTEM  (inherited from engine-bot)\n"
        "      @@ -1,2 +1,2 @@\n"
        "       You are at Acme.\n"
        "      -Be brief.\n"
        "      \\ No newline at end of text\n"
        "      +Be kind.\n"
        "      \\ No newline at end of text\n"
        "\n"
        "~ pirate  changed  (personas/pirate.Modelfile)\n"
        "    rebuilt because engine-bot changed; no effective difference\n"
        "\n"
        "3 models changed, 0 added, 0 removed, 1 unchanged\n"
    )


def test_defaults_head_against_working_tree_and_exit_code(acme):
    assert run("diff") == (
        0,
        "diff HEAD -> working tree (effective configs)\n\n"
        "0 models changed, 0 added, 0 removed, 4 unchanged\n",
        "",
    )
    assert run("diff", "--exit-code")[0] == 0
    acme.write("personas/pirate.Modelfile", GRANDCHILD.replace("Arr.", "Arr!"))
    code, out, _ = run("diff", "--exit-code")
    assert code == 1
    assert out.startswith("diff HEAD -> working tree (effective configs)\n")
    assert out.endswith("1 model changed, 0 added, 0 removed, 3 unchanged\n")
    assert run("diff")[0] == 0  # without --exit-code differences are not a failure


def test_stat_and_moved_file(edited):
    edited.commit("v2")
    edited.tag("v2")
    edited.mv("python-bot/Modelfile", "bots/python-bot.Modelfile")
    assert run("diff", "v2", "--stat") == (
        0,
        (
            "   python-bot | moved python-bot/Modelfile -> bots/python-bot.Modelfile (no change)\n"
            "0 models changed, 0 added, 0 removed, 5 unchanged\n"
        ),
        "",
    )
    _, out, _ = run("diff", "v1.0.0", "v2", "--stat")
    assert out == (
        " ~ engine-bot   | SYSTEM, REQUIRES, PARAMETER(stop), LICENSE\n"
        " ~ python-bot   | SYSTEM, REQUIRES, PARAMETER(stop, temperature), MESSAGE, LICENSE\n"
        " ~ pirate       | REQUIRES, PARAMETER(stop, temperature), MESSAGE, LICENSE\n"
        " > solo -> lone | renamed\n"
        " + go-bot       | added\n"
        "3 models changed, 1 added, 0 removed, 1 renamed, 0 unchanged\n"
    )


def test_declared_and_model_filter(edited):
    data = json.loads(run("diff", "v1.0.0", "--declared", "--format", "json")[1])
    assert data["mode"] == "declared"
    assert gc.isenabled()  # the command pauses the collector only while it loads
    assert gc.get_freeze_count() == 0  # and what it froze is collectable again (fileio/bulk.py)
    _, out, _ = run("diff", "v1.0.0", "--declared", "--stat", "-m", "python-bot", "-m", "go-bot")
    assert out == (
        " ~ python-bot | PARAMETER(temperature), MESSAGE\n"
        " + go-bot     | added\n"
        "1 model changed, 1 added, 0 removed, 0 unchanged\n"
    )


def test_colour_only_when_asked(edited, monkeypatch):
    _, out, _ = run("diff", "v1.0.0")
    assert not ANSI.search(out)  # not a terminal
    _, plain, _ = run("--no-color", "diff", "v1.0.0")
    assert plain == out
    result = DiffResult(
        "a",
        "b",
        "a",
        None,
        "effective",
        (
            ModelDiff(
                "x",
                "changed",
                "x",
                "x/Modelfile",
                "x/Modelfile",
                None,
                None,
                BaseRef("external", "m:1"),
                (TextChange("system", "a\n", "b\n", "x", "x", "@@ -1 +1 @@\n-a\n+b\n"),),
            ),
        ),
        0,
    )
    coloured = render_text(result, color=True)
    assert "\x1b[32m+b\x1b[0m" in coloured and "\x1b[31m-a\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == render_text(result, color=False)


def test_origin_notes():
    m = ModelDiff("kid", "changed", "kid", "f", "f", None, None, BaseRef("source", "dad"))
    assert origin_note(m, "kid", "kid") == ""
    assert origin_note(m, "dad", "dad") == "inherited from dad"
    assert origin_note(m, "dad", "kid") == "set here, was inherited from dad"
    assert origin_note(m, None, "dad") == "inherited from dad"
    assert origin_note(m, "dad", None) == "was inherited from dad"
    renamed = ModelDiff("new", "renamed", "old", "f", "g", None, None, BaseRef("source", "dad"))
    assert origin_note(renamed, "old", "new") == ""


# --------------------------------------------------------------------------- json


def test_json_validates_against_the_schema(edited):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    code, out, err = run("diff", "v1.0.0", "--format", "json", "--suggest-version")
    assert (code, err) == (0, "")
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    assert data["schema_version"] == 1
    assert data["summary"] == {
        "changed": 3,
        "added": 1,
        "removed": 0,
        "renamed": 1,
        "unchanged": 0,
        "moved": 0,
    }
    models = {m["name"]: m for m in data["models"]}
    assert (models["lone"]["old_name"], models["lone"]["changes"]) == ("solo", [])
    params = [c for c in models["python-bot"]["changes"] if c["kind"] == "parameter"]
    assert params[0] == {
        "kind": "parameter",
        "key": "stop",
        "op": "changed",
        "old": ["<|eot_id|>"],
        "new": ["<|eot_id|>", "END"],
        "origin": {"old": "engine-bot", "new": "engine-bot"},
        "items": [{"op": "added", "index": 1, "old": None, "new": "END"}],
    }
    assert params[1]["key"] == "temperature" and params[1]["new"] == 0.15
    assert data["suggestion"] == {
        "level": "major",
        "previous": "v1.0.0",
        "next": "v2.0.0",
        "reasons": ["lone: renamed"],
    }


def test_json_schema_rejects_drift(edited):
    data = json.loads(run("diff", "v1.0.0", "--format", "json")[1])
    data["models"][0]["changes"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_json_covers_files_from_and_weights(acme):
    acme.write("w.gguf", "weights")
    acme.write("lora.gguf", "lora")
    acme.write("BaseBot", BASE.replace("FROM llama3.2:3b", "FROM ./w.gguf\nADAPTER ./lora.gguf"))
    data = json.loads(run("diff", "--format", "json")[1])
    jsonschema.validate(data, SCHEMA)
    kinds = {m["name"]: m["kinds"] for m in data["models"]}
    assert kinds == {
        "engine-bot": ["from", "adapters"],
        "python-bot": ["weights", "adapters"],
        "pirate": ["weights", "adapters"],
    }


# --------------------------------------------------------------------------- markdown


def test_markdown_structure(edited):
    _, out, _ = run("diff", "v1.0.0", "--format", "markdown", "--suggest-version")
    lines = out.splitlines()
    assert lines[0] == "### mfops diff `v1.0.0` → `working tree`"
    assert "**3 models changed, 1 added, 0 removed, 1 renamed, 0 unchanged**" in out
    table = lines.index("| | Model | What changed | Level |")
    assert lines[table + 1] == "|---|---|---|---|"
    rows = lines[table + 2 : table + 7]
    names = ["engine-bot", "python-bot", "pirate", "solo → lone", "go-bot"]
    assert [r.split(" | ")[1] for r in rows] == [f"`{n}`" for n in names]
    assert [r.split(" | ")[-1] for r in rows] == [
        "minor |",
        "minor |",
        "minor |",
        "major |",
        "minor |",
    ]
    assert out.count("<details>") == 5  # one per model
    assert out.count("<details open>") == 1  # the inheritance picture
    assert out.count("</details>") == 6
    assert re.findall(r"<summary><b>(.*?)</b>", out) == names
    fences = [ln for ln in lines if ln.startswith("```")]
    assert len(fences) % 2 == 0
    assert fences[0::2] == ["```mermaid"] + ["```diff"] * (len(fences) // 2 - 1)
    assert set(fences[1::2]) == {"```"}
    assert "| `temperature` | changed | `0.1` | `0.15` |  |" in lines
    assert "**Suggested version:** `v2.0.0` (major, after `v1.0.0`)" in lines
    assert out.endswith("\n") and not out.endswith("\n\n\n")


def test_markdown_stat_has_no_sections(edited):
    out = run("diff", "v1.0.0", "--format", "markdown", "--stat")[1]
    assert "<details>" not in out and "| ~ | `engine-bot` |" in out


def test_markdown_escaping():
    assert _code("a|b") == "`a\\|b`"
    assert _code("x`y") == "``x`y``"
    assert _fence("```\ncode\n```") == ["````diff", "```", "code", "```", "````"]


# --------------------------------------------------------------------------- versions


def test_suggest_version_text(acme):
    acme.write("BaseBot", BASE.replace("0.2", "0.3"))
    _, out, _ = run("diff", "v1.0.0", "--suggest-version")
    assert out.splitlines()[-1] == (
        "suggested version: v1.0.1 (patch, after v1.0.0): engine-bot: parameter; "
        "python-bot: rebuilt; pirate: rebuilt"
    )
    acme.write("BaseBot", BASE)
    _, out, _ = run("diff", "--suggest-version")
    assert out.splitlines()[-1] == "no changes: no new version needed (latest v1.0.0)"


def test_rename_in_the_change_that_changed_its_base_is_a_rename(acme):
    """Its own Modelfile is the same; what it inherits differs, so neither its digest nor
    its effective content matched, and it showed as one model added and another removed."""
    acme.git("mv", "personas/pirate.Modelfile", "personas/buccaneer.Modelfile")
    acme.write("BaseBot", BASE.replace("<|eot_id|>", "END"))
    code, out, err = run("--no-color", "diff", "v1.0.0")
    assert code == 0, err
    assert "+ buccaneer" not in out and "- pirate" not in out
    assert (
        "> pirate -> buccaneer  renamed  (personas/pirate.Modelfile -> "
        "personas/buccaneer.Modelfile)\n"
        '    PARAMETER stop: ["<|eot_id|>"] -> ["END"]  (inherited from engine-bot)\n'
    ) in out
    assert out.splitlines()[-1] == "2 models changed, 0 added, 0 removed, 1 renamed, 1 unchanged"


def test_suggest_version_after_a_short_release_tag(acme):
    """`vX.Y` is a release tag everywhere else (the default --since, promote); the
    suggestion counted only `vX.Y.Z`, so after `v1.1` it proposed a version after v1.0.0."""
    acme.write("solo.Modelfile", "FROM qwen2.5:7b\nSYSTEM Solo, again.\n")
    acme.commit("v1.1")
    acme.tag("v1.1")
    acme.write("BaseBot", BASE.replace("0.2", "0.3"))
    _, out, _ = run("diff", "v1.1", "--suggest-version")
    assert out.splitlines()[-1] == (
        "suggested version: v1.1.1 (patch, after v1.1): engine-bot: parameter; "
        "python-bot: rebuilt; pirate: rebuilt"
    )


# --------------------------------------------------------------------------- bad input


def test_unknown_ref(acme):
    code, out, err = run("diff", "v9.9")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "v9.9" in err


def test_parse_error_at_a_ref(acme):
    acme.write("python-bot/Modelfile", CHILD + "PARAMETER top_k lots\n")
    acme.commit("broken")
    acme.tag("broken")
    acme.write("python-bot/Modelfile", CHILD)
    code, out, err = run("diff", "broken")
    assert (code, out) == (2, "")
    assert err.startswith("broken:python-bot/Modelfile:4:") and err.count("\n") == 1


def test_grammar_error_in_working_tree(acme):
    acme.write("personas/pirate.Modelfile", "FROM python-bot\nSYSTME typo\n")
    code, _, err = run("diff")
    assert code == 2
    assert err.startswith("personas/pirate.Modelfile:2:") and err.count("\n") == 1


def test_cycle_and_empty_ref(acme):
    acme.write("BaseBot", BASE.replace("FROM llama3.2:3b", "FROM pirate"))
    acme.commit("cycle")
    acme.tag("cyclic")
    code, _, err = run("diff", "cyclic", "v1.0.0")
    assert code == 2 and "FROM cycle" in err and "cyclic" in err and err.count("\n") == 1
    acme.git("checkout", "-q", "--orphan", "blank")
    acme.git("rm", "-rqf", ".")
    acme.write("README.md", "none\n")
    acme.commit("nothing")
    code, _, err = run("diff", "blank", "v1.0.0")
    assert (code, err) == (
        2,
        "mfops: no models at blank (no mfops.yaml entries and no Modelfile, *.Modelfile there)\n",
    )


def test_range_syntax_and_fresh_repo(acme, tmp_path, monkeypatch):
    acme.write("BaseBot", BASE.replace("0.2", "0.3"))
    acme.commit("warmer")
    assert run("diff", "v1.0.0..HEAD", "--stat")[1].startswith(" ~ engine-bot | PARAMETER(")
    assert run("diff", "v1.0.0", "HEAD", "--stat") == run("diff", "v1.0.0..", "--stat")
    fresh = GitRepo(tmp_path / "fresh")
    fresh.write("a/Modelfile", "FROM llama3.2\n")
    monkeypatch.chdir(fresh.root)
    assert run("diff") == (
        2,
        "",
        "mfops: unknown ref 'HEAD' (no commit yet? give the version "
        "to compare with: mfops diff REF)\n",
    )


def test_unknown_model_name(acme):
    code, _, err = run("diff", "-m", "pyhton-bot")
    assert code == 2 and "did you mean python-bot?" in err


# --------------------------------------------------------------------------- installed script


def test_a_plain_diff_loads_nothing_of_the_server_path(edited):
    """`--server` is the only user of the server client, the build session and the writer
    lock: comparing two refs does not import them (cli/commands/diff.py)."""
    probe = (
        "import sys\nfrom mfops.cli.main import main\n"
        f"try:\n    main(['-C', {str(edited.root)!r}, 'diff', 'v1.0.0', '--format', 'json'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mfops.build', "
        "'mfops.server.client', 'mfops.store.writerlock', 'mfops.cli.commands.server'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_installed_entry_point(edited, run_mfops):
    proc = run_mfops("diff", "v1.0.0", "--format", "json", "--exit-code", cwd=edited.root)
    assert proc.returncode == 1, proc.stderr
    jsonschema.validate(json.loads(proc.stdout), SCHEMA)
    proc = run_mfops("diff", "v1.0.0", "--color", cwd=edited.root)
    assert proc.returncode == 2 and "mfops: unknown option" in proc.stderr
