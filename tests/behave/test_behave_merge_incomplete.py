"""A shard that does not complete still writes its report (cli/commands/shardopts.py:
shard_guard), saying which shard it is, what it knew of its commit and candidate, the
one-line reason and the exit code it exits with; `mfops report merge` then fails (exit 1,
never a pass) naming it in every output (behave/merge_report.py), while a foreign or
missing shard stays a refusal (exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mfops.release.sharded import foreign
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)
from tests.cli_runner import installed_mfops
from tests.gitrepo import GitRepo

BAD_SUITE = "model: expert\ncases:\n  - name: x\n    prompt: hi\n    assert:\n      - type: nope\n"


def _shard(lab: Lab, k: int, n: int, path: Path, *extra: str) -> tuple[int, str, str]:
    return lab.mfops(
        "test", "--tag", "cand", "--shard", f"{k}/{n}", "--shard-report", str(path), *extra
    )


def _complete(lab: Lab, k: int, n: int, tmp_path: Path) -> Path:
    path = tmp_path / f"shard-{k}.json"
    code, out, err = _shard(lab, k, n, path)
    assert code in (0, 1), out + err
    assert "failed" not in json.loads(path.read_text())["shard"]
    return path


def _block(path: Path) -> dict:
    return json.loads(path.read_text())["shard"]


@pytest.fixture(name="built")
def built_fixture(lab: Lab) -> Lab:
    lab.build("cand")
    return lab


def _until(done, proc: subprocess.Popen[str]) -> None:
    """Poll until `done()` (the mfops process still running), or fail after a while."""
    for _ in range(6000):
        if done():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    pytest.fail("mfops never got that far")


# --------------------------------------------------------------------------- the shard


def test_a_shard_with_a_bad_suite_writes_why_and_exits_2(built: Lab, tmp_path):
    built.write({"expert/expert.test.yaml": BAD_SUITE})
    paths = [tmp_path / f"shard-{k}.json" for k in (1, 2)]
    for k, path in enumerate(paths, 1):
        code, out, err = _shard(built, k, 2, path)
        assert code == 2, out + err
        block = _block(path)
        line = err.strip().removeprefix("mfops: ")
        assert block["failed"] == line and "expert/expert.test.yaml:6" in line
        assert (block["index"], block["count"], block["exit_code"]) == (k, 2, 2)
        assert (block["commit"], block["dirty"], block["tag"]) == (built.repo.head(), False, "cand")
    code, out, err = built.mfops("report", "merge", *map(str, paths))
    assert code == 1, out + err
    assert out.startswith("merge failed: 2 of 2 shards did not complete\n")
    assert err.count("did not complete (exit 2): expert/expert.test.yaml:6") == 2
    # a shard that stopped on uncommitted changes is not one of the clean shards' run
    built.write({"expert/expert.test.yaml": BAD_SUITE + "# edited\n"}, commit=False)
    assert _shard(built, 2, 2, paths[1])[0] == 2 and _block(paths[1])["dirty"] is True
    code, out, err = built.mfops("report", "merge", *map(str, paths))
    assert code == 2 and "shards disagree on the dirty" in err, out + err


def test_the_merge_names_a_shard_whose_build_failed_in_every_output(lab: Lab, tmp_path):
    assert lab.mfops("lock", "--pull")[0] == 0
    lab.repo.commit("lock")
    paths = []
    for k in (1, 2, 3):
        path = tmp_path / f"gate-{k}.json"
        if k == 2:
            lab.double.faults.fail_next("/api/create", status=400, error="template error: boom")
        code, out, err = lab.mfops(
            "gate", "--all", "--shard", f"{k}/3", "--shard-report", str(path)
        )
        assert code == (1 if k == 2 else 0), out + err
        paths.append(path)
    block = _block(paths[1])
    assert block["failed"] == "gate failed at build: 1 model failed"
    assert (block["exit_code"], block["stage"], block["commit"]) == (1, "build", lab.repo.head())
    assert block["tag"] == f"sha-{lab.repo.head()[:12]}"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = lab.mfops(
        "report",
        "merge",
        *map(str, paths),
        "--json",
        str(out_dir / "v.json"),
        "--junit",
        str(out_dir / "j.xml"),
        "--html",
        str(out_dir / "r.html"),
    )
    assert code == 1, out + err
    why = "did not complete (exit 1): gate failed at build: 1 model failed"
    assert err.strip() == f"mfops: {paths[1]} (shard 2/3) {why}"
    assert out.splitlines() == [
        "merge failed: 1 of 3 shards did not complete",
        f"  shard 1/3 ({paths[0]}): completed",
        f"  shard 2/3 ({paths[1]}): {why}",
        f"  shard 3/3 ({paths[2]}): completed",
    ]
    verdict = json.loads((out_dir / "v.json").read_text())
    assert verdict["ok"] is False and verdict["cases"] == []
    assert verdict["merged"]["incomplete"] == [
        {
            "index": 2,
            "file": str(paths[1]),
            "reason": "gate failed at build: 1 model failed",
            "exit_code": 1,
        }
    ]
    assert [s["state"] for s in verdict["merged"]["shards"]] == ["completed", "failed", "completed"]
    suite = ET.parse(out_dir / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("tests") == "3"
    errors = [c.find("error") for c in suite.iter("testcase")]
    assert [e is not None for e in errors] == [False, True, False]
    assert errors[1] is not None and errors[1].get("message") == why
    page = (out_dir / "r.html").read_text()
    assert "1 of 3 shards did not complete" in page and "gate failed at build" in page
    code, md, _ = lab.mfops("report", "merge", *map(str, paths), "--format", "markdown")
    assert code == 1
    assert md.startswith("## mfops test: ❌ failed (1 of 3 shards did not complete)\n")
    assert "| 2/3 | ❌ did not complete | 1 | gate failed at build: 1 model failed |" in md
    code, js, _ = lab.mfops("report", "merge", *map(str, paths), "--format", "json")
    assert code == 1 and json.loads(js)["merged"]["incomplete"][0]["index"] == 2
    # promote never takes such a verdict
    run = {"id": None, "attempt": None, "repository": None}
    why_not = foreign(verdict, {**run, "id": "1", "attempt": "1"}, lab.repo.head(), "x")
    assert why_not == "some of its shards did not complete"


def test_a_shard_whose_server_is_down_writes_why(built: Lab, tmp_path):
    good = _complete(built, 2, 2, tmp_path)
    path = tmp_path / "shard-1.json"
    code, out, err = built.mfops(
        "test", "--tag", "cand", "--shard", "1/2", "--shard-report", str(path),
        "--host", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 2, out + err
    block = _block(path)
    assert block["exit_code"] == 2 and "127.0.0.1:9" in block["failed"]
    assert block["failed"] == err.strip().removeprefix("mfops: ")
    code, out, err = built.mfops("report", "merge", str(path), str(good))
    assert code == 1, out + err
    assert f"{path} (shard 1/2) did not complete (exit 2): " in err


def test_a_shard_outside_a_git_repository_records_no_commit(built: Lab, tmp_path):
    good = _complete(built, 1, 2, tmp_path)
    bare = tmp_path / "not-a-repo"
    bare.mkdir()
    path = tmp_path / "shard-2.json"
    proc = subprocess.run(
        [installed_mfops(), "-C", str(bare), "test", "--shard", "2/2", "--shard-report", str(path)],
        env={**os.environ, "OLLAMA_HOST": built.double.url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    block = _block(path)
    assert (block["commit"], block["dirty"], block["tag"]) == (None, None, None)
    assert block["failed"] == proc.stderr.strip().removeprefix("mfops: ")
    # the unknown commit and candidate neither match nor contradict: a failed merge
    code, out, err = built.mfops("report", "merge", str(good), str(path))
    assert code == 1, out + err
    assert "(shard 2/2) did not complete (exit 2)" in err
    # every shard failing, one of them knowing its commit: a failed merge, never a pass
    other = GitRepo(tmp_path / "other")
    other.write("mfops.yaml", "defaults: [\n")  # does not parse: exit 2, commit known
    other.commit("other")
    first = tmp_path / "shard-1-other.json"
    proc = subprocess.run(
        [installed_mfops(), "-C", str(other.root), "test", "--shard", "1/2",
         "--shard-report", str(first)],
        env={**os.environ, "OLLAMA_HOST": built.double.url},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and _block(first)["commit"] == other.head()
    code, out, err = built.mfops("report", "merge", str(first), str(path))
    assert code == 1, out + err
    assert out.startswith("merge failed: 2 of 2 shards did not complete")


def test_a_failed_shard_of_another_commit_is_refused(built: Lab, tmp_path):
    good = _complete(built, 1, 2, tmp_path)
    path = tmp_path / "shard-2.json"
    built.write({"expert/expert.test.yaml": BAD_SUITE})  # committed: another commit
    code, out, err = _shard(built, 2, 2, path)
    assert code == 2 and _block(path)["commit"] == built.repo.head()
    code, out, err = built.mfops("report", "merge", str(good), str(path))
    assert code == 2, out + err
    assert "shards disagree on the commit" in err


def test_an_interrupted_shard_writes_why_and_exits_as_interrupted(built: Lab, tmp_path):
    """The installed mfops, stopped by SIGTERM while its first sample runs (a cancelled CI
    job, killed seconds later): it starts no other sample, writes its report and exits
    143."""
    good = tmp_path / "shard-2.json"
    code, out, err = _shard(built, 2, 2, good, "--samples", "3")
    assert code in (0, 1), out + err
    plan = _block(good)
    assert plan["plan"]["units"] - len(plan["units"]) >= 3  # shard 1 has more to run
    built.double.faults.latency["/api/chat"] = 5.0
    path = tmp_path / "shard-1.json"
    before = built.double.calls.count("/api/chat")  # shard 2's, in-process
    proc = subprocess.Popen(
        [installed_mfops(), "-C", str(built.root), "test", "--tag", "cand", "--no-cache",
         "-j", "1", "--samples", "3", "--shard", "1/2", "--shard-report", str(path)],
        env={**os.environ, "OLLAMA_HOST": built.double.url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _until(lambda: built.double.calls.count("/api/chat") > before, proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        built.double.faults.latency.clear()
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert built.double.calls.count("/api/chat") == before + 1  # only the one in flight
    block = _block(path)
    assert block["failed"] == "interrupted (SIGTERM)"
    assert (block["exit_code"], block["tag"]) == (143, "cand")
    assert not list(tmp_path.glob("shard-1.json.*"))  # written atomically: no leftovers
    code, out, err = built.mfops("report", "merge", str(path), str(good))
    assert code == 1 and "did not complete (exit 143): interrupted (SIGTERM)" in err


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_stops_at_once_with_the_report_written(built: Lab, tmp_path, second):
    """The first stop signal lets the sample in flight end; a second one (Ctrl-C again, or a
    cancelled CI job's SIGTERM after its SIGINT) means "now": mfops writes its report and
    exits without waiting for that sample, which on a slow model can take minutes."""
    built.double.faults.latency["/api/chat"] = 120.0
    path = tmp_path / "shard-1.json"
    before = built.double.calls.count("/api/chat")
    proc = subprocess.Popen(
        [installed_mfops(), "-C", str(built.root), "test", "--tag", "cand", "--no-cache",
         "-j", "1", "--shard", "1/2", "--shard-report", str(path)],
        env={**os.environ, "OLLAMA_HOST": built.double.url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _until(lambda: built.double.calls.count("/api/chat") > before, proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # still waiting for the sample in flight
        proc.send_signal(second)
        out, err = proc.communicate(timeout=60)  # long before the sample's 120 s end
    finally:
        if proc.poll() is None:
            proc.kill()
        built.double.faults.latency.clear()
    assert built.double.calls["/api/chat"][-1].ended is None  # it did not wait for it
    named = "" if second == signal.SIGINT else f" ({second.name})"
    assert proc.returncode == 128 + second, out + err
    lines = err.splitlines()
    assert lines[-1] == f"mfops: interrupted{named}"
    stopping = "mfops: stopping once the server calls in flight end (interrupt again to stop now)"
    assert lines.count(stopping) == 1  # said at the first signal, while the sample ran
    block = _block(path)
    assert block["failed"] == f"interrupted{named}"
    assert block["exit_code"] == 128 + second
