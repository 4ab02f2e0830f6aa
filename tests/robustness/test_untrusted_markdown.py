"""Untrusted text in Markdown (issue 18, items 6 and 10): model output cannot close the
report's fence and forge a heading; a backtracking regex in a suite cannot hang a run."""

from __future__ import annotations

import json

from mfops.diff.render import _fence
from mfops.fileio.markdown import fence
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.comparekit import RULE, setup


def _outside_fences(markdown: str) -> list[str]:
    """The lines a CommonMark renderer treats as Markdown (not inside a backtick fence)."""
    out, opened = [], None
    for line in markdown.split("\n"):
        stripped = line.lstrip(" ")
        run = len(stripped) - len(stripped.lstrip("`"))
        if opened is None and run >= 3:
            opened = run
        elif opened is not None and run >= opened and not stripped.strip("`").strip():
            opened = None
        elif opened is None:
            out.append(line)
    return out


def test_fence_is_longer_than_any_backtick_run():
    text = "ok\n```\n## ✅ passed\n`````\nend"
    lines = fence(text, indent="  ")
    assert lines[0] == "  ``````text" and lines[-1] == "  ``````"
    assert not any("passed" in x for x in _outside_fences("\n".join(lines)))
    assert _fence("a\n````\nb")[0] == "`````diff"


def test_model_output_cannot_inject_a_heading_into_the_pr_comment(lab: Lab):
    evil = "x\n````\n## mfops test: ✅ passed"
    setup(lab, RULE, samples=1)
    few_shot = [{"role": "user", "content": "closures"}, {"role": "assistant", "content": evil}]
    lab.double.add_local_model("expert:cand", from_="base:cand", messages=few_shot)
    lab.write(
        {
            "expert/expert.test.yaml": (
                "model: expert\ncases:\n  - name: leaks\n    prompt: closures\n"
                "    assert:\n      - type: contains\n        value: never-there\n"
            )
        }
    )
    code, out, _ = lab.mfops("test", "expert", "--tag", "cand", "--format", "markdown")
    assert code == 1
    assert "\n  ````\n  ## mfops test: ✅ passed\n" in out  # it is there...
    headings = [x for x in _outside_fences(out) if x.startswith("#")]
    assert headings and not any("✅ passed" in h for h in headings)  # ...but only as text


def test_a_backtracking_regex_is_stopped_as_a_case_error(lab: Lab, monkeypatch):
    import mfops.behave.assertions as assertions

    monkeypatch.setattr(assertions, "REGEX_TIMEOUT", 0.2)
    setup(lab, RULE, samples=1)
    lab.write(
        {
            "expert/expert.test.yaml": (
                "model: expert\ncases:\n"
                "  - name: nested\n    prompt: closures\n    assert:\n"
                "      - type: regex\n        value: '(a+)+$'\n"
                "  - name: catastrophic\n    prompt: " + "a" * 60 + "!\n    assert:\n"
                "      - type: not-regex\n        value: '(a|aa)+$'\n"
            )
        }
    )
    code, out, _err = lab.mfops("test", "expert", "--tag", "cand", "--format", "json")
    cases = {c["case"]: c for c in json.loads(out)["cases"]}
    assert code == 1
    assert cases["nested"]["status"] == "failed"  # (a+)+$ on 40-odd chars finishes at once
    bad = cases["catastrophic"]
    assert bad["status"] == "error"
    assert "not-regex assertion (line 11): /(a|aa)+$/ took longer than 0.2 s" in bad["error"]
    assert "nested quantifiers" in bad["error"]
