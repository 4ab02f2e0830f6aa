"""A sharded release gate that fails is recorded like an unsharded one (release/
mergerecord.py): `gate --promote-to` records `kind: gate, outcome: failed` with its stage,
models and test counts; sharded, `mfops report merge` records the same kind of entry when
the shards were a release gate's and the merged verdict fails with exit 1. A pull-request
run and a refused merge record nothing, as unsharded."""

from __future__ import annotations

import json
from pathlib import Path

from mfops.behave.merge import merge
from mfops.release.mergerecord import record_failed_merge
from mfops.repo.history import Entry, load
from mfops.repo.repository import Repo
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.gitrepo import GitRepo

LOOSE = "FROM base\nSYSTEM You are a Python expert. Never discuss pricing.\n"


def _records(lab: Lab) -> list[Entry]:
    return load(Repo(lab.root, lab.root))


def _gate_shards(lab: Lab, n: int, tmp_path: Path, *extra: str) -> list[Path]:
    paths = []
    for k in range(1, n + 1):
        path = tmp_path / f"gate-{k}.json"
        code, out, err = lab.mfops(
            "gate", "--all", "--shard", f"{k}/{n}", "--shard-report", str(path), *extra
        )
        assert code in (0, 1), out + err
        paths.append(path)
    return paths


def _locked(lab: Lab) -> None:
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.write({"expert/Modelfile": LOOSE})  # the double no longer refuses javascript


def test_a_failing_sharded_release_is_recorded_as_the_unsharded_gate_is(lab: Lab, tmp_path):
    _locked(lab)
    code, out, err = lab.mfops("gate", "--all", "--promote-to", "v1")
    assert code == 1, out + err
    (unsharded,) = _records(lab)
    paths = _gate_shards(lab, 2, tmp_path, "--promote-to", "v1", "--alias", "prod")
    assert _records(lab) == [unsharded]  # a shard records nothing
    block = json.loads(paths[0].read_text())["shard"]
    assert block["release"] == {"to": "v1", "aliases": ["prod"]}
    code, out, err = lab.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert code == 1, out + err
    records = _records(lab)
    assert len(records) == 2
    merged = records[-1]
    assert f"recorded in the history as {merged.id} (refs/mfops/history)" in err
    json.loads(out)  # stdout stays the JSON verdict
    same = ("kind", "outcome", "to_tag", "from_tag", "stage", "commit", "dirty", "tests")
    assert {k: getattr(merged, k) for k in same} == {k: getattr(unsharded, k) for k in same}
    assert merged.aliases == ("prod",)
    assert [(m.name, m.tests) for m in merged.models] == [
        (m.name, m.tests) for m in unsharded.models
    ]
    assert merged.reason is not None and merged.reason.startswith("gate failed at test: ")
    assert any("refuses javascript: failed" in f for f in merged.failures)
    # `mfops history` shows it
    code, out, err = lab.mfops("history")
    assert code == 0 and out.count("failed") >= 2, out + err


def test_a_sharded_release_whose_shard_failed_to_build_is_recorded(lab: Lab, tmp_path):
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    paths = []
    for k in (1, 2):
        path = tmp_path / f"gate-{k}.json"
        if k == 1:  # the first shard builds: its create fails
            lab.double.faults.fail_next("/api/create", status=400, error="template error: boom")
        code, out, err = lab.mfops(
            "gate", "--all", "--promote-to", "v1", "--shard", f"{k}/2", "--shard-report", str(path)
        )
        assert code == (1 if k == 1 else 0), out + err
        paths.append(path)
    code, out, err = lab.mfops("report", "merge", *map(str, paths))
    assert code == 1, out + err
    (record,) = _records(lab)
    assert (record.kind, record.outcome, record.stage, record.to_tag) == (
        "gate",
        "failed",
        "build",
        "v1",
    )
    assert record.reason == (
        "shard 1/2 did not complete: gate failed at build: 1 model failed, 1 skipped"
    )
    assert record.commit == lab.repo.head() and record.tests is None


def test_nothing_is_recorded_for_a_pull_request_merge_or_an_input_error(lab: Lab, tmp_path):
    _locked(lab)
    paths = _gate_shards(lab, 2, tmp_path)  # pull-request mode: no --promote-to
    code, out, err = lab.mfops("report", "merge", *map(str, paths))
    assert code == 1 and "recorded" not in err, out + err
    assert _records(lab) == []
    # a release shard that stopped on bad input (exit 2): the unsharded gate records none
    lab.write({"expert/expert.test.yaml": "model: expert\ncases: 3\n"})
    release = []
    for k in (1, 2):
        path = tmp_path / f"rel-{k}.json"
        code, out, err = lab.mfops(
            "gate", "--all", "--promote-to", "v1", "--shard", f"{k}/2", "--shard-report", str(path)
        )
        assert code == 2, out + err
        release.append(path)
    code, out, err = lab.mfops("report", "merge", *map(str, release))
    assert code == 1, out + err
    assert _records(lab) == []
    code, out, err = lab.mfops("gate", "--all", "--promote-to", "v1")
    assert code == 2 and _records(lab) == []


def test_the_record_names_the_shard_that_failed_not_one_interrupted_before_it(tmp_path):
    """Shard 1 was cancelled (SIGTERM, 143), shard 2's build failed (exit 1): the record
    is made because of shard 2, so its stage and reason are shard 2's, as the unsharded
    gate's would be; both shards are listed in the failures."""
    git = GitRepo(tmp_path / "repo")
    git.write("mfops.yaml", "{}\n")
    git.git("add", "-A")
    git.git("commit", "-qm", "init")
    head = git.git("rev-parse", "HEAD").strip()
    release = {"to": "v1", "aliases": []}

    def failed(index: int, reason: str, code: int, stage: str | None) -> dict:
        block = {
            "format": 1,
            "index": index,
            "count": 2,
            "commit": head,
            "dirty": False,
            "tag": "sha-abc",
            "run": {"id": None, "attempt": None, "repository": None},
            "release": release,
            "failed": reason,
            "exit_code": code,
            "stage": stage,
        }
        return {"cases": [], "shard": block}

    files = [
        ("s1.json", failed(1, "interrupted (SIGTERM)", 143, None)),
        ("s2.json", failed(2, "gate failed at build: 1 model failed", 1, "build")),
    ]
    repo = Repo(git.root, git.root)
    merged = merge(repo, files)
    assert record_failed_merge(repo, merged) is not None
    (record,) = load(repo)
    assert (record.stage, record.to_tag, record.commit) == ("build", "v1", head)
    assert record.reason == ("shard 2/2 did not complete: gate failed at build: 1 model failed")
    assert len(record.failures) == 2
