"""A stop signal that arrives while a release record is being written waits for the write
(release/signals.held_signals). It used to raise in the middle of it: the interrupt killed
`git update-ref` after the tags had moved, so a deploy done on every host, or a promotion
done, left no record (`status --env` called every host drifted), and the killed git left
its lock file behind, which then failed every later record of the clone.

Real signals to a real `mfops` process. The record write is held open by a git
`reference-transaction` hook that, for refs/mfops/history, says it is there and waits for
the test's go-ahead: the signal provably arrives mid-write. The go-ahead comes once mfops
has exited or a few seconds have passed, so a writer that abandons the write is caught.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import installed_mfops
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)
from tests.release.test_deploy import (  # noqa: F401  (fixtures)
    MODELS,
    hosts_fixture,
    listing,
    prod_fixture,
)
from tests.robustness.test_concurrency import wait_for

HOOK = """#!/bin/sh
[ "$1" = prepared ] || exit 0
grep -q refs/mfops/history || exit 0
touch '{inside}'
n=0
while [ ! -e '{go}' ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
exit 0
"""


def hold_record_writes(rel: Release, tmp: Path) -> tuple[Path, Path]:
    """Make every write of refs/mfops/history wait in a hook; (inside, go) marker files."""
    inside, go = tmp / "hook-inside", tmp / "hook-go"
    hooks = tmp / "hooks"
    hooks.mkdir()
    hook = hooks / "reference-transaction"
    hook.write_text(HOOK.format(inside=inside, go=go))
    hook.chmod(0o755)
    rel.repo.git("config", "core.hooksPath", str(hooks))
    return inside, go


def stop_mid_record(rel: Release, tmp: Path, signum: int, *args: str) -> tuple[int, str, str]:
    inside, go = hold_record_writes(rel, tmp)
    proc = subprocess.Popen(
        [installed_mfops(), "-C", str(rel.root), *args],
        env={**os.environ, "OLLAMA_HOST": rel.double.url},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(inside.exists, timeout=60, what="the record write")
        proc.send_signal(signum)
        # Before the fix mfops killed the waiting git at once (subprocess gives a child a
        # quarter of a second after an interrupt) and exited; now it waits for the write.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
        go.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        go.touch()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    rel.repo.git("config", "--unset", "core.hooksPath")
    return proc.returncode, out, err


def lock_file(rel: Release) -> Path:
    return rel.root / ".git" / "refs" / "mfops" / "history.lock"


def test_sigterm_while_a_deploy_is_recorded_keeps_the_record(prod, hosts, tmp_path):
    before = len(prod.history())
    code, out, err = stop_mid_record(
        prod, tmp_path, signal.SIGTERM, "deploy", "v1", "--env", "prod", "--max-parallel", "3"
    )
    assert code == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "mfops: interrupted (SIGTERM)"
    # every host was deployed before the signal: the record says so, and the report too
    records = prod.history()
    assert len(records) == before + 1
    record = records[-1]
    assert record["kind"] == "deploy" and record["outcome"] == "deployed"
    assert [h["state"] for h in record["hosts"]] == ["deployed"] * 3
    assert "recorded as " + record["id"] in out
    assert not lock_file(prod).exists()
    for d in hosts:
        assert {f"{m}:v1" for m in MODELS} <= set(listing(d))
    code, status, err = prod.mfops("status", "--env", "prod")
    assert code == 0, status + err
    assert status.count(": current") == 3, status
    # and the clone can still record: the next deploy is written
    code, out, err = prod.mfops("deploy", "v1", "--env", "prod")
    assert code == 0, out + err
    assert len(prod.history()) == before + 2


def test_sigint_while_a_promotion_is_recorded_keeps_the_record(rel, tmp_path):
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.ok("build", "--all")
    code, out, err = stop_mid_record(
        rel, tmp_path, signal.SIGINT, "promote", "--all", "--from", cand, "--to", "v2"
    )
    assert code == 130, out + err
    assert "Traceback" not in err
    record = rel.history()[-1]
    assert record["kind"] == "promote" and record["outcome"] == "promoted"
    # the report of what was done and recorded, then the interrupt
    assert f"recorded in the history as {record['id']}" in out
    assert err.strip().splitlines()[-1] == "mfops: interrupted (SIGINT)"
    assert record["to"] == "v2"
    assert all(v is not None for v in rel.digests(("v2",)).values())
    assert not lock_file(rel).exists()
    rel.ok("promote", "--all", "--from", cand, "--to", "v3")
    assert rel.history()[-1]["to"] == "v3"


def test_a_lock_file_left_on_the_records_refuses_a_promotion_before_any_tag_moves(rel):
    """A git killed mid-write leaves refs/mfops/history.lock behind. Every record write then
    failed after 50 attempts as "kept changing (try again)", after the tags had moved: a
    release without a record, and advice that could never work."""
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.ok("build", "--all")
    before, records = rel.digests(("v2", "latest")), rel.history()
    lock_file(rel).write_text("")
    code, out, err = rel.mfops(
        "promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest"
    )
    assert code == 2, out + err
    assert err.strip().splitlines() == [
        f"mfops: cannot record a release: refs/mfops/history is locked ({lock_file(rel)} exists)"
        " (if no git or mfops is writing in this repository, a git stopped mid-write left that "
        "file behind: delete it, then run the command again)"
    ]
    assert rel.digests(("v2", "latest")) == before
    code, out, err = rel.mfops("rollback", "expert", "--to", "v1")
    assert code == 2 and "refs/mfops/history is locked" in err, out + err
    lock_file(rel).unlink()
    assert rel.history() == records
    rel.ok("promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest")
    assert rel.history()[-1]["to"] == "v2"


def test_a_lock_file_left_on_the_records_refuses_a_deploy_before_any_host_is_touched(prod, hosts):
    lock_file(prod).write_text("")
    code, out, err = prod.mfops("deploy", "v1", "--env", "prod")
    assert code == 2, out + err
    assert "refs/mfops/history is locked" in err and str(lock_file(prod)) in err
    assert all(d.calls.count("/api/create") == 0 for d in hosts)
    assert all(not {f"{m}:v1" for m in MODELS} & set(listing(d)) for d in hosts)
