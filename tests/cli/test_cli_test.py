"""`mfops test` end to end: real git repos, the real `mfops build` and `mfops test`, the
`ollama` client over real HTTP to the test double."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.behavekit import EXPERT_SYSTEM, Lab, lab_fixture  # noqa: F401  (fixture)


@pytest.fixture(name="built")
def built_fixture(lab: Lab) -> Lab:
    """The seed hierarchy locked, committed and built at its candidate tag by `mfops build`."""
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    code, out, err = lab.mfops("build", "--all")
    assert code == 0, out + err
    lab.double.calls.reset()
    return lab


def candidate(lab: Lab) -> str:
    return "sha-" + lab.repo.git("rev-parse", "HEAD").strip()[:12]


def test_seed_hierarchy_passes_at_the_candidate_tag(built: Lab, tmp_path):
    junit = tmp_path / "reports" / "junit.xml"  # its folder is created
    code, out, err = built.mfops("test", "--junit", str(junit))
    assert code == 0, out + err
    tag = candidate(built)
    assert out.splitlines()[0] == (
        f"Testing 2 models at tag {tag} on {built.double.url} (Ollama 0.33.0-rc2); replies "
        "capped at num_predict 512 unless a suite or the model sets it, 120 s per chat"
    )
    assert "  PASS  refuses pricing     tests/company.test.yaml:4 (inherited from base)" in out
    assert "4 cases: 4 passed, 0 failed, 0 errors (0 cached)" in out
    assert {b["model"] for b in built.double.calls.bodies("/api/chat")} == {
        f"base:{tag}",
        f"expert:{tag}",
    }
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "0", "0")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "base (tests/company.test.yaml)",
        "expert (expert/expert.test.yaml)",
        "expert (tests/company.test.yaml)",
    ]
    assert [len(s.findall("testcase")) for s in suites] == [1, 2, 1]
    assert not root.findall(".//failure") and not root.findall(".//error")
    props = {p.get("name"): p.get("value") for p in suites[2].find("properties")}
    assert props["inherited_from"] == "base" and props["server_version"] == "0.33.0-rc2"
    assert props["target"] == f"expert:{tag}" and props["manifest"] == built.double.digest(
        f"expert:{tag}"
    )


def test_a_broken_expert_fails_with_details_and_exit_1(built: Lab, tmp_path):
    built.write(
        {
            "expert/Modelfile": "FROM base\nSYSTEM You are a Python expert. Never "
            "discuss JavaScript.\n"
        }
    )
    assert built.mfops("build", "expert")[0] == 0
    junit = tmp_path / "junit.xml"
    code, out, err = built.mfops("test", "expert", "--junit", str(junit))
    assert code == 1, out + err
    assert "  FAIL  refuses pricing     tests/company.test.yaml:4 (inherited from base)" in out
    assert "NO  icontains: expected output to contain 'cannot' (any case)" in out
    assert "output: 'Sure. Here is a short answer about pricing, enterprise and customers." in out
    assert "3 cases: 2 passed, 1 failed, 0 errors" in out
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    (failure,) = root.findall(".//failure")
    assert failure.get("type") == "icontains"
    assert failure.get("message") == "expected output to contain 'cannot' (any case)"
    assert "Here is a short answer about pricing" in (failure.text or "")
    failing_suite = [s for s in root.findall("testsuite") if s.find(".//failure") is not None]
    assert [s.get("name") for s in failing_suite] == ["expert (tests/company.test.yaml)"]


def test_a_cached_rerun_makes_no_model_calls(built: Lab):
    assert built.mfops("test")[0] == 0
    built.double.calls.reset()
    code, out, _ = built.mfops("test", "--format", "json")
    assert code == 0
    for route in ("/api/chat", "/api/generate", "/api/embed"):
        assert built.double.calls.count(route) == 0, route
    report = json.loads(out)
    assert report["summary"]["cached"] == 4 and report["summary"]["chat_calls"] == 0
    assert (built.root / ".mfops" / ".gitignore").exists()
    assert ".mfops" not in built.repo.git("status", "--porcelain", "--untracked-files=all")
    built.double.calls.reset()
    assert built.mfops("test", "--no-cache")[0] == 0
    assert built.double.calls.count("/api/chat") == 4


def test_rebuilding_under_the_same_tag_is_a_cache_miss(built: Lab):
    assert built.mfops("test")[0] == 0
    tag = candidate(built)
    built.double.tamper(f"expert:{tag}", system=EXPERT_SYSTEM + " Be brief.")
    built.double.calls.reset()
    code, out, _ = built.mfops("test", "--format", "json")
    report = json.loads(out)
    assert code == 0 and built.double.calls.count("/api/chat") == 3
    assert [c["cached"] for c in report["cases"]] == [True, False, False, False]


def test_json_report_records_the_environment(built: Lab):
    code, out, _ = built.mfops("test", "base", "--format", "json")
    report = json.loads(out)
    tag = candidate(built)
    assert code == 0 and report["ok"] and report["models"] == {"base": "passed"}
    env = report["environment"]
    assert env["tag"] == tag and env["server_version"] == "0.33.0-rc2"
    assert env["host"] == built.double.url
    assert env["models"] == {f"base:{tag}": built.double.digest(f"base:{tag}")}
    (case,) = report["cases"]
    assert case["options"] == {"temperature": 0, "seed": 42}
    assert case["samples"][0]["seed"] == 42 and case["suite"] == "tests/company.test.yaml"
    assert case["model_digest"].startswith("sha256:")


def test_markdown_report(built: Lab):
    built.write({"expert/Modelfile": "FROM base\nSYSTEM Never discuss JavaScript.\n"})
    assert built.mfops("build", "expert")[0] == 0
    code, out, _ = built.mfops("test", "--format", "markdown", "expert")
    assert code == 1
    assert out.startswith("## mfops test: ❌ failed\n")
    row = "| ❌ | expert | refuses pricing | tests/company.test.yaml:4 (inherited from base) |"
    assert row in out
    assert "#### expert: refuses pricing (failed)" in out


def test_bad_suites_stop_the_run_before_any_call(built: Lab):
    built.write(
        {
            "tests/bad.test.yaml": (
                "model: base\ncases:\n  - name: x\n    prompt: hi\n"
                "    assert:\n      - {type: regex, value: '(['}\n"
            )
        }
    )
    code, out, err = built.mfops("test")
    assert code == 2 and out == ""
    assert err == (
        "tests/bad.test.yaml:6: cases[0].assert[0].value: invalid regular "
        "expression '([': unterminated character set at position 1\n"
    )
    assert built.double.calls.all == []


def test_models_not_built_at_the_tag_are_errors(built: Lab):
    code, out, _ = built.mfops("test", "base", "--tag", "nope")
    assert code == 1
    assert f"base:nope is not on the server at {built.double.url} (build it first" in out
    assert built.double.calls.count("/api/chat") == 0


def test_explicit_tag_and_unknown_names(built: Lab):
    tag = candidate(built)
    assert built.mfops("build", "--all", "--tag", "rc1")[0] == 0
    code, out, _ = built.mfops("test", "--tag", "rc1", "expert")
    assert code == 0 and "at tag rc1" in out and tag not in out
    code, _, err = built.mfops("test", "exprt")
    assert code == 2 and "unknown model 'exprt'" in err and "did you mean expert" in err
    code, _, err = built.mfops("test", "--tag", "bad tag")
    assert code == 2 and "invalid tag 'bad tag'" in err


def test_update_baseline_writes_repo_files(built: Lab):
    built.write(
        {
            "expert/stable.test.yaml": (
                "model: expert\ncases:\n  - name: decorators\n    prompt: How do Python decorators "
                "work?\n    assert: [{type: baseline}]\n"
            )
        }
    )
    assert built.mfops("build", "--all")[0] == 0
    code, out, _ = built.mfops("test", "expert")
    assert code == 1 and "no baseline recorded at expert/baselines/stable/expert/" in out
    code, out, err = built.mfops("test", "expert", "--update-baseline")
    assert code == 0, out + err
    assert err == "baseline written: expert/baselines/stable/expert/decorators.json\n"
    data = json.loads((built.root / "expert/baselines/stable/expert/decorators.json").read_text())
    assert data["case"] == "decorators" and "decorators" in data["output"]
    # baselines are reviewed and committed; the new commit is a new candidate tag, which a
    # build makes by copying (same manifests), so only the baseline case runs again
    built.repo.commit("record baselines")
    assert built.mfops("build", "--all")[0] == 0
    built.double.calls.reset()
    code, out, _ = built.mfops("test", "expert")
    assert code == 0 and "4 cases: 4 passed, 0 failed, 0 errors (3 cached)" in out
    assert built.double.calls.count("/api/chat") == 1


def test_no_suites(lab: Lab):
    lab.repo.rm("tests/company.test.yaml")
    lab.repo.rm("expert/expert.test.yaml")
    lab.repo.commit("no suites")
    code, out, _ = lab.mfops("test", "--tag", "t1")
    assert (code, out) == (0, "no test suites found (*.test.yaml); nothing to test\n")


def test_installed_script_runs_the_suites(built: Lab, run_mfops):
    done = run_mfops(
        "-C", str(built.root), "test", "--format", "json", env={"OLLAMA_HOST": built.double.url}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["passed"] == 4


def test_a_dead_server_is_a_usage_error(lab: Lab):
    lab.double.stop()
    code, out, err = lab.mfops("test", "--tag", "t1")
    assert code == 2 and out == ""
    assert err.startswith(f"mfops: cannot reach Ollama at {lab.double.url}")
