"""Each assertion kind on its own: what passes, what fails and what the failure says; the
judge's verdict parsing; the small rules of samples and caching. No server: the grading
that needs one (similar, llm-judge, baseline) is covered against the double in
test_behave_runner.py; here a fixed-answer Grader checks only the arithmetic around it."""

from __future__ import annotations

import pytest

from mfops.behave.assertions import KINDS, Check, Verdict, cosine, grade
from mfops.behave.baseline import Baseline
from mfops.behave.cache import cacheable, sample_key
from mfops.behave.judge import parse_verdict
from mfops.behave.runner import sample_options


class FixedGrader:
    """Answers similarity and judge questions with fixed values."""

    server_version = "0.33.0"
    update_baseline = False

    def __init__(self, similarity: float = 0.9, verdict: Verdict | None = None,
                 baseline: Baseline | None = None) -> None:  # fmt: skip
        self._similarity = similarity
        self._verdict = verdict or Verdict(True, 0.9, "fine")
        self._baseline = baseline

    def similarity(self, model: str, a: str, b: str) -> float:
        return self._similarity

    def judge(self, model: str, rubric: str, output: str) -> Verdict:
        return self._verdict

    def baseline(self) -> Baseline | None:
        return self._baseline

    def baseline_path(self) -> str:
        return "b/x.json"


def check(kind: str, value=None, **kw) -> Check:
    return Check(kind, value, **kw)


@pytest.mark.parametrize(("c", "output", "passed", "message"), [
    (check("equals", "yes"), "yes", True, "output equals the expected text"),
    (check("equals", "yes"), "yes ", False, "expected output to equal 'yes'"),
    (check("contains", "cannot"), "I cannot", True, "contains 'cannot'"),
    (check("contains", "cannot"), "I CANNOT", False, "expected output to contain 'cannot'"),
    (check("icontains", "cannot"), "I CANNOT", True, "contains 'cannot'"),
    (check("icontains", "cannot"), "sure", False,
     "expected output to contain 'cannot' (any case)"),
    (check("not-contains", "function("), "use def", True, "does not contain 'function('"),
    (check("not-contains", "x"), "abcx", False,
     "expected output not to contain 'x', found at character 3"),
    (check("contains-any", ["a", "b"]), "xbx", True, "contains 'b'"),
    (check("contains-any", ["a", "b"]), "xyz", False,
     "expected output to contain any of ['a', 'b']"),
    (check("contains-all", ["a", "b"]), "ab", True, "contains all of ['a', 'b']"),
    (check("contains-all", ["a", "b", "c"]), "b", False,
     "expected output to contain all of ['a', 'b', 'c']; missing ['a', 'c']"),
    (check("starts-with", "Ahoy"), "Ahoy!", True, "starts with 'Ahoy'"),
    (check("starts-with", "Ahoy"), " Ahoy", False, "expected output to start with 'Ahoy'"),
    (check("regex", r"\d+"), "a 42", True, r"matches /\d+/ ('42')"),
    (check("regex", r"^\d+$"), "a 42", False, r"expected output to match /^\d+$/"),
    (check("not-regex", r"(?i)javascript"), "python", True, "does not match /(?i)javascript/"),
    (check("not-regex", r"(?i)javascript"), "JavaScript!", False,
     "expected output not to match /(?i)javascript/; matched 'JavaScript'"),
    (check("is-json"), ' {"a": 1} ', True, "is JSON"),
    (check("is-json"), "{a: 1}", False,
     "expected output to be JSON: ..."),
    (check("json-schema", {"type": "object", "properties": {"n": {"type": "integer"}}}),
     '{"n": 1}', True, "matches the JSON schema"),
    (check("json-schema", {"type": "object", "properties": {"n": {"type": "integer"}}}),
     '{"n": "one"}', False, "expected JSON matching the schema; at n: ..."),
    (check("json-schema", {"type": "object"}), "nope", False,
     "expected JSON matching the schema; not JSON: ..."),
    (check("min-length", 3), "abc", True, "3 characters >= 3"),
    (check("min-length", 3), "ab", False, "expected at least 3 characters, got 2"),
    (check("max-length", 3), "abcd", False, "expected at most 3 characters, got 4"),
])  # fmt: skip
def test_text_assertions(c, output, passed, message):
    result = grade(c, output, 10.0, FixedGrader())
    assert result.passed == passed
    if message.endswith("..."):  # mfops' words, then the JSON parser's or jsonschema's detail
        assert result.message.startswith(message[:-3]), result.message
        assert len(result.message) > len(message) - 3, result.message
    else:
        assert result.message == message
    assert result.type == c.type


def test_latency():
    c = check("max-latency-ms", 100.0)
    assert grade(c, "x", 99.6, FixedGrader()).message == "answered in 100 ms <= 100 ms"
    assert grade(c, "x", 150.2, FixedGrader()).message == (
        "expected an answer within 100 ms, took 150 ms"
    )


def test_similar_threshold():
    c = check("similar", "ref", threshold=0.8, model="emb")
    ok = grade(c, "out", 1, FixedGrader(similarity=0.8))
    assert ok.passed and ok.score == 0.8
    bad = grade(c, "out", 1, FixedGrader(similarity=0.31234))
    assert not bad.passed and bad.score == 0.3123
    assert bad.message == "expected similarity >= 0.8 to 'ref', got 0.312 (emb)"


def test_judge_pass_fail_and_threshold():
    c = check("llm-judge", "polite", model="j")
    assert grade(c, "o", 1, FixedGrader(verdict=Verdict(True, 0.9, "kind"))).passed
    no = grade(c, "o", 1, FixedGrader(verdict=Verdict(False, 0.1, "rude")))
    assert no.message == "expected judge j to pass it on 'polite'; it said: rude (score 0.10)"
    strict = check("llm-judge", "polite", threshold=0.95, model="j")
    low = grade(strict, "o", 1, FixedGrader(verdict=Verdict(True, 0.9, "kind")))
    assert not low.passed
    assert low.message == "expected judge j to score >= 0.95 on 'polite', got 0.90: kind"


def test_baseline_grades():
    c = check("baseline", threshold=0.8, model="emb")
    missing = grade(c, "o", 1, FixedGrader())
    assert not missing.passed and missing.message.startswith("no baseline recorded at b/x.json")
    same = Baseline("o", server_version="0.33.0")
    assert grade(c, "o", 1, FixedGrader(baseline=same)).note is None
    other = Baseline("o", server_version="0.31.0")
    flagged = grade(c, "o", 1, FixedGrader(similarity=0.5, baseline=other))
    assert not flagged.passed
    assert flagged.note == "baseline recorded on Ollama 0.31.0, this run on 0.33.0"
    updating = FixedGrader()
    updating.update_baseline = True
    assert grade(c, "o", 1, updating).message == "baseline recorded in b/x.json"


def test_every_kind_is_documented_and_named_like_promptfoo():
    assert list(KINDS) == [
        "equals", "contains", "icontains", "not-contains", "contains-any", "contains-all",
        "starts-with", "regex", "not-regex", "is-json", "json-schema", "min-length",
        "max-length", "max-latency-ms", "similar", "llm-judge", "baseline"]  # fmt: skip
    assert all(k.doc for k in KINDS.values())
    assert {k.name for k in KINDS.values() if k.needs} == {"similar", "llm-judge", "baseline"}


@pytest.mark.parametrize(("text", "verdict"), [
    ('{"pass": true, "score": 0.7, "reason": "good"}', Verdict(True, 0.7, "good")),
    ('{"pass": false, "reason": "bad"}', Verdict(False, 0.0, "bad")),
    ('{"pass": true, "score": 7, "reason": ""}',
     Verdict(True, 1.0, "(no reason given)", "judge score 7 is outside 0..1, clamped")),
    ('{"answer": "yes"}',
     Verdict(False, 0.0, "the judge did not answer with a verdict: '{\"answer\": \"yes\"}'")),
    ("not json", Verdict(False, 0.0, "the judge did not answer with a verdict: 'not json'")),
])  # fmt: skip
def test_judge_verdicts(text, verdict):
    assert parse_verdict(text) == verdict


def test_sample_seeds_and_cacheability():
    cap = {"num_predict": 512}  # the default token cap (#13 item 12); a suite's value wins
    assert sample_options({"seed": 42, "temperature": 0.7}, 0) == {
        "seed": 42,
        "temperature": 0.7,
        **cap,
    }
    assert sample_options({"seed": 42}, 3) == {"seed": 45, **cap}
    assert sample_options({"seed": -1}, 3) == {"seed": -1, **cap}
    assert sample_options({"num_predict": 8}, 0) == {"num_predict": 8}
    assert cacheable({"temperature": 0, "seed": -1})
    assert cacheable({"temperature": 0.9, "seed": 7})
    assert not cacheable({"temperature": 0.9, "seed": -1})
    assert not cacheable({})  # Ollama's defaults: temperature 0.8 and a random seed


def test_sample_keys_separate_everything_that_decides_a_result():
    base = {"manifest": "m", "model_digest": "d", "case_digest": "c", "options": {"seed": 1},
            "sample": 0, "aux": {}, "baseline": None, "server_version": "1"}  # fmt: skip
    key = sample_key(**base)
    changes = [{"manifest": "m2"}, {"case_digest": "c2"}, {"options": {"seed": 2}},
               {"sample": 1}, {"aux": {"judge": "x"}}, {"baseline": "sha"},
               {"server_version": "2"}, {"model_digest": "d2"}]  # fmt: skip
    keys = {sample_key(**{**base, **change}) for change in changes}
    assert key not in keys and len(keys) == len(changes)


def test_cosine():
    assert cosine([1.0, 0.0], [1.0, 0.0]) == 1.0
    assert cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
