"""`mfops promote --verdict` (release/sharded.py) never decides a model on a weaker test
than promote would run itself: shards run with fewer samples than the suites give, or
without the comparison promote's --against asks for (or at another alpha), decide
nothing; a shard job re-run within the workflow run still gives a usable verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.behavekit import SEED_FILES, Lab, lab_fixture  # noqa: F401  (fixture)


def _gate_shards(lab: Lab, tmp_path: Path, n: int, *extra: str, name: str = "v") -> Path:
    """`gate --all --shard K/n` for every K, merged into a verdict file; `extra`: more gate
    options. GITHUB_RUN_* are whatever the caller set."""
    paths = []
    for k in range(1, n + 1):
        path = tmp_path / f"{name}-shard-{k}.json"
        code, out, err = lab.mfops(
            "gate", "--all", *extra, "--shard", f"{k}/{n}", "--shard-report", str(path)
        )
        assert code == 0, out + err
        paths.append(str(path))
    verdict = tmp_path / f"{name}.json"
    code, out, err = lab.mfops("report", "merge", *paths, "--json", str(verdict))
    assert code == 0, out + err
    lab.double.calls.reset()
    return verdict


@pytest.fixture(name="locked")
def locked_fixture(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    return lab


def test_a_verdict_of_fewer_samples_than_the_suites_give_decides_nothing(
    lab: Lab, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    expert = "expert/expert.test.yaml"
    lab.write(
        {expert: SEED_FILES[expert].replace("model: expert\n", "model: expert\nsamples: 3\n")}
    )
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "1")
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    verdict = _gate_shards(lab, tmp_path, 2, "--samples", "1")
    code, out, err = lab.mfops(
        "promote", "--all", "--to", "v2", "--verdict", str(verdict), "--no-cache"
    )
    assert code == 0, out + err
    assert (
        f"note: expert: verdict {verdict} ran other cases or sample counts than its suites "
        "give; testing it"
    ) in err
    assert f"verdict {verdict} decided base (tested by the shards)" in err
    chats = [b["model"] for b in lab.double.calls.bodies("/api/chat")]
    assert set(chats) == {f"expert:sha-{lab.repo.head()[:12]}"}
    assert len(chats) == 2 * 3 + 1  # its own two cases at 3 samples, the inherited one once


def test_a_verdict_without_promotes_comparison_decides_nothing(locked: Lab, tmp_path):
    lab = locked
    verdict = _gate_shards(lab, tmp_path, 3)
    code, out, err = lab.mfops("promote", "--all", "--to", "v1", "--verdict", str(verdict))
    assert code == 0 and lab.chats() == 0, out + err
    code, out, err = lab.mfops(
        "promote", "--all", "--to", "v2", "--against", "v1", "--verdict", str(verdict),
        "--no-cache",
    )  # fmt: skip
    assert code == 0, out + err
    assert (
        f"note: verdict {verdict} not used: its shards compared with no baseline, promote "
        "with v1 (--against); testing again"
    ) in err
    assert lab.chats() > 0
    # shards that compared with v1: used by promote --against v1 at the same alpha only
    compared = _gate_shards(lab, tmp_path, 2, "--against", "v1", name="c")
    assert json.loads(compared.read_text())["merged"]["against"] == "v1"
    code, out, err = lab.mfops(
        "promote", "--all", "--to", "v3", "--against", "v1", "--alpha", "0.1",
        "--verdict", str(compared),
    )  # fmt: skip
    assert code == 0, out + err
    assert "not used: its shards compared at alpha 0.05, promote at 0.1; testing again" in err
    lab.double.calls.reset()
    code, out, err = lab.mfops(
        "promote", "--all", "--to", "v4", "--against", "v1", "--verdict", str(compared)
    )
    assert code == 0, out + err
    assert f"verdict {compared} decided base, expert (tested by the shards)" in err
    assert lab.chats() == 0
    code, out, err = lab.mfops("promote", "--all", "--to", "v5", "--verdict", str(compared))
    assert "its shards compared with v1, promote with none (--against)" in err


def test_a_re_run_shard_job_still_gives_a_usable_verdict(
    locked: Lab, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Shard 2 failed and was re-run (attempt 2); the merge and release jobs, run after
    it, are attempt 2 as well."""
    lab = locked
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/models")
    paths = []
    for k, attempt in ((1, "1"), (2, "2"), (3, "1")):
        monkeypatch.setenv("GITHUB_RUN_ATTEMPT", attempt)
        path = tmp_path / f"shard-{k}.json"
        code, out, err = lab.mfops(
            "gate", "--all", "--shard", f"{k}/3", "--shard-report", str(path)
        )
        assert code == 0, out + err
        paths.append(str(path))
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    verdict = tmp_path / "verdict.json"
    code, out, err = lab.mfops("report", "merge", *paths, "--json", str(verdict))
    assert code == 0, out + err
    lab.double.calls.reset()
    monkeypatch.setenv("GITHUB_REPOSITORY", "evil/fork")  # same run id, another repository
    code, out, err = lab.mfops("promote", "--all", "--to", "v0", "--verdict", str(verdict))
    assert code == 0 and "not used: it comes from workflow run 42 attempt 2" in err
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/models")
    lab.double.calls.reset()
    code, out, err = lab.mfops("promote", "--all", "--to", "v1", "--verdict", str(verdict))
    assert code == 0, out + err
    assert f"verdict {verdict} decided base, expert (tested by the shards)" in err
    assert lab.chats() == 0
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "3")  # a later attempt than the merge's
    code, out, err = lab.mfops("promote", "--all", "--to", "v2", "--verdict", str(verdict))
    assert "not this run (42 attempt 3); testing again" in err
