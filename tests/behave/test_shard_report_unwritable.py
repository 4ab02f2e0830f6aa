"""A shard report that cannot be written (the disk filled up after the path was checked)
never hides why the shard stopped: the shard exits with its own code and says its own
reason, and the write failure is said too (the merge will call the shard missing)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from mfops.cli.commands import shardopts
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)

BAD_SUITE = "model: expert\ncases:\n  - name: x\n    prompt: hi\n    assert:\n      - type: nope\n"


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def write_atomic(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shardopts, "write_atomic", write_atomic)


def test_a_gate_shard_whose_build_failed_exits_1_when_its_report_cannot_be_written(
    lab: Lab, tmp_path: Path, disk_full: None
) -> None:
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    lab.double.faults.fail_next("/api/create", status=400, error="template error: boom")
    path = tmp_path / "gate-1.json"
    code, out, err = lab.mfops("gate", "--all", "--shard", "1/2", "--shard-report", str(path))
    assert code == 1, out + err
    assert "gate failed at build: 1 model failed" in err, out + err
    assert f"--shard-report {path}: cannot write: No space left on device" in err
    assert "Traceback" not in out + err and not path.exists()


def test_a_test_shard_with_a_bad_suite_exits_2_when_its_report_cannot_be_written(
    lab: Lab, tmp_path: Path, disk_full: None
) -> None:
    lab.build("cand")
    lab.write({"expert/expert.test.yaml": BAD_SUITE})
    path = tmp_path / "shard-1.json"
    code, out, err = lab.mfops(
        "test", "--tag", "cand", "--shard", "1/2", "--shard-report", str(path)
    )
    assert code == 2, out + err
    assert "expert/expert.test.yaml:6" in err and "cannot write" not in err, out + err
    assert "Traceback" not in out + err and not path.exists()
