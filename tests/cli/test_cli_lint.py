"""`mfops lint` end to end through `mfops.cli.main.main`: output formats, exit codes, discovery.

The command returns its exit code, which only `main()` turns into the process status, so
these tests call `main` inside CliRunner's isolation (stdout and stderr kept apart) rather
than `CliRunner.invoke`, whose standalone mode would report 0 for a returned 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfops.lint.engine import RULES
from tests.cli_runner import invoke_mfops

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


run = invoke_mfops  # (exit code, stdout, stderr), in-process


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A small repo: one listed model with an odd file name, two conventional ones (in
    folders: beside the folder python-bot/, `FROM python-bot` would import that folder)."""
    root = tmp_path / "acme"
    (root / "python-bot").mkdir(parents=True)
    (root / "pirate").mkdir()
    (root / "mfops.yaml").write_text("models:\n  engine-bot:\n    modelfile: BaseBot\n")
    (root / "BaseBot").write_text("# engine-bot: base\nFROM llama3.2:3b\n")
    (root / "python-bot" / "Modelfile").write_text("# python-bot\nFROM engine-bot\n")
    (root / "pirate" / "Modelfile").write_text("# pirate\nFROM python-bot\n")
    monkeypatch.chdir(root)
    return root


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_clean_repo_exits_0_and_knows_its_model_names(repo):
    code, out, err = run("lint")
    assert (code, out, err) == (0, "", "0 errors, 0 warnings in 3 files\n")


def test_text_format_lines_summary_and_exit_1(repo):
    write(repo / "bad.Modelfile", "from llama3.2\nPARAMETER num_ctx 4096.0\nPARAMETER top_k x\n")
    code, out, err = run("lint")
    assert code == 1
    assert out.splitlines() == [
        "bad.Modelfile:1:1: MF302 info: no header comment saying what this model is for "
        "(start the file with a comment such as '# name: what it is for')",
        "bad.Modelfile:1:1: MF305 info: keyword 'from' is not upper case (run mfops fmt)",
        "bad.Modelfile:1:6: MF201 warning: FROM llama3.2 has no tag: it means llama3.2:latest, "
        "which changes whenever the registry updates it (pin a tag: FROM llama3.2:<tag>)",
        "bad.Modelfile:2:19: MF103 error: PARAMETER num_ctx: invalid int value [4096.0] "
        "(num_ctx takes a whole number, e.g. 4096)",
        "bad.Modelfile:3:17: MF103 error: PARAMETER top_k: invalid int value [x] "
        "(top_k takes a whole number, e.g. 4096)",
    ]
    assert err == "2 errors, 1 warning, 2 info in 4 files\n"


def test_warnings_alone_exit_0(repo):
    write(repo / "w.Modelfile", "# w\nFROM llama3.2\n")
    code, out, err = run("lint", "w.Modelfile")
    assert code == 0
    assert out.startswith("w.Modelfile:2:6: MF201 warning: ")
    assert err == "0 errors, 1 warning in 1 file\n"


def test_json_format(repo):
    write(repo / "j.Modelfile", "# j\nFROM x:1\nPARAMETER Temperature 1\n")
    code, out, err = run("lint", "--format", "json", "j.Modelfile")
    assert code == 1
    assert json.loads(out) == [
        {
            "path": "j.Modelfile",
            "line": 3,
            "column": 11,
            "code": "MF101",
            "severity": "error",
            "message": "unknown parameter 'Temperature'",
            "hint": "did you mean 'temperature'? parameter names are case-sensitive",
        }
    ]
    assert err == "1 error, 0 warnings in 1 file\n"


def test_json_format_empty_is_an_empty_array(repo):
    code, out, _ = run("lint", "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_github_format_with_escaping(repo):
    write(repo / "a,b" / "Modelfile", "FROM 50%\nSYSTEM a\nSYSTEM b\n")
    code, out, _ = run("lint", "--format", "github", "a,b")
    assert code == 1
    assert out.splitlines() == [
        "::notice file=a%2Cb/Modelfile,line=1,col=1,title=MF302::no header comment saying "
        "what this model is for (start the file with a comment such as '# name: what it is for')",
        "::error file=a%2Cb/Modelfile,line=1,col=6,title=MF203::FROM is neither an existing "
        "path nor a valid model name: invalid model name '50%25': model '50%25' may only "
        "contain letters, digits, '_', '-' and '.'",
        "::warning file=a%2Cb/Modelfile,line=3,col=1,title=MF301::SYSTEM given again "
        "(previous on line 2): only the last one is used",
    ]


def test_nonexistent_path_is_a_usage_error(repo):
    code, out, err = run("lint", "nope.Modelfile")
    assert code == 2
    assert out == ""
    assert "nope.Modelfile" in err and "does not exist" in err


def test_unknown_format_is_a_usage_error(repo):
    code, _, err = run("lint", "--format", "xml")
    assert code == 2 and "xml" in err


def test_directory_argument_includes_files_listed_in_mfops_yaml(repo):
    write(repo / "team" / "Core", "FROM llama3.2\n")  # no header, no tag
    write(
        repo / "mfops.yaml",
        "models:\n  engine-bot:\n    modelfile: BaseBot\n  core:\n    modelfile: team/Core\n",
    )
    code, out, err = run("lint", "team")
    assert code == 0
    assert [line.split(": ")[1] for line in out.splitlines()] == ["MF302 info", "MF201 warning"]
    assert all(line.startswith("team/Core:") for line in out.splitlines())
    assert err.endswith("in 1 file\n")


def test_listed_modelfile_that_is_missing_is_an_error(repo):
    write(repo / "mfops.yaml", "models:\n  engine-bot:\n    modelfile: Gone\n")
    code, out, _ = run("lint")
    assert code == 1
    assert out.startswith("Gone:1:1: MF002 error: cannot read Modelfile")


def test_repo_names_make_untagged_from_a_source_edge(repo):
    # Without the repo's names, `FROM engine-bot` and `FROM python-bot` would be external.
    code, out, _ = run("lint", "python-bot", "pirate")
    assert (code, out) == (0, "")


def test_root_modelfile_is_named_after_the_root_directory(repo):
    write(repo / "Modelfile", "# acme root\nFROM llama3.2:3b\n")
    write(repo / "child.Modelfile", "# child\nFROM acme\n")
    code, out, _ = run("lint")
    assert (code, out) == (0, "")


def test_default_path_is_the_repo_root_found_upwards(repo, monkeypatch):
    write(repo / "bad.Modelfile", "# bad\nFROM x:1\nPARAMETER q 1\n")
    monkeypatch.chdir(repo / "python-bot")
    code, out, err = run("lint")
    assert code == 1
    assert out == f"{repo / 'bad.Modelfile'}:3:11: MF101 error: unknown parameter 'q'\n"
    assert err == "1 error, 0 warnings in 4 files\n"


def test_repo_option_selects_the_repo(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run("-C", "acme", "lint")
    assert (code, err) == (0, "0 errors, 0 warnings in 3 files\n")


def test_outside_any_repo_the_current_directory_is_linted(tmp_path, monkeypatch):
    write(tmp_path / "solo" / "a.Modelfile", "# a\nFROM llama3.2:3b\n")
    write(tmp_path / "solo" / "b.Modelfile", "# b\nFROM a\n")
    monkeypatch.chdir(tmp_path / "solo")
    code, out, err = run("lint")
    assert (code, out, err) == (0, "", "0 errors, 0 warnings in 2 files\n")


def test_suppression_comment(repo):
    write(repo / "s.Modelfile", "from x:1\n# mfops-lint: disable=MF302,MF305\n")
    code, out, _ = run("lint", "s.Modelfile")
    assert (code, out) == (0, "")


def test_list_rules_text_and_json():
    code, out, _ = run("lint", "--list-rules")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(RULES)
    assert lines[0] == f"MF001  error    {RULES['MF001'].summary}"
    assert any(line.startswith("MF302  info     ") for line in lines)
    code, out, _ = run("lint", "--list-rules", "--format", "json")
    assert code == 0
    assert [r["code"] for r in json.loads(out)] == list(RULES)
    assert set(json.loads(out)[0]) == {"code", "severity", "summary"}


def test_help_documents_the_suppression_comment():
    code, out, _ = run("lint", "--help")
    assert code == 0 and "mfops-lint: disable=" in out


def test_bundled_examples_have_no_findings(monkeypatch):
    monkeypatch.setenv("MFOPS_CACHE", "0")  # leave no .mfops/cache in the checkout
    monkeypatch.chdir(EXAMPLES)
    code, out, err = run("lint")
    assert (code, out) == (0, "")
    assert err == "0 errors, 0 warnings in 3 files\n"


def test_broken_mfops_yaml_is_a_usage_error(repo):
    write(repo / "mfops.yaml", "models:\n  engine-bot:\n    modelfle: BaseBot\n")
    code, out, err = run("lint")
    assert (code, out) == (2, "")
    assert err.startswith("mfops.yaml:3: models.engine-bot.modelfle: unknown key")


def test_examples_linted_from_the_project_root(monkeypatch):
    monkeypatch.setenv("MFOPS_CACHE", "0")  # leave no .mfops/cache in the checkout
    monkeypatch.chdir(EXAMPLES.parent)
    code, out, err = run("lint", "examples")
    assert (code, out, err) == (0, "", "0 errors, 0 warnings in 3 files\n")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.Modelfile": "# a\nFROM b\n", "b.Modelfile": "# b\nFROM a\n"},
            "mfops: a.Modelfile:2: FROM cycle: a -> b -> a\n",
        ),
        (
            {
                "a/x/Modelfile": "# x\nFROM llama3.2:3b\n",
                "b/x/Modelfile": "# x\nFROM llama3.2:3b\n",
            },
            "mfops: two files claim the model name 'x': a/x/Modelfile and b/x/Modelfile "
            "(rename one, or list them in mfops.yaml under different names)\n",
        ),
        (
            {"c.Modelfile": "# c\nFROM ../outside.gguf\n", "../outside.gguf": "GGUF"},
            "mfops: c.Modelfile:2: FROM path '../outside.gguf' is outside the repository "
            "(list its directory under allow_paths in mfops.yaml to allow it)\n",
        ),
    ],
    ids=["cycle", "one-name-two-files", "path-outside"],
)
def test_repo_whose_models_do_not_load_is_not_a_clean_lint(tmp_path, monkeypatch, files, message):
    """No rule names these, but every other command (and the gate's lint step) stops on
    them: `mfops lint` must not pass such a repo with exit 0."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mfops.yaml").write_text("{}\n")
    for path, text in files.items():
        write(root / path, text)
    monkeypatch.chdir(root)
    code, out, err = run("lint")
    assert (code, out) == (2, "")
    assert err.endswith(message)
