"""SIGTERM and SIGHUP during a promotion are handled like Ctrl-C (issue 18, item 4): real
signals to a real `mfops` process, against the double slowed down so that a copy is in
flight when the signal arrives. The tags end where they were, no backup tag is left, the
in-flight copy is waited for (it cannot land after the restore), and the record holds the
listing verified after the restore."""

from __future__ import annotations

import signal
import subprocess

import httpx
import pytest

from tests.conftest import installed_mfops
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)
from tests.robustness.test_concurrency import wait_for

TAGS = ("v1", "v2", "latest")


def spawn(rel: Release, *args: str) -> subprocess.Popen[str]:
    import os

    return subprocess.Popen(
        [installed_mfops(), "-C", str(rel.root), *args],
        env={**os.environ, "OLLAMA_HOST": rel.double.url},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def in_flight_copy(rel: Release, predicate) -> bool:
    return any(
        c.ended is None and predicate(c.body["destination"]) for c in rel.double.calls["/api/copy"]
    )


def backups(rel: Release) -> list[str]:
    return [n for n in rel.double.model_names() if "mfops-backup" in n]


@pytest.fixture(name="second")
def second_release(rel: Release) -> tuple[Release, str, dict]:
    """v1 and latest at the first candidate; a second candidate (the expert changed) built.
    Returns the release, the new candidate tag and the tags' digests before promoting it."""
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.ok("build", "--all")
    before = rel.digests(TAGS)
    rel.double.calls.reset()
    return rel, cand, before


def stop_during(rel: Release, cand: str, signum: int, predicate) -> tuple[int, str, str]:
    rel.double.faults.latency["/api/copy"] = 1.0
    proc = spawn(rel, "promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest")
    try:
        wait_for(lambda: in_flight_copy(rel, predicate), timeout=60, what="a copy in flight")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_sigterm_mid_copy_puts_every_tag_back_and_records_it(second):
    rel, cand, before = second
    # base:v2 has landed; expert:v2 is in flight when SIGTERM arrives
    code, out, err = stop_during(rel, cand, signal.SIGTERM, lambda d: d == "expert:v2")
    assert code == 128 + signal.SIGTERM, out + err
    assert err.strip().splitlines()[-1] == "mfops: interrupted (SIGTERM)"
    assert rel.digests(TAGS) == before
    assert backups(rel) == []
    # nothing reached the server after the restore began: every copy ended before a delete
    deletes = rel.double.calls["/api/delete"]
    assert deletes and all(
        c.ended is not None and c.ended <= min(d.started for d in deletes)
        for c in rel.double.calls["/api/copy"]
        if "mfops-backup" not in c.body["destination"] and "mfops-backup" not in c.body["source"]
    )
    entry = rel.history()[-1]
    assert entry["outcome"] == "failed" and entry["restored"] is True
    assert "interrupted (SIGTERM)" in entry["reason"]
    recorded = {
        f"{m['name']}:{d['tag']}": d["after"] for m in entry["models"] for d in m["destinations"]
    }
    assert recorded["base:v2"] is None and recorded["expert:v2"] is None
    assert recorded["expert:latest"] == before["expert:latest"]


def test_sighup_during_the_backups_leaves_no_backup_tag(second):
    rel, cand, before = second
    code, out, err = stop_during(rel, cand, signal.SIGHUP, lambda d: "mfops-backup" in d)
    assert code == 128 + signal.SIGHUP, out + err
    assert rel.digests(TAGS) == before
    assert backups(rel) == []
    entry = rel.history()[-1]
    assert entry["outcome"] == "failed" and "interrupted (SIGHUP)" in entry["reason"]


def test_sigterm_during_the_tests_moves_nothing(second):
    rel, cand, before = second
    rel.double.faults.latency["/api/chat"] = 1.0
    proc = spawn(rel, "promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest")
    try:
        wait_for(lambda: rel.double.calls.in_flight("/api/chat") > 0, timeout=60, what="a chat")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in err
    assert rel.digests(TAGS) == before and rel.double.calls.count("/api/copy") == 0


def test_a_run_that_finds_leftover_backup_tags_says_so_and_cleans_them(second):
    rel, cand, _ = second
    leftover = "expert:mfops-backup-0a1b2c-1"
    httpx.post(
        f"{rel.double.url}/api/copy",
        json={"source": "expert:latest", "destination": leftover},
        timeout=10,
    ).raise_for_status()
    out = rel.ok("promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest")
    assert f"warning: found the backup tag {leftover} left by an earlier run: deleted" in out
    assert backups(rel) == []
    assert rel.double.digest("expert:latest") == rel.double.digest(f"expert:{cand}")


def test_sigterm_during_a_rollback_puts_the_alias_back_and_records_it(second):
    rel, cand, _ = second
    rel.ok("promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest", "--alias", "prod")
    before = rel.digests(("v1", "v2", "latest", "prod"))
    rel.double.calls.reset()
    rel.double.faults.latency["/api/copy"] = 1.0
    proc = spawn(rel, "rollback", "expert", "--to", "v1", "--alias", "latest", "--alias", "prod")
    try:
        wait_for(
            lambda: in_flight_copy(rel, lambda d: d == "expert:prod"), timeout=60, what="a copy"
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert rel.digests(("v1", "v2", "latest", "prod")) == before
    assert backups(rel) == []
    entry = rel.history()[-1]
    assert (entry["kind"], entry["outcome"], entry["restored"]) == ("rollback", "failed", True)
    assert "interrupted (SIGTERM)" in entry["reason"]
