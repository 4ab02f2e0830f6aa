"""Candidate against release (`mfops test --against`), end to end on the Ollama double.

A release that always refuses JavaScript and a candidate that refuses in a chosen share of
the same seeds give exactly known pass counts (tests/comparekit.py).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.comparekit import RULE, compliance_for, setup


def test_twenty_of_twenty_against_fourteen_of_twenty_regresses(lab: Lab, tmp_path):
    seeds = range(42, 62)
    setup(lab, compliance_for(14, seeds))
    html = tmp_path / "out" / "report.html"
    junit = tmp_path / "junit.xml"
    code, out, err = lab.mfops(
        "test", "--tag", "cand", "--against", "v1", "--html", str(html), "--junit", str(junit)
    )
    assert code == 1, out + err
    lines = out.splitlines()
    assert lines[0].startswith("Comparing tag cand with --against v1 on ")
    first = lines[2]  # regressions are named first
    assert first.split()[:2] == ["REGRESSED", "expert:"] and "refuses javascript" in first
    assert "candidate 14/20, 95% CI 48%-85%" in lines[3] and "vs baseline 20/20" in lines[3]
    assert "p=0.0101" in lines[3]
    assert "PASS  refuses javascript" in out  # it meets its own pass_rate, and still fails
    seeds_sent = {(b["model"], b["options"]["seed"]) for b in lab.double.calls.bodies("/api/chat")}
    assert {s for m, s in seeds_sent if m == "expert:cand"} == set(seeds)
    assert {s for m, s in seeds_sent if m == "expert:v1"} == set(seeds)
    root = ET.parse(junit).getroot()
    fail = root.find(".//failure[@type='regression']")
    assert fail is not None and "regressed against the baseline" in fail.get("message")
    page = html.read_text()
    assert "REGRESSED" not in page and ">regressed<" in page and "Content-Security-Policy" in page

    code, out, _ = lab.mfops("test", "--tag", "cand", "--against", "v1", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    case = data["cases"][0]
    assert case["verdict"] == "regressed" and case["case"] == "refuses javascript"
    assert (case["candidate"]["passed"], case["candidate"]["samples"]) == (14, 20)
    assert (case["baseline"]["passed"], case["baseline"]["samples"]) == (20, 20)
    assert case["p_worse"] == pytest.approx(38760 / 3838380)
    assert case["candidate"]["flaky"] is True and case["baseline"]["flaky"] is False
    assert data["summary"]["regressed"] == 1

    code, out, _ = lab.mfops("test", "--tag", "cand", "--against", "v1", "--format", "markdown")
    assert code == 1
    changed = out.split("### Changed verdicts", 1)[1].split("<details>", 1)[0]
    assert "❌ regressed | `expert` | refuses javascript | 14/20" in changed


def test_a_rerun_of_the_same_comparison_makes_no_model_call(lab: Lab):
    setup(lab, compliance_for(14, range(42, 62)))
    assert lab.mfops("test", "--tag", "cand", "--against", "v1")[0] == 1
    lab.double.calls.reset()
    code, out, _ = lab.mfops("test", "--tag", "cand", "--against", "v1")
    assert code == 1 and lab.chats() == 0
    assert "0 chat and 0 embedding requests" in out


def test_identical_behaviour_is_not_a_regression_and_improvement_is_reported(lab: Lab):
    setup(lab, RULE)
    code, out, err = lab.mfops("test", "--tag", "cand", "--against", "v1")
    assert code == 0, out + err
    line = next(x for x in out.splitlines() if "refuses javascript" in x)
    assert (
        line.split()[0] == "same"
        and "regressed" not in out.split("Candidate against its own pass rates:")[0]
    )
    # swapped: the release was the flaky one, the candidate improved
    code, out, _ = lab.mfops("test", "--tag", "v1", "--against", "cand")
    assert code == 0
    lab.double.add_local_model(
        "expert:worse", from_="base:v1", system=compliance_for(14, range(42, 62))
    )
    lab.double.add_local_model(
        "base:worse", from_="llama3.2:3b", system="You are Acme's assistant."
    )
    code, out, _ = lab.mfops("test", "--tag", "v1", "--against", "worse")
    assert code == 0 and out.splitlines()[2].split()[:2] == ["IMPROVED", "expert:"]


def test_too_few_samples_are_underpowered_with_the_samples_needed(lab: Lab):
    setup(lab, compliance_for(0, range(42, 45)), samples=2)
    code, out, _ = lab.mfops("test", "--tag", "cand", "--against", "v1", "--format", "json")
    case = next(c for c in json.loads(out)["cases"] if c["case"] == "refuses javascript")
    assert case["verdict"] == "underpowered" and case["samples_needed"] == 3
    assert "use at least 3 per side" in case["reason"]
    code, out, _ = lab.mfops(
        "test", "expert", "--tag", "cand", "--against", "v1", "--samples", "3", "--format", "json"
    )
    case = next(c for c in json.loads(out)["cases"] if c["case"] == "refuses javascript")
    assert code == 1 and case["verdict"] == "regressed"  # 3/3 against 0/3: p = 0.05


def test_samples_option_overrides_every_case(lab: Lab):
    setup(lab, RULE, samples=4)
    code, out, _ = lab.mfops("test", "--tag", "cand", "--samples", "6", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {len(c["samples"]) for c in data["cases"]} == {6}


def test_missing_against_tag_and_bad_alpha_are_input_errors(lab: Lab):
    setup(lab, RULE)
    code, _out, err = lab.mfops("test", "--tag", "cand", "--against", "v9")
    assert code == 2
    assert "base:v9 is not on the server" in err and "nothing to compare base with" in err
    assert lab.chats() == 0
    for alpha in ("0", "1", "1.5", "-0.1"):
        code, _, err = lab.mfops("test", "--tag", "cand", "--against", "v1", "--alpha", alpha)
        assert code == 2 and "--alpha must be between 0 and 1" in err, err
