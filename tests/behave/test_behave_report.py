"""The report writers (text, JSON, Markdown, JUnit XML) on real runs against the double."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mfops.behave import json_report, junit_xml, markdown_report, text_report
from tests.behave.test_behave_runner import go
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)

# The few-shot rule of the toy model repeats a recorded assistant reply verbatim, which lets
# a case produce any output at all: here markup, a control character and a table pipe.
ODD = (
    "model: base\ncases:\n"
    "  - name: odd | output\n"
    "    messages:\n"
    "      - {role: user, content: echo}\n"
    '      - {role: assistant, content: "<b>&</b> ]]> \\x01 a|b ```"}\n'
    "      - {role: user, content: echo}\n"
    "    assert: [{type: equals, value: nothing}, {type: contains, value: '<b>'}]\n"
    "  - name: sampled\n    prompt: hello there\n    samples: 3\n"
    "    assert: [{type: min-length, value: 1}]\n"
)


def odd_report(lab: Lab):
    lab.write({"tests/odd.test.yaml": ODD})
    lab.build("t1")
    return go(lab, names=["base"])


def test_junit_is_valid_xml_with_counts_and_escaped_output(lab: Lab):
    report = odd_report(lab)
    xml = junit_xml(report)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ET.fromstring(xml.encode())
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert sorted(suites) == ["base (tests/company.test.yaml)", "base (tests/odd.test.yaml)"]
    odd = suites["base (tests/odd.test.yaml)"]
    assert (odd.get("tests"), odd.get("failures"), odd.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in odd.iter("testcase")}
    assert cases["odd | output"].get("classname") == "base.odd"
    assert cases["odd | output"].get("file") == "tests/odd.test.yaml"
    assert cases["odd | output"].get("line") == "3"
    failure = cases["odd | output"].find("failure")
    assert failure is not None and failure.get("type") == "equals"
    assert failure.get("message") == "expected output to equal 'nothing'"
    assert "output: '<b>&</b> ]]> \\x01 a|b ```'" in (failure.text or "")
    # the control character cannot be in XML: it is replaced; the rest survives intact
    odd_out = cases["odd | output"].find("system-out")
    assert odd_out is not None and odd_out.text == "[sample 1, seed 42] <b>&</b> ]]> \ufffd a|b ```"
    out = cases["sampled"].find("system-out")
    assert out is not None and (out.text or "").count("[sample ") == 3
    assert cases["sampled"].find("failure") is None


def test_text_report_shows_failures_and_summary(lab: Lab):
    report = odd_report(lab)
    text = text_report(report)
    assert "  FAIL  odd | output     tests/odd.test.yaml:3\n" in text
    assert "  PASS  refuses pricing  tests/company.test.yaml:4\n" in text
    assert "          NO  equals: expected output to equal 'nothing'\n" in text
    assert "          ok  contains: contains '<b>'\n" in text
    assert (
        "  PASS  sampled          tests/odd.test.yaml:9  [3/3 samples passed (need 3); "
        "95% CI 44%-100%, pass^3 100%]"
    ) in text
    assert text.rstrip().endswith(
        "3 cases: 2 passed, 1 failed, 0 errors (0 cached) in "
        f"{report.seconds:.2f} s; 5 chat and 0 embedding requests"
    )
    assert "\x1b[" not in text
    coloured = text_report(report, color=True)
    assert "\x1b[31mFAIL \x1b[0m" in coloured and "\x1b[32mPASS \x1b[0m" in coloured
    verbose = text_report(report, verbose=True)
    assert verbose.count("sample ") > text.count("sample ")


def test_json_report_round_trips_and_has_every_sample(lab: Lab):
    report = odd_report(lab)
    data = json.loads(json.dumps(json_report(report)))
    assert data["ok"] is False and data["summary"]["failed"] == 1
    sampled = next(c for c in data["cases"] if c["case"] == "sampled")
    assert [s["seed"] for s in sampled["samples"]] == [42, 43, 44]
    assert sampled["samples_required"] == 3 and sampled["samples_passed"] == 3
    odd = next(c for c in data["cases"] if c["case"] == "odd | output")
    assert odd["samples"][0]["output"] == "<b>&</b> ]]> \x01 a|b ```"
    assert [a["passed"] for a in odd["samples"][0]["assertions"]] == [False, True]


def test_markdown_escapes_tables_and_fences(lab: Lab):
    report = odd_report(lab)
    md = markdown_report(report)
    assert "| ❌ | base | odd \\| output | tests/odd.test.yaml:3 | 0/1 |" in md
    assert "  ````text\n  <b>&</b> ]]> \x01 a|b ```\n  ````" in md
    assert "- `equals`: expected output to equal 'nothing'" in md
