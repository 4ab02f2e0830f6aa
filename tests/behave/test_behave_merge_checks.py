"""What `mfops report merge` (behave/merge.py) refuses beyond a missing or foreign shard:
a shard that leaves out part of what it owned (candidate or baseline side), shards that
compared with different baselines, malformed fields (exit 2, one line, never a crash),
and a shard whose gate failed before testing (exit 1, naming it). Shards of one workflow
run whose attempts differ (a failed shard job re-run) still merge."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.behave.test_behave_shard import _refused, _shards, sampled_fixture  # noqa: F401
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.comparekit import compliance_for, setup

SPLIT = "expert::expert/expert.test.yaml::refuses javascript"


def _forge(path: Path, tmp_path: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    doc = json.loads(path.read_text())
    change(doc)
    out = tmp_path / f"forged-{path.name}"
    out.write_text(json.dumps(doc))
    return out


def _sharing(paths: list[Path], case_id: str) -> list[Path]:
    """The shards that own samples of `case_id`."""
    return [
        p
        for p in paths
        if any(u[0] == case_id for u in json.loads(p.read_text())["shard"]["units"])
    ]


def _swap(paths: list[Path], old: Path, new: Path) -> list[Path]:
    return [new if p == old else p for p in paths]


# --------------------------------------------------------------------------- candidate side


def test_a_shard_leaving_out_a_case_it_shares_is_refused(sampled: Lab, tmp_path):
    paths = _shards(sampled, 3, tmp_path)
    sharing = _sharing(paths, SPLIT)
    assert len(sharing) >= 2  # the 20-sample case is split: the others still report it
    last = sharing[-1]

    def drop(doc: dict[str, Any]) -> None:
        doc["cases"] = [c for c in doc["cases"] if c["id"] != SPLIT]

    forged = _forge(last, tmp_path, drop)
    index = json.loads(last.read_text())["shard"]["index"]
    line = _refused(sampled, *_swap(paths, last, forged))
    assert line == (
        f"mfops: {forged} (shard {index}/3) does not report case {SPLIT}, whose samples it owned"
    )

    def twice(doc: dict[str, Any]) -> None:
        doc["cases"] += [c for c in doc["cases"] if c["id"] == SPLIT]

    forged = _forge(last, tmp_path, twice)
    line = _refused(sampled, *_swap(paths, last, forged))
    assert line == f"mfops: {forged} (shard {index}/3) reports case {SPLIT} twice"

    def foreign_case(doc: dict[str, Any]) -> None:
        doc["cases"].append({**doc["cases"][0], "id": "expert::x.test.yaml::made up"})

    forged = _forge(last, tmp_path, foreign_case)
    line = _refused(sampled, *_swap(paths, last, forged))
    assert line == (
        f"mfops: {forged} (shard {index}/3) reports case expert::x.test.yaml::made up, "
        "not in the plan"
    )


def test_a_shard_reporting_a_case_it_owns_none_of_is_refused(sampled: Lab, tmp_path):
    paths = _shards(sampled, 3, tmp_path)
    outsider = paths[-1]
    owns = {u[0] for u in json.loads(outsider.read_text())["shard"]["units"]}
    case = next(
        c for p in paths[:-1] for c in json.loads(p.read_text())["cases"] if c["id"] not in owns
    )
    forged = _forge(outsider, tmp_path, lambda d: d["cases"].append({**case, "samples": []}))
    assert _refused(sampled, *paths[:-1], forged) == (
        f"mfops: {forged} (shard 3/3) reports case {case['id']}, none of whose samples it owned"
    )


# --------------------------------------------------------------------------- baseline side


@pytest.fixture(name="compared")
def compared_fixture(lab: Lab, tmp_path: Path) -> list[Path]:
    """Four shards of `test --against v1` (the 20-sample case split over them)."""
    setup(lab, compliance_for(14, range(42, 62)))
    return _shards(lab, 4, tmp_path, "--against", "v1", "--no-cache")


def test_a_shard_leaving_out_its_baseline_samples_is_refused(lab: Lab, compared, tmp_path):
    sharing = _sharing(compared, SPLIT)
    last = sharing[-1]
    index = json.loads(last.read_text())["shard"]["index"]
    forged = _forge(last, tmp_path, lambda d: d["baseline"].__setitem__("cases", []))
    assert _refused(lab, *_swap(compared, last, forged)) == (
        f"mfops: {forged} (shard {index}/4) does not report case {SPLIT} (baseline), whose "
        "samples it owned"
    )

    def fewer(doc: dict[str, Any]) -> None:
        for c in doc["baseline"]["cases"]:
            if c["id"] == SPLIT:
                c["samples"] = c["samples"][1:]

    forged = _forge(last, tmp_path, fewer)
    assert _refused(lab, *_swap(compared, last, forged)) == (
        f"mfops: {forged} (shard {index}/4) does not report every sample it owned of "
        f"{SPLIT} (baseline)"
    )
    forged = _forge(last, tmp_path, lambda d: d.pop("baseline"))
    assert "no `cases` list (baseline)" in _refused(lab, *_swap(compared, last, forged))


def test_shards_that_compared_with_different_baselines_are_refused(lab: Lab, compared, tmp_path):
    last = _sharing(compared, SPLIT)[-1]
    index = json.loads(last.read_text())["shard"]["index"]
    forged = _forge(last, tmp_path, lambda d: d["against"]["expert"].__setitem__("tag", "v0"))
    line = _refused(lab, *_swap(compared, last, forged))
    assert line.startswith("mfops: shards compared expert with different baselines: ")
    assert line.endswith(f"{forged} (shard {index}/4) with v0")

    def other(doc: dict[str, Any]) -> None:
        doc["shard"]["baselines"]["expert"]["content"] = "sha256:" + "0" * 64

    forged = _forge(last, tmp_path, other)
    line = _refused(lab, *_swap(compared, last, forged))
    assert line.startswith("mfops: shards compared expert with different content of expert:v1: ")


def test_a_baseline_changed_between_shards_is_refused(lab: Lab, tmp_path):
    """Shards started around a change of the baseline (in pull-request mode: a release
    promoted meanwhile) compared with different models: not one run."""
    setup(lab, compliance_for(14, range(42, 62)))
    args = ("test", "--tag", "cand", "--against", "v1", "--no-cache")
    one = tmp_path / "one.json"
    assert lab.mfops(*args, "--shard", "1/2", "--shard-report", str(one))[0] in (0, 1)
    lab.double.tamper("expert:v1", system="You are a Python expert. Be brief.")
    two = tmp_path / "two.json"
    assert lab.mfops(*args, "--shard", "2/2", "--shard-report", str(two))[0] in (0, 1)
    line = _refused(lab, one, two)
    assert line.startswith("mfops: shards compared expert with different content of expert:v1: ")


# --------------------------------------------------------------------------- malformed fields


def _cases(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        for case in doc["cases"]:
            change(case)

    return apply


def _samples(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    return _cases(lambda c: [change(s) for s in c["samples"]])


MALFORMED = [
    (_cases(lambda c: c.__setitem__("seconds", "x")), "the `seconds` of case "),
    (_cases(lambda c: c.__setitem__("samples", "x")), "the `samples` of case "),
    (lambda d: d.__setitem__("environment", [1]), "the report's `environment` is not an object"),
    (lambda d: d["environment"].__setitem__("models", [1]), "`environment` is not an object"),
    (lambda d: d.__setitem__("summary", [1]), "the report's `summary` is not an object"),
    (lambda d: d["summary"].__setitem__("chat_calls", "x"), "`summary.chat_calls` is not a"),
    (lambda d: d["summary"].__setitem__("seconds", "x"), "`summary.seconds` is not a number"),
    (lambda d: d["shard"].__setitem__("alpha", "x"), "the shard block's `alpha` is malformed"),
    (lambda d: d["shard"].__setitem__("samples", "3"), "the shard block's `samples` is malformed"),
    (lambda d: d["shard"].__setitem__("names", [1]), "the shard block's `names` is malformed"),
    (lambda d: d["shard"].__setitem__("index", 2.0), "the shard block's `index` is missing or"),
    (lambda d: d["shard"].__setitem__("plan", {"fingerprint": 1}), "block's `plan` is malformed"),
    (lambda d: d["shard"]["run"].__setitem__("id", 9), "the shard block's `run` is malformed"),
    (_samples(lambda s: s.__setitem__("latency_ms", "x")), "a sample of "),
    (_samples(lambda s: s.__setitem__("assertions", "abc")), "a sample of "),
    (_samples(lambda s: s.__setitem__("assertions", [{"x": 1}])), "a sample of "),
    (_samples(lambda s: s.__setitem__("options", [1])), "a sample of "),
    (_samples(lambda s: s["assertions"][0].__setitem__("note", [1])), "a sample of "),
    (_samples(lambda s: s.__setitem__("error", {"a": 1})), "a sample of "),
    (_cases(lambda c: c.__setitem__("manifest", [1])), "the `manifest` of case "),
]


def test_malformed_fields_are_one_line_and_exit_2(sampled: Lab, tmp_path):
    paths = _shards(sampled, 2, tmp_path)
    for change, words in MALFORMED:
        forged = _forge(paths[1], tmp_path, change)
        line = _refused(sampled, paths[0], forged)  # exit 2, one line, nothing on stdout
        assert line.startswith(f"mfops: {forged}") and words in line, (words, line)
    forged = _forge(paths[1], tmp_path, lambda d: d["shard"]["models"].__setitem__("expert", {}))
    assert _refused(sampled, paths[0], forged).startswith(
        "mfops: shards tested different content of expert: "
    )


# --------------------------------------------------------------------------- attempts, failures


def test_a_re_run_shard_of_the_same_run_merges(sampled: Lab, tmp_path, monkeypatch):
    """A shard job re-run after a failure ("Re-run failed jobs") has attempt 2, the others
    attempt 1: one run. The merged verdict records each shard's attempt and the merging
    job's; another repository's run with the same id is still refused."""
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/models")
    paths = []
    for k, attempt in ((1, "1"), (2, "2"), (3, "1")):
        monkeypatch.setenv("GITHUB_RUN_ATTEMPT", attempt)
        paths += _shards_one(sampled, k, 3, tmp_path)
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    code, out, err = sampled.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert code == 1, out + err  # the seed's 14/20 case fails: a verdict, not a refusal
    merged = json.loads(out)["merged"]
    assert merged["run"] == {"id": "42", "repository": "acme/models", "attempt": "2"}
    assert [s["attempt"] for s in merged["shards"]] == ["1", "2", "1"]
    forged = _forge(paths[2], tmp_path, lambda d: d["shard"]["run"].update(repository="evil/x"))
    line = _refused(sampled, paths[0], paths[1], forged)
    assert line.startswith("mfops: shards disagree on the CI run: ")
    # merged outside the run: no attempt, so promote never trusts it
    monkeypatch.setenv("GITHUB_RUN_ID", "43")
    code, out, _ = sampled.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert json.loads(out)["merged"]["run"]["attempt"] is None


def _shards_one(lab: Lab, k: int, n: int, tmp_path: Path) -> list[Path]:
    path = tmp_path / f"shard-{k}.json"
    code, out, err = lab.mfops(
        "test", "--tag", "cand", "--shard", f"{k}/{n}", "--shard-report", str(path)
    )
    assert code in (0, 1), out + err
    return [path]


def test_a_shard_whose_build_failed_fails_the_merge_naming_it(lab: Lab, tmp_path):
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    paths = []
    for k in range(1, 5):
        path = tmp_path / f"gate-{k}.json"
        if k == 2:
            lab.double.faults.fail_next("/api/create", status=400, error="template error: boom")
        code, out, err = lab.mfops(
            "gate", "--all", "--shard", f"{k}/4", "--shard-report", str(path)
        )
        assert code == (1 if k == 2 else 0), out + err
        paths.append(path)
    doc = json.loads(paths[1].read_text())
    assert doc["shard"]["failed"] == "gate failed at build: 1 model failed"
    code, out, err = lab.mfops("report", "merge", *map(str, paths))
    assert code == 1, out + err
    assert err.strip() == (
        f"mfops: {paths[1]} (shard 2/4) did not complete (exit 1): gate failed at build: "
        "1 model failed"
    )
    # still a shard of one N, each once: a missing shard is exit 2 as before
    assert "shard 3 of 4 missing" in _refused(lab, paths[0], paths[1], paths[3])
