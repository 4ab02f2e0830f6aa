"""The rough edges a new user hits (issue 19, fixes 1-5): suggestions, one spelling per
idea, drifted tags said out loud, imports that never break the repo, and small wording fixes.

Each test runs the real CLI against a real git repo and the Ollama double (tests/buildkit.py,
tests/promotekit.py) and asserts mfops' own words.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from mfops.behave.results import TestEvent as Event
from mfops.cli.commands.test import _Progress
from mfops.cli.pullview import PlainPullProgress
from mfops.server.client import Progress
from mfops.server.compare import _short
from tests.buildkit import (  # noqa: F401  (fixtures)
    HIERARCHY,
    Workspace,
    ollama_double_fixture,
    run_main,
    ws_fixture,
)
from tests.promotekit import Release, release_fixture, seeded_fixture  # noqa: F401

# --------------------------------------------------------------------------- suggestions


def test_a_mistyped_command_gets_a_suggestion():
    code, out, err = run_main("biuld")
    assert code == 2 and out == ""
    assert err == "mfops: unknown command 'biuld'; did you mean build? (see `mfops --help`)\n"
    code, _, err = run_main("xyzzy")
    assert code == 2
    assert err == "mfops: unknown command 'xyzzy' (see `mfops --help`)\n"


def test_mfops_alone_prints_the_help_cleanly():
    code, out, err = run_main()
    assert code == 0 and err == ""
    assert out.startswith("Usage: mfops [OPTIONS] COMMAND [ARGS]...")
    assert out.endswith(".\n") and not out.endswith("\n\n")  # ends with the command list
    assert "see `mfops --help`" not in out


def test_a_mistyped_candidate_gets_the_tag_that_exists(rel: Release):
    cand = rel.tag()  # sha-<7 hex>
    for typo in (cand[:-1], cand.removeprefix("sha-")):  # one digit short; no `sha-`
        code, out, _ = rel.mfops("promote", "expert", "--from", typo, "--to", "v1")
        assert code == 1
        assert f"expert:{typo} is not on the server" in out
        assert f"did you mean expert:{cand}?" in out
        assert "build it first" not in out


def test_testing_a_missing_release_tag_lists_the_tags_not_a_build(rel: Release):
    code, out, _ = rel.mfops("test", "--tag", "v9.9.9")
    assert code == 1
    assert f"tags of expert on the server: {rel.tag()}" in out
    assert "build it first" not in out


def test_a_mistyped_model_on_rollback_is_bad_input_and_not_recorded(rel: Release):
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1")
    before = rel.history()
    code, out, err = rel.mfops("rollback", "exprt", "--to", "v1")
    assert code == 2 and out == ""
    assert err == (
        f"mfops: no model 'exprt' on the server at {rel.double.url} (did you mean expert?)\n"
    )
    assert rel.history() == before


# --------------------------------------------------------------------------- one spelling


def test_format_json_everywhere_with_the_old_flags_hidden(ws: Workspace, tmp_path: Path):
    new = json.loads(ws.ok("digest", "--format", "json"))
    assert json.loads(ws.ok("digest", "--json")) == new and set(new) == {
        "base",
        "mid",
        "leaf",
        "other",
    }
    path = ws.root / "base" / "Modelfile"
    assert json.loads(ws.ok("parse", str(path), "--format", "json")) == json.loads(
        ws.ok("parse", str(path), "--json")
    )
    for cmd in ("digest", "parse"):
        help_text = ws.ok(cmd, "--help")
        assert "--format [text|json]" in help_text and "--json" not in help_text
    gate_help = ws.ok("gate", "--help")
    assert "--tag TAG" in gate_help and "--candidate-tag" not in gate_help
    for flag in ("--tag", "--candidate-tag"):
        code, _, err = ws.mfops("gate", "--all", flag, "-x")
        assert code == 2 and "invalid tag '-x'" in err


def test_build_prints_its_heading_first_and_json_keys_are_identifiers(ws: Workspace):
    out = ws.ok("build", "--all")
    lines = out.splitlines()
    assert lines[0].startswith("Build: 4 models to build at tag")
    assert lines.index(lines[0]) < min(i for i, x in enumerate(lines) if x.startswith("created"))
    assert sum(x.startswith("Build:") for x in lines) == 1
    report = ws.build_json("--all")
    assert report["summary"]["up_to_date"] == 4 and "up to date" not in report["summary"]
    plan = json.loads(ws.ok("build", "--all", "--dry-run", "--format", "json"))
    assert sorted(m["model"] for m in plan["up_to_date"]) == ["base", "leaf", "mid", "other"]


def test_since_is_named_as_given(ws: Workspace):
    ws.repo.write("other/Modelfile", HIERARCHY["other/Modelfile"] + "PARAMETER seed 1\n")
    out = ws.ok("build", "--changed", "--since", "HEAD", "--dry-run")
    assert "Changed since HEAD (as --since asked)" in out
    assert "--since\n" not in out


def test_unset_values_read_as_unset(ws: Workspace):
    ws.ok("build", "--all")
    ws.repo.write("other/Modelfile", HIERARCHY["other/Modelfile"] + "PARAMETER top_k 20\n")
    out = ws.ok("build", "--changed", "--since", "HEAD", "--dry-run", "--explain")
    assert "PARAMETER top_k: (unset) -> 20" in out
    assert "None" not in out


def test_a_bad_tag_is_named_as_typed(ws: Workspace):
    code, _, err = ws.mfops("build", "base", "--tag", "bad tag")
    assert code == 2
    assert err.startswith("mfops: invalid tag 'bad tag': may only contain")
    assert "m:bad tag" not in err


# --------------------------------------------------------------------------- status


def test_status_names_a_drifted_tag_and_exit_code_fails_on_it(ws: Workspace):
    ws.ok("build", "--all")
    ws.ok("build", "--all", "--tag", "t2")
    ws.double.tamper("base:t2", system="hand edit")
    rows = {m["model"]: m for m in json.loads(ws.ok("status", "--format", "json"))["models"]}
    # a drifted tag outranks an up-to-date one (design-12: status per model)
    assert rows["base"]["status"] == "drifted" and rows["base"]["drifted"] == ["t2"]
    code, out, _ = ws.mfops("status", "--exit-code")
    assert code == 1
    assert "t2! drifted" in out
    assert "(! drifted = changed on the server since mfops built it; rebuild it)" in out
    code, _, _ = ws.mfops("status")
    assert code == 0  # without --exit-code status only reports


# --------------------------------------------------------------------------- gate, init, lint


def test_gate_junit_is_written_when_nothing_was_tested(ws: Workspace):
    junit = ws.root / "junit.xml"  # its folder must exist (a report path is checked first)
    code, out, err = ws.mfops("gate", "--since", "HEAD", "--junit", str(junit))
    assert code == 0, out + err
    root = ET.fromstring(junit.read_text())
    assert root.tag == "testsuites" and root.get("tests") == "0"
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("tests") == "0"
    assert suites[0].find("testcase") is None


def test_init_ci_in_an_existing_repo_prints_its_own_next_steps(tmp_path: Path):
    code, _, err = run_main("init", str(tmp_path / "r"))
    assert code == 0, err
    code, out, err = run_main("-C", str(tmp_path / "r"), "init", "--ci", "github")
    assert code == 0, err
    assert out.startswith("created    ") and "/.github/workflows/mfops.yml\n" in out
    steps = out.split("next steps:")[1]
    assert "git add .github && git commit -m 'mfops gate'" in steps
    assert "mfops lock --pull" not in steps and "mfops build --all" not in steps


def test_lint_says_when_there_is_nothing_to_lint(tmp_path: Path):
    code, out, err = run_main("-C", str(tmp_path), "lint")
    assert code == 0 and out == ""
    assert err.startswith("no Modelfiles found in ")
    assert err.rstrip().endswith("nothing to lint")


# --------------------------------------------------------------------------- progress


def test_pull_progress_in_a_log_is_a_line_per_tenth(ws: Workspace):

    buf = io.StringIO()
    show = PlainPullProgress(buf)
    show(Progress("m", "pulling manifest"))
    show(Progress("m", "pulling manifest"))
    for done in range(0, 4_000_000_001, 100_000_000):
        show(Progress("m", "pulling abc", done, 4_000_000_000, "sha256:" + "ab" * 32))
    show(Progress("m", "success"))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "pull m: pulling manifest"
    assert lines[1] == "pull m: abababababab 0 B / 4.0 GB (0%)"
    assert lines[2] == "pull m: abababababab 400.0 MB / 4.0 GB (10%)"
    assert lines[-2] == "pull m: abababababab 4.0 GB / 4.0 GB (100%)"
    assert lines[-1] == "pull m: success"
    assert len(lines) == 1 + 11 + 1


def test_lock_pull_shows_byte_progress(tmp_path: Path, ollama_double):
    from tests.buildkit import make_workspace

    ws = make_workspace(tmp_path, ollama_double, lock=False)
    code, _, err = ws.mfops("lock", "--pull")
    assert code == 0, err
    assert "pulling llama3.2:3b" in err
    assert " / " in err and "(100%)" in err


def test_no_color_reaches_the_test_progress_bar():

    def run(color: bool) -> str:
        buf = io.StringIO()
        bar = _Progress(color, file=buf)
        bar(Event(kind="start", total=2))
        bar(Event(kind="sample"))
        bar.progress.refresh()
        bar.close()
        return buf.getvalue()

    colour = re.compile(r"\x1b\[(?:3[0-8]|9[0-7])(?:;[0-9;]*)?m")
    assert colour.search(run(True))  # the bar is coloured on a terminal...
    plain = run(False)
    assert "1/2" in plain and not colour.search(plain)  # ...and not with --no-color


def test_server_diff_says_unset_for_a_field_one_side_lacks():

    assert _short(None) == "(unset)"
    assert _short(20) == "20"


def test_the_gate_summary_draws_the_changed_models(ws: Workspace):
    ws.repo.write("mid/Modelfile", HIERARCHY["mid/Modelfile"] + "PARAMETER seed 5\n")
    ws.repo.commit("mid changes")
    summary = ws.root.parent / "summary.md"
    code, out, err = ws.mfops("gate", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 0, out + err
    text = summary.read_text()
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert '["~ mid"]' in block and '["~ leaf"]' in block  # leaf inherits the change
    assert '["base"]' in block  # unchanged ancestor, for context
    assert '"other"' not in block  # an unaffected branch is left out
