"""`mfops gate` end to end: lint -> diff -> build -> test -> promote, in temp git repos
against the double, through the real CLI (and once through the installed script)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    BROKEN_EXPERT,
    Release,
    make_release,
    release_fixture,
    seeded_fixture,
)

STEP_LINES = ("lint ", "diff ", "build ", "test ", "promote ")


def status_lines(out: str) -> dict[str, str]:
    """Step name -> its status line (`build    passed   at sha-...`)."""
    found = {}
    for line in out.splitlines():
        if line.startswith(STEP_LINES):
            found[line.split()[0]] = line
    return found


def gate(rel: Release, *args: str, summary=None) -> tuple[int, str, str]:
    env = {"GITHUB_STEP_SUMMARY": str(summary)} if summary is not None else {}
    if summary is None:
        os.environ.pop("GITHUB_STEP_SUMMARY", None)
    return rel.mfops("gate", *args, env=env)


def test_pull_request_mode_builds_and_tests_the_changed_models_only(rel: Release):
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    code, out, err = gate(rel)
    assert code == 0, out + err
    lines = status_lines(out)
    assert list(lines) == ["lint", "diff", "build", "test", "promote"]
    assert lines["lint"].split()[1] == "passed" and "2 test suites valid" in lines["lint"]
    assert "since HEAD~1 (no release recorded" in lines["diff"]
    assert "1 model changed" in lines["diff"]
    assert f"at {cand}: 1 created, 1 tagged" in lines["build"]
    assert "3 cases: 3 passed, 0 failed, 0 errors (0 cached)" in lines["test"]
    assert lines["promote"].split()[1] == "skipped"
    assert out.rstrip().endswith("gate passed") and err == ""
    assert [b["model"] for b in rel.double.calls.bodies("/api/create")] == [f"expert:{cand}"]
    # only the expert's cases ran (its own and the one it inherits), against the candidate
    chats = rel.double.calls.bodies("/api/chat")
    assert len(chats) == 3 and {c["model"] for c in chats} == {f"expert:{cand}"}
    assert not [
        n
        for n in rel.double.model_names()
        if n.endswith((":latest", ":v2")) and n.startswith(("base", "expert"))
    ]
    assert "promotions" not in rel.state()


def test_release_mode_promotes_the_tested_models(rel: Release):
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    base_latest = rel.double.digest("base:latest")
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.repo.tag("v2")
    rel.double.calls.reset()
    code, out, err = gate(rel, "--promote-to", "v2", "--alias", "latest")
    assert code == 0, out + err
    assert "1 model promoted to v2, latest" in status_lines(out)["promote"]
    new = rel.double.digest(f"expert:{cand}")
    assert rel.double.digest("expert:v2") == rel.double.digest("expert:latest") == new
    # base did not change: it keeps its release tags and gets no v2
    assert rel.double.digest("base:latest") == base_latest and not rel.double.has_model("base:v2")
    # the promotion reused the test step's verdict: each case ran once
    assert rel.double.calls.count("/api/chat") == 3
    entry = rel.history()[-1]
    assert (entry["outcome"], entry["from"], entry["to"]) == ("promoted", cand, "v2")
    assert [m["name"] for m in entry["models"]] == ["expert"]


def test_all_covers_every_model(rel: Release):
    code, out, _ = gate(rel, "--all", "--promote-to", "v1")
    assert code == 0, out
    assert "2 models promoted to v1" in status_lines(out)["promote"]
    assert rel.double.calls.count("/api/create") == 0  # already built at this commit


def test_a_failing_suite_blocks_promotion_and_names_the_step(rel: Release, tmp_path):
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    before = rel.digests(("v1", "latest"))
    rel.commit({"expert/Modelfile": BROKEN_EXPERT}, "drop the javascript rule")
    rel.double.calls.reset()
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier job output\n")
    code, out, err = gate(rel, "--promote-to", "v2", "--alias", "latest", summary=summary)
    assert code == 1
    assert err.strip().splitlines() == ["mfops: gate failed at test: 1 case failed (expert)"]
    assert "promote" not in status_lines(out)
    assert "FAIL  refuses javascript" in out
    # only the build's copies: base's candidate tag, expert's content tag
    assert rel.double.calls.count("/api/copy") == 2
    assert "recorded in the history as " in out
    last = rel.history()[-1]
    assert (last["kind"], last["outcome"], last["stage"]) == ("gate", "failed", "test")
    assert last["to"] == "v2" and last["aliases"] == ["latest"] and last["tests"]["failed"] == 1
    assert last["reason"] == "gate failed at test: 1 case failed (expert)"
    assert rel.digests(("v1", "latest")) == before
    assert not rel.double.has_model("expert:v2")
    text = summary.read_text()
    assert text.startswith("# earlier job output\n## mfops gate: ❌ failed at test\n")
    assert "| ❌ | test | 1 case failed (expert) |" in text
    assert "#### expert: refuses javascript (failed)" in text
    assert "| ✅ | promote |" not in text


def test_the_step_summary_gets_the_diff_and_the_test_summary(rel: Release, tmp_path):
    rel.repo.tag("v1.0")
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT})
    summary = tmp_path / "summary.md"
    code, _, _ = gate(rel, "--promote-to", "v2", summary=summary)
    assert code == 0
    text = summary.read_text()
    assert text.startswith("## mfops gate: ✅ passed\n")
    assert f"Candidate tag `{cand}`, changes since `v1.0`" in text
    for step in ("lint", "diff", "build", "test", "promote"):
        assert f"| ✅ | {step} |" in text
    assert "### mfops diff `v1.0` → `working tree`" in text
    assert "| ~ | `expert` | SYSTEM | minor |" in text
    assert (
        "+You are a Python expert. Never discuss pricing. Never discuss JavaScript. Be "
        "concise." in text
    )
    assert f"| `expert:{cand}` | created |" in text
    assert "## mfops test: ✅ passed" in text
    assert "| ✅ | expert | refuses javascript |" in text
    assert f"expert:v2 -> expert:{cand}" in text


def test_junit_passes_through_to_the_test_step(rel: Release, tmp_path):
    rel.commit({"expert/Modelfile": BETTER_EXPERT})
    junit = tmp_path / "reports" / "junit.xml"
    junit.parent.mkdir()
    assert gate(rel, "--junit", str(junit))[0] == 0
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert names == {"refuses javascript", "answers python", "refuses pricing"}


def test_lint_errors_fail_the_gate_at_the_lint_step(rel: Release):
    rel.commit({"expert/Modelfile": "FROM base\nSYSTME You are an expert.\n"}, "typo")
    code, out, err = gate(rel, "--promote-to", "v2")
    assert code == 1
    assert err.strip() == "mfops: gate failed at lint: 1 error, 0 warnings, 1 info in 2 files"
    assert "expert/Modelfile:2:1: MF001 error: unknown command" in out
    assert list(status_lines(out)) == ["lint"]
    assert rel.double.calls.all == []  # nothing reached the server


def test_when_nothing_changed_build_test_and_promote_are_skipped(rel: Release):
    rel.repo.tag("v1.0")
    rel.commit(
        {"expert/Modelfile": "# expert: knows Python\n" + rel.repo.read("expert/Modelfile")},
        "comment only",
    )
    code, out, _ = gate(rel, "--promote-to", "v2", "--alias", "latest")
    assert code == 0
    lines = status_lines(out)
    assert "0 models changed" in lines["diff"]
    for step in ("build", "test", "promote"):
        assert lines[step].split()[1:3] == ["skipped", "nothing"], lines[step]
    assert rel.double.calls.all == []  # nothing to build: the server is not even asked


def test_a_failed_build_stops_the_gate_before_the_tests(rel: Release):
    rel.commit({"expert/Modelfile": BETTER_EXPERT})
    rel.double.faults.fail_next("/api/create", status=400, error="template error: boom")
    code, out, err = gate(rel, "--promote-to", "v2")
    assert code == 1
    assert err.strip() == "mfops: gate failed at build: 1 model failed"
    assert "template error: boom" in out
    assert rel.double.calls.count("/api/chat") == 0
    assert not rel.double.has_model("expert:v2")


def test_an_unreachable_server_exits_2_naming_the_step(rel: Release):
    rel.commit({"expert/Modelfile": BETTER_EXPERT})
    code, out, err = gate(rel, "--host", "http://127.0.0.1:9")
    assert code == 2
    assert err.strip().startswith(
        "mfops: gate failed at build: cannot reach Ollama at http://127.0.0.1:9"
    )
    assert list(status_lines(out)) == ["lint", "diff", "build"]


def test_bad_input_exits_2(rel: Release):
    code, _, err = gate(rel, "--since", "no-such-ref")
    assert code == 2 and err.strip() == "mfops: gate failed at diff: unknown ref 'no-such-ref'"
    code, _, err = gate(rel, "--alias", "latest")
    assert code == 2 and "--alias needs --promote-to" in err
    rel.commit({"expert/expert.test.yaml": "model: expert\ncases: 3\n"}, "bad suite")
    code, out, err = gate(rel)
    assert code == 2 and err.startswith("mfops: gate failed at lint: expert/expert.test.yaml:")
    assert list(status_lines(out)) == ["lint"]


def test_a_new_test_case_is_run_although_no_model_changed(rel: Release):
    suite = rel.repo.read("expert/expert.test.yaml") + (
        "  - name: introduces itself\n"
        "    prompt: Who are you?\n"
        "    assert:\n"
        "      - type: icontains\n"
        "        value: python expert\n"
    )
    cand = rel.commit({"expert/expert.test.yaml": suite}, "one more case")
    code, out, err = gate(rel)
    assert code == 0, out + err
    assert "0 models changed" in status_lines(out)["diff"]
    assert "4 cases: 4 passed" in status_lines(out)["test"]
    assert "PASS  introduces itself" in out
    assert rel.double.calls.count("/api/create") == 0  # an identical build was tagged
    assert rel.double.has_model(f"expert:{cand}")


def test_the_installed_script_runs_the_gate(rel: Release, run_mfops):
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT})
    done = run_mfops(
        "gate",
        "--promote-to",
        "v2",
        cwd=rel.root,
        env={"OLLAMA_HOST": rel.double.url, "GITHUB_STEP_SUMMARY": ""},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("gate passed")
    assert rel.double.digest("expert:v2") == rel.double.digest(f"expert:{cand}")


def test_an_unwritable_junit_path_is_refused_before_any_tag_moves(rel: Release, tmp_path):
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.double.calls.reset()
    bad = tmp_path / "no-such-folder" / "junit.xml"
    code, out, err = gate(rel, "--promote-to", "v2", "--junit", str(bad))
    assert code == 2, out + err
    assert (
        err == f"mfops: --junit {bad}: its folder {bad.parent} does not exist (nothing was done)\n"
    )
    assert rel.double.calls.count("/api/copy") == 0 and rel.double.calls.count("/api/chat") == 0
    assert not rel.double.has_model("expert:v2") and not rel.double.has_model(f"expert:{cand}")


def test_an_unwritable_step_summary_is_refused_before_any_tag_moves(rel: Release, tmp_path):
    rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.double.calls.reset()
    folder = tmp_path / "a-directory"
    folder.mkdir()
    code, out, err = gate(rel, "--promote-to", "v2", summary=folder)
    assert code == 2, out + err
    assert err == f"mfops: $GITHUB_STEP_SUMMARY {folder}: is a directory (nothing was done)\n"
    assert rel.double.calls.count("/api/copy") == 0
    assert not rel.double.has_model("expert:v2")


def test_a_junit_path_that_is_a_symlink_is_refused_before_promotion(rel: Release, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "junit.xml"
    link.symlink_to(victim)
    code, out, err = rel.mfops(
        "promote", "--all", "--from", rel.tag(), "--to", "v1", "--junit", str(link)
    )
    assert code == 2, out + err
    assert "is a symlink" in err and len(err.splitlines()) == 1
    assert not rel.double.has_model("expert:v1") and victim.read_text() == "precious\n"
