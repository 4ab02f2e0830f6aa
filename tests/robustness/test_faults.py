"""Faults during server work: whatever breaks, the state, the lock and the server's tags stay
consistent, and one clear line says what happened.

The server side misbehaves through the Ollama double's fault injection (a stopped server,
dropped streams, error lines, slow answers); mfops itself is killed with SIGKILL as a real
subprocess. Nothing of mfops is patched.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from tests.buildkit import BASE, Workspace, make_workspace
from tests.buildkit import ollama_double_fixture as ollama_double  # noqa: F401
from tests.robustness.test_concurrency import spawn_mfops, wait_for

MODELS = ("base", "mid", "leaf", "other")


@pytest.fixture
def ws(tmp_path: Path, ollama_double) -> Workspace:  # noqa: F811
    return make_workspace(tmp_path, ollama_double)


def recorded(ws: Workspace) -> set[str]:
    """The models the server holds at a content tag (`name:mf-<digest>`), by name: what a
    build verified and any clone can see as built. Empty while the server does not answer."""
    import httpx

    try:
        body = httpx.get(f"{ws.double.url}/api/tags", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return set()
    return {m["name"].split(":")[0] for m in body["models"] if ":mf-" in m["name"]}


def targets(ws: Workspace, names) -> list[str]:
    return sorted(f"{n}:{ws.tag()}" for n in names)


def by_model(report: dict) -> dict[str, dict]:
    return {m["model"]: m for m in report["models"]}


# --------------------------------------------------------------------------- server killed


def test_server_killed_mid_build_keeps_what_finished_and_rerun_creates_only_the_rest(
        ws: Workspace):  # fmt: skip
    double = ws.double
    double.faults.stream_delay["/api/create"] = 0.05
    stopped = threading.Event()

    def kill_server() -> None:
        wait_for(lambda: len(recorded(ws)) >= 2, what="two models recorded")
        double.stop()
        stopped.set()

    killer = threading.Thread(target=kill_server, daemon=True)
    killer.start()
    code, out, err = ws.mfops("build", "--all", "--jobs", "1", "--format", "json")
    killer.join(30)
    assert stopped.is_set()
    assert code == 1, err
    report = json.loads(out)
    results = by_model(report)
    failed = [r for r in results.values() if r["action"] == "failed"]
    assert failed and all(
        "cannot reach Ollama" in r["error"]
        or "connection broken" in r["error"]
        or "not listed" in r["error"]
        or "not recorded" in r["error"]
        for r in failed
    )
    # the server comes back (same store, same port): only what is missing is created
    double.faults.clear()
    double.start()
    kept = recorded(ws)  # what was verified before the server died sits at its content tag
    assert len(kept) >= 2
    assert {m for m, r in results.items() if r["action"] == "created"} <= kept
    assert not {m for m, r in results.items() if r["action"] == "skipped"} & kept
    double.calls.reset()
    report = ws.build_json("--all")
    assert sorted(ws.creates()) == targets(ws, set(MODELS) - kept)
    assert recorded(ws) == set(MODELS)
    assert {m["action"] for m in report["models"] if m["model"] in kept} <= {"up to date", "tagged"}


def test_mfops_killed_mid_build_keeps_a_valid_state_and_rerun_creates_only_the_rest(
        ws: Workspace):  # fmt: skip
    ws.double.faults.stream_delay["/api/create"] = 0.05
    proc = spawn_mfops(ws.root, ws.double.url, "build", "--all", "--jobs", "1")
    wait_for(lambda: len(recorded(ws)) >= 1, what="a first model recorded")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    kept = recorded(ws)  # parses: the file is the old or the new version, never half of one
    assert kept and kept != set(MODELS)
    ws.double.faults.clear()
    ws.double.calls.reset()
    ws.build_json("--all")
    assert sorted(ws.creates()) == targets(ws, set(MODELS) - kept)
    assert recorded(ws) == set(MODELS)


# --------------------------------------------------------------------------- dropped streams


def test_create_stream_dropped_once_is_retried_and_recorded(ws: Workspace):
    ws.double.faults.drop_stream("/api/create", after_lines=1)
    report = ws.build_json("other")
    assert by_model(report)["other"]["action"] == "created"
    assert ws.double.calls.count("/api/create") == 2
    assert recorded(ws) == {"other"}


def test_create_stream_dropped_every_time_fails_that_model_and_records_nothing_of_it(
        ws: Workspace):  # fmt: skip
    ws.double.faults.drop_stream("/api/create", after_lines=1, times=3)  # base: every attempt
    report = ws.build_json("--all", "--jobs", "1", expect=1)
    results = by_model(report)
    assert results["base"]["action"] == "failed"
    assert f"create base:{ws.tag()}: connection broken" in results["base"]["error"]
    assert results["mid"]["action"] == results["leaf"]["action"] == "skipped"
    assert results["other"]["action"] == "created"
    assert recorded(ws) == {"other"}


def test_error_line_mid_create_fails_the_model_and_is_not_recorded(ws: Workspace):
    ws.double.faults.fail_stream("/api/create", after_lines=1, error="no space left on device")
    code, out, _err = ws.mfops("build", "other")
    assert code == 1
    assert f"create other:{ws.tag()}: no space left on device (during the stream)" in out
    assert ws.double.calls.count("/api/create") == 1  # the server's verdict: not retried
    assert recorded(ws) == set()


def test_pull_dropped_once_during_build_pull_is_retried(ws: Workspace):
    ws.double.add_registry_model("llama3.2:3b", system="updated upstream")
    ws.double.faults.drop_stream("/api/pull", after_lines=1)
    report = ws.build_json("--all", "--pull")
    assert report["ok"]
    assert ws.double.calls.count("/api/pull") == 2
    assert "mfops.lock updated" in " ".join(report["notes"])


def test_pull_dropped_every_time_is_one_line_and_changes_nothing(ws: Workspace):
    ws.double.add_registry_model("llama3.2:3b", system="updated upstream")
    lock_before = (ws.root / "mfops.lock").read_bytes()
    ws.double.faults.drop_stream("/api/pull", after_lines=1, times=3)
    code, out, err = ws.mfops("build", "--all", "--pull")
    assert code == 2 and out == ""
    *progress, line = err.strip().splitlines()  # pull progress, then the one error line
    assert all(p.startswith("pull llama3.2:3b: ") for p in progress)
    assert line.startswith(f"mfops: Ollama at {ws.double.url}: pull llama3.2:3b: connection broken")
    assert (ws.root / "mfops.lock").read_bytes() == lock_before
    assert ws.double.calls.count("/api/create") == 0
    assert recorded(ws) == set()


def test_lock_pull_dropped_every_time_leaves_the_lock_alone(ws: Workspace):
    ws.double.add_registry_model("llama3.2:3b", system="updated upstream")
    lock_before = (ws.root / "mfops.lock").read_bytes()
    ws.double.faults.drop_stream("/api/pull", after_lines=1, times=3)
    code, _out, err = ws.mfops("lock", "--pull", "--update")
    assert code == 2
    assert "pull llama3.2:3b: connection broken" in err
    assert (ws.root / "mfops.lock").read_bytes() == lock_before


def test_listing_dropped_after_create_is_reported_not_recorded(ws: Workspace):
    """The manifest digest comes from /api/tags; without it the model is reported failed,
    although it was verified and is at its content tag (a rerun only copies it)."""
    original = ws.double.api.create
    count = 0

    def create(*args, **kwargs):
        nonlocal count
        count += 1
        ws.double.faults.disconnect_next("/api/tags", times=3)  # the recorder's listing
        return original(*args, **kwargs)

    ws.double.api.create = create  # type: ignore[method-assign]
    report = ws.build_json("other", expect=1)
    other = by_model(report)["other"]
    assert other["action"] == "failed" and other["error"].startswith("created, but not listed")
    assert recorded(ws) == {"other"}
    ws.double.calls.reset()
    assert by_model(ws.build_json("other"))["other"]["action"] == "up to date"
    assert ws.double.calls.count("/api/create") == 0


# --------------------------------------------------------------------------- slow server


def test_slow_create_outlives_timeout_and_is_sent_once(ws: Workspace):
    """--timeout bounds plain calls; a create keeps its own long deadline (a conversion can
    be silent for minutes) and is never re-sent while the first may still run (#13 item 5)."""
    ws.double.faults.stream_delay["/api/create"] = 1.0
    code, out, _err = ws.mfops("build", "other", "--timeout", "0.3")
    assert code == 0, out
    assert ws.double.calls.count("/api/create") == 1
    assert recorded(ws) == {"other"}


def test_create_timing_out_on_its_own_deadline_is_not_resent(ollama_double):  # noqa: F811
    from mfops.server.client import CreateRequest, Host, Server, ServerOptions, ServerTimeout

    ollama_double.client().pull(BASE)
    ollama_double.faults.stream_delay["/api/create"] = 2.0
    opts = ServerOptions(retries=2, backoff=0.01, timeout=30, stream_timeout=0.3)
    with Server(Host(ollama_double.url), opts) as srv, pytest.raises(ServerTimeout) as err:
        srv.create(CreateRequest(model="m:1", from_=BASE, system="x"))
    assert "create m:1: no answer in time" in err.value.message
    assert ollama_double.calls.count("/api/create") == 1


def test_slow_probe_is_exit_2_naming_the_call(ws: Workspace):
    ws.double.faults.latency["/api/version"] = 2.0
    code, out, err = ws.mfops("build", "--all", "--timeout", "0.3")
    assert code == 2 and out == ""
    assert err.strip() == (
        f"mfops: Ollama at {ws.double.url}: version: no answer in time "
        "(within 0.3 s) (raise --timeout if the server is busy)"
    )
    assert ws.double.calls.count("/api/create") == 0


def test_slow_chat_in_mfops_test_is_an_error_of_that_case_and_is_not_cached(tmp_path: Path):
    from tests.behavekit import SEED_FILES, Lab, seeded_double
    from tests.gitrepo import GitRepo

    double = seeded_double()
    try:
        lab = Lab(GitRepo(tmp_path / "repo"), double)
        lab.write(SEED_FILES)
        lab.build("t1")
        double.faults.latency["/api/chat"] = 2.0
        code, out, err = lab.mfops("test", "expert", "--tag", "t1", "--timeout", "0.3",
                                   "--format", "json")  # fmt: skip
        assert code == 1, err
        report = json.loads(out)
        text = json.dumps(report)
        assert "chat with expert:t1: no answer in time (within 0.3 s)" in text
        double.faults.clear()
        double.calls.reset()
        code, out, err = lab.mfops("test", "expert", "--tag", "t1")
        assert code == 0, out + err
        assert lab.chats() > 0  # nothing of the timed-out run was cached as a result
    finally:
        double.stop()


# --------------------------------------------------------------------------- promotion


def test_connection_lost_during_promote_puts_the_moved_tags_back(tmp_path: Path):
    from tests.behavekit import seeded_double
    from tests.promotekit import make_release
    from tests.release.test_promote import released_v1

    double = seeded_double()
    try:
        rel = make_release(tmp_path, double)
        before = released_v1(rel)
        cand = rel.commit(
            {
                "expert/Modelfile": "FROM base\nSYSTEM You are a Python expert. "
                "Never discuss pricing. Never discuss JavaScript. Be brief.\n"
            }
        )
        rel.ok("build", "--changed")
        original = double.api.copy
        seen = 0

        def copy(req):
            nonlocal seen
            result = original(req)
            seen += 1
            if seen == 2:  # the backup of expert:latest, then expert:v2 moved: cut the rest
                double.faults.disconnect_next("/api/copy", times=3)
            return result

        double.api.copy = copy  # type: ignore[method-assign]
        code, _out, err = rel.mfops("promote", "expert", "--from", cand, "--to", "v2",
                                   "--alias", "latest")  # fmt: skip
        assert code == 1
        [line] = err.strip().splitlines()
        assert "every moved tag was put back" in line and "connection broken" in line
        assert rel.digests(("v2", "latest"), ("expert",)) == {
            "expert:v2": None,
            "expert:latest": before["expert:latest"],
        }
        entry = rel.history()[-1]
        assert (entry["outcome"], entry["restored"]) == ("failed", True)
    finally:
        double.stop()


def test_server_gone_during_promote_is_recorded_as_a_failed_attempt(tmp_path: Path):
    from tests.behavekit import seeded_double
    from tests.promotekit import make_release

    double = seeded_double()
    try:
        rel = make_release(tmp_path, double)
        cand = rel.tag()
        original = double.api.copy

        def copy(req):
            result = original(req)
            if double.running:
                double.stop()  # the server dies right after doing the first copy
            return result

        double.api.copy = copy  # type: ignore[method-assign]
        code, out, err = rel.mfops("promote", "--all", "--from", cand, "--to", "v1")
        assert code == 1, out + err
        [line] = err.strip().splitlines()
        assert "putting them back failed too: base:v1: cannot reach Ollama" in line
        assert "NOT PUT BACK: base:v1: cannot reach Ollama" in out
        double.api.copy = original  # type: ignore[method-assign]
        double.start()
        # the history holds the failed attempt and exactly what was left moved
        entry = rel.history()[-1]
        assert (entry["outcome"], entry["restored"]) == ("failed", False)
        base, expert = entry["models"]
        assert base["destinations"] == [
            {"tag": "v1", "before": None, "after": double.digest(f"base:{cand}")}
        ]
        assert expert["destinations"] == [{"tag": "v1", "before": None, "after": None}]
        assert double.has_model("base:v1") and not double.has_model("expert:v1")
        # once the server is back, promoting again completes the release
        rel.ok("promote", "--all", "--from", cand, "--to", "v1")
        assert double.has_model("expert:v1")
    finally:
        double.stop()


def test_a_stop_signal_ignored_at_start_stays_ignored(ws: Workspace):
    """`nohup mfops build &`: the terminal closing sends SIGHUP, which nohup set to be
    ignored; mfops turned it into an interrupt all the same and stopped the build. A signal
    ignored when mfops starts is now left ignored; the others still stop it (exit 128+N)."""
    ws.double.faults.stream_delay["/api/create"] = 0.2
    proc = spawn_mfops(
        ws.root, ws.double.url, "build", "--all", "--jobs", "1", "--format", "json",
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )  # fmt: skip
    wait_for(lambda: len(recorded(ws)) >= 1, what="a first model recorded")
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["ok"] and recorded(ws) == set(MODELS)


def test_ctrl_c_mid_build_exits_130_and_rerun_creates_only_the_rest(ws: Workspace):
    # slow enough that the rest is still building when the poll (an HTTP listing of the
    # content tags, slower than reading a file on a loaded machine) sees the first model
    ws.double.faults.stream_delay["/api/create"] = 0.2
    proc = spawn_mfops(ws.root, ws.double.url, "build", "--all", "--jobs", "1")
    wait_for(lambda: len(recorded(ws)) >= 1, what="a first model recorded")
    # the rest crawls from now on, so the signal surely lands mid-build on a loaded machine
    ws.double.faults.stream_delay["/api/create"] = 0.5
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "mfops: interrupted"
    kept = recorded(ws)
    ws.double.faults.clear()
    ws.double.calls.reset()
    ws.build_json("--all")
    assert sorted(ws.creates()) == targets(ws, set(MODELS) - kept)
    assert recorded(ws) == set(MODELS)
