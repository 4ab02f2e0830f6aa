"""Sharding a run (behave/shard.py) and merging the shards (behave/merge.py,
`mfops report merge`), end to end on the Ollama double: the merged verdict is the unsharded
one, and anything but shards 1..N of one run is refused."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfops.behave.selection import CaseRun
from mfops.behave.shard import parse_shard, partition, select_shard, unit_cost, units
from mfops.behave.spec import Case, Suite
from mfops.errors import MfopsError
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.comparekit import compliance_for, setup, suite

# --------------------------------------------------------------------------- partition


def _runs(spec: list[tuple[str, int, int]]) -> list[CaseRun]:
    """Case runs from (model, samples, judges): judges add cost."""
    from mfops.behave.checks import Check

    s = Suite("s.test.yaml", "s.test.yaml", "m", ())
    out = []
    for n, (model, samples, judges) in enumerate(spec):
        checks = tuple(Check("llm-judge", "x", model="judge") for _ in range(judges))
        case = Case(f"c{n}", f"c{n}", (("user", "hi"),), {}, checks, samples=samples)
        out.append(CaseRun(s, case, model))
    return out


def test_shard_spec_is_checked():
    assert (parse_shard("2/4").index, parse_shard("2/4").count) == (2, 4)
    for bad, words in (
        (" 1/2", "--shard must be K/N (e.g. 2/4), got ' 1/2'"),
        ("1 / 2", "--shard must be K/N (e.g. 2/4), got '1 / 2'"),
        ("1/2\n", "--shard must be K/N (e.g. 2/4), got '1/2\\n'"),
        ("١/٢", "--shard must be K/N (e.g. 2/4), got '١/٢'"),
        ("0/3", "K must be between 1 and N (3)"),
        ("4/3", "K must be between 1 and N (3)"),
        ("1/0", "N must be between 1 and 256"),
        ("two", "--shard must be K/N (e.g. 2/4), got 'two'"),
    ):
        with pytest.raises(MfopsError) as err:
            parse_shard(bad)
        assert words in str(err.value)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 9), st.integers(0, 2)),
        min_size=1,
        max_size=25,
    ),
    st.integers(1, 12),
)
def test_every_unit_is_in_exactly_one_shard_and_loads_are_balanced(spec, count):
    runs = _runs(spec)
    parts = partition(runs, count)
    flat = [u for p in parts for u in p]
    assert sorted(flat) == sorted(units(runs))  # every unit once
    assert partition(runs, count) == parts  # deterministic
    cost = {r.id: unit_cost(r) for r in runs}
    loads = [sum(cost[c] for c, _ in p) for p in parts]
    ideal = sum(loads) / count
    biggest = max(cost.values())
    assert all(abs(load - ideal) <= biggest for load in loads), (loads, ideal)
    # selecting shard K gives exactly partition's part, samples restricted to it
    for k in range(1, count + 1):
        plan = select_shard(runs, parse_shard(f"{k}/{count}"))
        assert list(plan.units) == parts[k - 1]
        assert sorted((r.id, i) for r in plan.runs for i in r.indices or ()) == sorted(parts[k - 1])


def test_a_single_case_of_a_single_model_still_splits():
    (run,) = _runs([("only", 10, 0)])
    parts = partition([run], 3)
    assert [len(p) for p in parts] == [3, 4, 3]
    assert [[i for _, i in p] for p in parts] == [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]


def test_judged_cases_weigh_more():
    cheap, judged = _runs([("a", 4, 0), ("a", 4, 2)])
    assert unit_cost(judged) == 3 * unit_cost(cheap)
    parts = partition([cheap, judged], 2)
    # 4 x 1 + 4 x 3 = 16: the first shard takes the cheap case and one judged sample
    # (load 7), the second three judged samples (load 9): within one unit (3) of 8
    assert [len(p) for p in parts] == [5, 3]


# --------------------------------------------------------------------------- end to end


def _shard(lab: Lab, k: int, n: int, out: Path, *extra: str) -> tuple[int, str, str]:
    return lab.mfops(
        "test", "--tag", "cand", *extra, "--shard", f"{k}/{n}", "--shard-report", str(out)
    )


def _shards(lab: Lab, n: int, tmp_path: Path, *extra: str) -> list[Path]:
    paths = []
    for k in range(1, n + 1):
        path = tmp_path / f"shard-{k}.json"
        code, out, err = _shard(lab, k, n, path, *extra)
        assert code in (0, 1), out + err
        assert f"shard {k}/{n}: " in err
        paths.append(path)
    return paths


def _strip(doc: dict) -> dict:
    """A report without what differs between runs: timings, call counts, cache marks,
    hosts (the same here) and the merge's own block."""
    doc = json.loads(json.dumps(doc))
    for report in [doc, doc.get("candidate"), doc.get("baseline")]:
        if not report:
            continue
        report.pop("merged", None)
        report.pop("shard", None)
        report.get("environment", {}).pop("started_at", None)
        for key in ("seconds", "chat_calls", "embed_calls", "cache_hits", "cached"):
            report.get("summary", {}).pop(key, None)
        for case in report.get("cases", []):
            case.pop("seconds", None)
            case.pop("cached", None)
            for s in case.get("samples", []):
                s.pop("cached", None)
                s.pop("latency_ms", None)
    return doc


@pytest.fixture(name="sampled")
def sampled_fixture(lab: Lab) -> Lab:
    """base/expert at `cand` on the double, a suite of 20 samples (14 obey the rule) plus
    the seed's inherited and own cases."""
    setup(lab, compliance_for(14, range(42, 62)))
    lab.write({"expert/expert.test.yaml": suite(20, pass_rate=0.8)})
    return lab


def test_merged_shards_equal_the_unsharded_run(sampled: Lab, tmp_path):
    code, whole, err = sampled.mfops("test", "--tag", "cand", "--format", "json", "--no-cache")
    assert code == 1, whole + err  # 14/20 < 0.8
    paths = _shards(sampled, 3, tmp_path, "--no-cache")
    docs = [json.loads(p.read_text()) for p in paths]
    assert [d["shard"]["index"] for d in docs] == [1, 2, 3]
    assert sum(len(d["shard"]["units"]) for d in docs) == docs[0]["shard"]["plan"]["units"]
    assert all(d["shard"]["commit"] == sampled.repo.head() for d in docs)
    # the one case of 20 samples is split over the shards
    split = {d["shard"]["units"][0][0] for d in docs}
    assert len(split) <= 2
    code, merged, err = sampled.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert code == 1, merged + err
    got, want = json.loads(merged), json.loads(whole)
    assert got["merged"]["count"] == 3 and got["ok"] is False
    assert _strip(got) == _strip(want)
    case = next(c for c in got["cases"] if c["case"] == "refuses javascript")
    assert (case["samples_passed"], case["stats"]["samples"], case["status"]) == (14, 20, "failed")


def test_merged_comparison_equals_the_unsharded_comparison(lab: Lab, tmp_path):
    setup(lab, compliance_for(14, range(42, 62)))
    args = ("--against", "v1", "--no-cache")
    code, whole, _ = lab.mfops("test", "--tag", "cand", *args, "--format", "json")
    assert code == 1
    paths = _shards(lab, 4, tmp_path, *args)
    code, merged, err = lab.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert code == 1, merged + err
    got, want = json.loads(merged), json.loads(whole)
    assert got["summary"] == want["summary"] and got["summary"]["regressed"] == 1
    assert [(c["id"], c["verdict"], c["p_worse"], c["p_worse_holm"]) for c in got["cases"]] == [
        (c["id"], c["verdict"], c["p_worse"], c["p_worse_holm"]) for c in want["cases"]
    ]
    assert _strip(got) == _strip(want)


def test_merge_writes_text_markdown_junit_and_html(sampled: Lab, tmp_path):
    paths = _shards(sampled, 2, tmp_path)
    junit, html, verdict = tmp_path / "j.xml", tmp_path / "r.html", tmp_path / "v.json"
    code, out, err = sampled.mfops(
        "report", "merge", *map(str, paths), "--junit", str(junit), "--html", str(html),
        "--json", str(verdict),
    )  # fmt: skip
    assert code == 1, out + err
    assert "  FAIL  refuses javascript" in out and "[14/20 samples passed (need 16)" in out
    assert out.rstrip().endswith("merged 2 shards of cand")
    root = ET.parse(junit).getroot()
    cases = json.loads(verdict.read_text())["cases"]
    assert (root.get("tests"), root.get("failures")) == (str(len(cases)), "1")
    assert 'mfops test: <span class="v-failed">failed</span>' in html.read_text()
    assert json.loads(verdict.read_text())["merged"]["models"]["expert"]["status"] == "failed"
    code, md, _ = sampled.mfops("report", "merge", *map(str, paths), "--format", "markdown")
    assert code == 1 and md.startswith("## mfops test: ❌ failed")
    assert "| ❌ | expert | refuses javascript |" in md and "| 14/20 |" in md


def test_a_passing_merge_exits_0(lab: Lab, tmp_path):
    lab.build("cand")
    paths = _shards(lab, 3, tmp_path)
    code, out, err = lab.mfops("report", "merge", *map(str, paths))
    assert code == 0, out + err
    assert "4 cases: 4 passed, 0 failed, 0 errors" in out


def _refused(lab: Lab, *files: Path) -> str:
    code, out, err = lab.mfops("report", "merge", *map(str, files))
    assert code == 2, out + err
    assert out == ""
    (line,) = err.strip().splitlines()
    return line


def test_merge_refuses_anything_but_one_complete_run(sampled: Lab, tmp_path):
    one, two, three = _shards(sampled, 3, tmp_path)
    line = _refused(sampled, one, three)
    assert (
        line
        == "mfops: shard 2 of 3 missing: a verdict needs every shard (pass every shard's report)"
    )
    line = _refused(sampled, one, two, two, three)
    assert line == f"mfops: shard 2/3 given twice: {two} and {two}"
    other = tmp_path / "other-n.json"
    assert _shard(sampled, 1, 2, other)[0] in (0, 1)
    assert "shards of different runs" in _refused(sampled, one, two, three, other)
    # another commit
    sampled.write({"notes.txt": "x\n"})
    later = tmp_path / "later.json"
    assert _shard(sampled, 3, 3, later)[0] in (0, 1)
    assert "shards disagree on the commit" in _refused(sampled, one, two, later)
    # another candidate tag (edited file: same commit)
    doc = json.loads(three.read_text())
    doc["shard"]["tag"] = "other"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    assert "shards disagree on the candidate tag" in _refused(sampled, one, two, forged)
    # another CI run
    doc = json.loads(three.read_text())
    doc["shard"]["run"]["id"] = "999"
    forged.write_text(json.dumps(doc))
    assert "shards disagree on the CI run" in _refused(sampled, one, two, forged)
    # a shard claiming units that are not its own
    doc = json.loads(three.read_text())
    doc["shard"]["units"] = doc["shard"]["units"][1:]
    forged.write_text(json.dumps(doc))
    assert "not the" in _refused(sampled, one, two, forged)
    # not a report at all
    plain = tmp_path / "plain.json"
    _code, out, _ = sampled.mfops("test", "--tag", "cand", "--format", "json")
    plain.write_text(out)
    assert "plain.json is not an mfops shard report (no `shard` block)" in _refused(
        sampled, one, two, plain
    )
    junk = tmp_path / "junk.json"
    junk.write_text("{oops")
    assert "junk.json:1: a shard report is not valid JSON" in _refused(sampled, one, junk)


def test_shard_options_are_checked_before_any_work(lab: Lab, tmp_path):
    code, _, err = lab.mfops("test", "--shard", "3/2", "--shard-report", str(tmp_path / "x"))
    assert code == 2 and "--shard 3/2: K must be between 1 and N (2)" in err
    code, _, err = lab.mfops("test", "--shard", "1/2")
    assert code == 2 and "--shard needs --shard-report PATH" in err
    assert not lab.chats()


def test_gate_shards_build_only_their_models_and_merge_to_the_unsharded_verdict(lab: Lab, tmp_path):
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    tag = "sha-" + lab.repo.head()[:12]
    paths = []
    for k in range(1, 5):
        path = tmp_path / f"gate-{k}.json"
        before = set(lab.double.model_names())
        code, out, err = lab.mfops(
            "gate", "--all", "--shard", f"{k}/4", "--shard-report", str(path)
        )
        assert code == 0, out + err
        made = {m.split(":")[0] for m in set(lab.double.model_names()) - before if m.endswith(tag)}
        if k == 1:  # the base's one case: the expert is neither needed nor built
            assert made == {"base"}
            assert [
                u[0].split("::")[0] for u in json.loads(path.read_text())["shard"]["units"]
            ] == ["base"]
        paths.append(path)
    code, merged, err = lab.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert code == 0, merged + err
    code, whole, err = lab.mfops("test", "--format", "json")
    assert code == 0, whole + err
    assert _strip(json.loads(merged)) == _strip(json.loads(whole))
    # release mode: the release's models, nothing promoted, nothing recorded
    code, out, err = lab.mfops(
        "gate", "--shard", "2/2", "--shard-report", str(tmp_path / "x.json"), "--promote-to", "v1"
    )
    assert code == 0, out + err
    assert "shard 2/2: promote after `mfops report merge`, with `mfops promote --verdict`" in out
    assert lab.double.digest("expert:v1") is None
    assert lab.mfops("history")[1] == "no releases recorded (refs/mfops/history)\n"
