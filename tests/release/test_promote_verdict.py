"""`mfops promote --verdict merged.json` (release/sharded.py): a merged verdict of shards
decides a model only when it comes from this workflow run and the model's content on the
promoting server is what the shards tested; anything else is tested again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.behavekit import EXPERT_SYSTEM, Lab, lab_fixture  # noqa: F401  (fixture)


@pytest.fixture(name="verdict")
def verdict_fixture(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed repo locked and committed; 3 gate shards of workflow run 77 attempt 1
    merged into verdict.json (the shards built the candidate on the double)."""
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    paths = []
    for k in (1, 2, 3):
        path = tmp_path / f"shard-{k}.json"
        code, out, err = lab.mfops(
            "gate", "--all", "--shard", f"{k}/3", "--shard-report", str(path)
        )
        assert code == 0, out + err
        paths.append(str(path))
    out_path = tmp_path / "verdict.json"
    code, out, err = lab.mfops("report", "merge", *paths, "--json", str(out_path))
    assert code == 0, out + err
    doc = json.loads(out_path.read_text())
    assert doc["merged"]["run"] == {"id": "77", "attempt": "1", "repository": None}
    lab.double.calls.reset()
    return out_path


def test_a_verdict_of_this_run_promotes_without_testing_again(lab: Lab, verdict: Path):
    code, out, err = lab.mfops("promote", "--all", "--to", "v1", "--verdict", str(verdict))
    assert code == 0, out + err
    assert f"verdict {verdict} decided base, expert (tested by the shards)" in err
    assert lab.chats() == 0
    tag = "sha-" + lab.repo.head()[:12]
    assert lab.double.digest("expert:v1") == lab.double.digest(f"expert:{tag}")


def test_a_verdict_of_another_run_is_not_used(
    lab: Lab, verdict: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    code, out, err = lab.mfops(
        "promote", "--all", "--to", "v1", "--verdict", str(verdict), "--no-cache"
    )
    assert code == 0, out + err
    assert (
        f"note: verdict {verdict} not used: it comes from workflow run 77 attempt 1, not "
        "this run (77 attempt 2); testing again"
    ) in err
    assert lab.chats() == 4  # every case ran again
    monkeypatch.delenv("GITHUB_RUN_ID")  # outside Actions: never trusted
    code, out, err = lab.mfops("promote", "--all", "--to", "v2", "--verdict", str(verdict))
    assert code == 0 and "not this run (none attempt 2); testing again" in err


def test_a_model_changed_since_the_shards_is_tested_again(lab: Lab, verdict: Path):
    tag = "sha-" + lab.repo.head()[:12]
    # same weights, another SYSTEM: the manifest and the content both change
    lab.double.tamper(f"expert:{tag}", system="You are a Python expert. Never discuss pricing.")
    code, out, err = lab.mfops(
        "promote", "--all", "--to", "v1", "--verdict", str(verdict), "--allow-drift"
    )
    assert code == 1, out + err
    assert (
        f"note: expert:{tag} on this server is not the content the shards tested; testing it"
    ) in err
    assert f"verdict {verdict} decided base (tested by the shards)" in err
    assert {b["model"] for b in lab.double.calls.bodies("/api/chat")} == {f"expert:{tag}"}
    assert lab.double.digest("expert:v1") is None  # nothing moved


def test_a_file_that_is_not_a_merged_verdict(lab: Lab, verdict: Path, tmp_path: Path):
    shard = tmp_path / "shard-1.json"
    code, out, err = lab.mfops("promote", "--all", "--to", "v1", "--verdict", str(shard))
    assert code == 0, out + err
    assert "not used: it is not a merged verdict of `mfops report merge`" in err
    junk = tmp_path / "junk.json"
    junk.write_text("[")
    code, out, err = lab.mfops("promote", "--all", "--to", "v1", "--verdict", str(junk))
    assert code == 2 and "junk.json:1: a merged verdict is not valid JSON" in err
    assert EXPERT_SYSTEM  # the seed's rule is what the shards tested
