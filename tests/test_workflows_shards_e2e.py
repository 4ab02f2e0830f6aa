"""The template's opt-in sharded gate (repository variable MFOPS_SHARDED = true), run end
to end as tests/actionsrunner.py emulates the runner: N `shard` jobs, each on its own Ollama
double, the `merge` job joining their reports into one verdict (summary, comment, exit
code), and the `release` job promoting on yet another server only after that verdict,
trusting it for the models whose content there is what the shards tested."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfops.testing.double import OllamaDouble
from tests.actionsrunner import Cancel, JobResult, environ_for_steps, load_workflow, run_job
from tests.test_workflows import REUSABLE
from tests.test_workflows_e2e import BAD_RULES, BASE, GOOD_RULES, Pipeline, _pr_github, _tag_github

SHARDED = {"MFOPS_SHARDED": "true"}


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path, ollama_double, monkeypatch) -> Pipeline:
    """As tests/test_workflows_e2e.py's: the origin made by `mfops init --ci github`."""
    ollama_double.add_registry_model(
        BASE, template="{{ .System }} {{ .Prompt }}", license="LLAMA LICENSE"
    )
    return Pipeline(tmp_path, ollama_double, monkeypatch)


@pytest.fixture(name="servers")
def servers_fixture() -> Iterator[list[OllamaDouble]]:
    """Four more Ollama doubles: three shard runners' and the release job's server."""
    doubles = []
    for _ in range(4):
        double = OllamaDouble().start()
        double.add_registry_model(
            BASE, template="{{ .System }} {{ .Prompt }}", license="LLAMA LICENSE"
        )
        doubles.append(double)
    try:
        yield doubles
    finally:
        for double in doubles:
            double.stop()


def run(
    pipeline: Pipeline,
    job: str,
    github: dict[str, Any],
    commit: str,
    *,
    host: str,
    context: dict[str, Any] | None = None,
    files: dict[str, Path] | None = None,
    reusable: dict[str, Any] | None = None,
    cancel: Cancel | None = None,
) -> tuple[JobResult, Path]:
    """Pipeline.run for the sharded jobs: extra contexts (strategy, needs) and files the
    download steps would have put into $RUNNER_TEMP. `reusable`: the inputs of
    .github/workflows/mfops-gate.yml, run instead of the template. `cancel`: the job is
    cancelled (its timeout reached) while that step runs."""
    work = pipeline.checkout(commit)
    temp = pipeline.tmp / f"runner-temp{pipeline.runs}"
    temp.mkdir()
    for rel, src in (files or {}).items():
        (temp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, temp / rel)
    env = environ_for_steps(
        path_first=[pipeline.fakebin, Path(sys.executable).parent], home=Path(os.environ["HOME"])
    )
    env["FAKE_GH_LOG"] = str(pipeline.gh_log)
    env["FAKE_GH_EXISTING"] = ""
    ctx = {
        "github": {
            "repository": "acme/models",
            "server_url": "https://github.com",
            "run_id": "4242",
            "token": "ghs_not_a_real_token",
            **github,
        },
        "secrets": {"MFOPS_OLLAMA_HOST": host, "ollama-host": host},
        "inputs": {"models": "changed", **(reusable or {})},
        "vars": SHARDED if reusable is None else {},
        **(context or {}),
    }
    workflow = pipeline.workflow() if reusable is None else load_workflow(REUSABLE)
    result = run_job(
        workflow, job, context=ctx, workdir=work, runner_temp=temp, base_env=env, cancel=cancel
    )
    return result, temp


def shards(
    pipeline: Pipeline,
    github: dict[str, Any],
    commit: str,
    doubles: list[OllamaDouble],
    reusable: dict[str, Any] | None = None,
) -> list[Path]:
    out = []
    total = len(doubles)
    for index, double in enumerate(doubles):
        strategy = {"job-index": index, "job-total": total}
        job, temp = run(
            pipeline,
            "shard",
            github,
            commit,
            host=double.url,
            context={"matrix": {"shard": index + 1}, "strategy": strategy},
            reusable=reusable,
        )
        step = job.step("shard")
        assert step.ran and step.returncode in (0, 1), job.output
        assert job.step("pull-bases").ran and double.has_model(BASE)
        out.append(temp / "mfops-shards" / f"shard-{index + 1}.json")
        assert out[-1].exists(), job.output
    return out


def test_sharded_pull_request_merges_into_one_verdict_and_comments(pipeline, servers):
    base, merge = pipeline.pull_request(GOOD_RULES)
    github = _pr_github(base)
    # the single-job gate stands down; no release on a pull request
    assert not run(pipeline, "gate", github, merge, host=pipeline.double.url)[0].ran
    reports = shards(pipeline, github, merge, servers[:3])
    counts = [len(json.loads(p.read_text())["shard"]["units"]) for p in reports]
    assert sum(counts) == json.loads(reports[0].read_text())["shard"]["plan"]["units"]
    files = {f"mfops-shards/{p.name}": p for p in reports}
    job, temp = run(pipeline, "merge", github, merge, host="", files=files)
    assert job.status == "success", job.output
    assert [s.id for s in job.steps if s.ran] == ["merge", "comment"]
    assert job.summary.startswith("## mfops test: ✅ passed")
    verdict = json.loads((temp / "mfops-verdict.json").read_text())
    assert verdict["ok"] and verdict["merged"]["count"] == 3
    assert verdict["merged"]["run"]["id"] == "4242"
    post = pipeline.gh_calls()[-1]
    assert post["body"].startswith("<!-- mfops-gate -->\n## mfops test: ✅ passed")
    # a missing shard never passes: the merge refuses
    files.pop(f"mfops-shards/{reports[1].name}")
    job, _ = run(pipeline, "merge", github, merge, host="", files=files)
    assert job.status == "failure" and job.step("merge").returncode == 2
    assert "shard 2 of 3 missing" in job.step("merge").stderr


def test_a_failing_shard_fails_the_merged_verdict(pipeline, servers):
    base, merge = pipeline.pull_request(BAD_RULES)
    github = _pr_github(base)
    reports = shards(pipeline, github, merge, servers[:2])
    files = {f"mfops-shards/{p.name}": p for p in reports}
    job, _ = run(pipeline, "merge", github, merge, host="", files=files)
    assert job.status == "failure" and job.step("merge").returncode == 1
    assert "## mfops test: ❌ failed" in job.summary and "refuses javascript" in job.summary


def test_sharded_release_promotes_after_the_merged_verdict(pipeline, servers):
    commit = pipeline.origin.head()
    pipeline.origin.tag("v1.0.0")
    github = _tag_github("v1.0.0")
    reports = shards(pipeline, github, commit, servers[:3])
    files = {f"mfops-shards/{p.name}": p for p in reports}
    job, temp = run(pipeline, "merge", github, commit, host="", files=files)
    assert job.status == "success", job.output
    assert not job.step("comment").ran
    verdict = temp / "mfops-verdict.json"
    # the release job waits for the merge: not after a failed one
    failed = {"needs": {"merge": {"result": "failure"}}}
    assert not run(pipeline, "release", github, commit, host="", context=failed)[0].ran
    release = servers[3]  # the team's server: the shards never touched it
    job, _ = run(
        pipeline,
        "release",
        github,
        commit,
        host=release.url,
        context={"needs": {"merge": {"result": "success"}}},
        files={"mfops-verdict/mfops-verdict.json": verdict},
    )
    assert job.status == "success", job.output
    ran = [s.id for s in job.steps if s.ran]
    assert ran == [
        "fetch-records",
        "wait-for-ollama",
        "pull-bases",
        "promote-verdict",
        "push-records",
    ]
    step = job.step("promote-verdict")
    assert "(tested by the shards)" in step.stderr, step.output
    assert release.calls.count("/api/chat") == 0  # the verdict decided every model
    candidate = f"sha-{pipeline.short(commit)}"
    for name in ("company-bot", "expert"):
        promoted = release.digest(f"{name}:v1.0.0")
        assert promoted is not None and promoted == release.digest(f"{name}:{candidate}")
    record = json.loads(pipeline.origin.git("show", "refs/mfops/history:record.json"))
    assert (record["outcome"], record["to"]) == ("promoted", "v1.0.0")
    # a verdict from another run is tested again on the release server
    other = json.loads(verdict.read_text())
    other["merged"]["run"]["id"] = "1"
    verdict.write_text(json.dumps(other))
    pipeline.origin.tag("v1.0.1")
    job, _ = run(
        pipeline,
        "release",
        _tag_github("v1.0.1"),
        commit,
        host=release.url,
        context={"needs": {"merge": {"result": "success"}}},
        files={"mfops-verdict/mfops-verdict.json": verdict},
    )
    assert job.status == "success", job.output
    assert "not used: it comes from workflow run 1" in job.step("promote-verdict").stderr


def test_the_reusable_workflow_shards_merges_and_releases(pipeline, servers):
    commit = pipeline.origin.head()
    pipeline.origin.tag("v3.0.0")
    github = _tag_github("v3.0.0")
    inputs = {"shard-matrix": "[1, 2]", "promote-tag": "v3.0.0", "models": "all"}
    assert not run(pipeline, "gate", github, commit, host="", reusable=inputs)[0].ran
    reports = shards(pipeline, github, commit, servers[:2], reusable=inputs)
    files = {f"mfops-shards/{p.name}": p for p in reports}
    job, temp = run(pipeline, "merge", github, commit, host="", files=files, reusable=inputs)
    assert job.status == "success", job.output
    release = servers[3]
    job, _ = run(
        pipeline,
        "release",
        github,
        commit,
        host=release.url,
        files={"mfops-verdict/mfops-verdict.json": temp / "mfops-verdict.json"},
        reusable=inputs,
    )
    assert job.status == "success", job.output
    assert "check-release" in [s.id for s in job.steps if s.ran]
    assert "(tested by the shards)" in job.step("promote-verdict").stderr
    assert release.calls.count("/api/chat") == 0
    assert release.digest("expert:v3.0.0") is not None


def test_a_shard_that_failed_to_build_then_re_run_merges(pipeline, servers):
    """Shard 2's build fails: its report says so and the merge fails naming it (not
    "missing"). "Re-run failed jobs" runs shard 2 again as attempt 2 and the merge after
    it: one run, so the verdict merges, recording each shard's attempt and the merge's."""
    base, merge = pipeline.pull_request(GOOD_RULES)
    github = _pr_github(base)
    reports = []
    for index, double in enumerate(servers[:2]):
        if index == 1:
            double.faults.fail_next("/api/create", status=400, error="template error: boom")
        job, temp = run(
            pipeline,
            "shard",
            github,
            merge,
            host=double.url,
            context={
                "matrix": {"shard": index + 1},
                "strategy": {"job-index": index, "job-total": 2},
            },
        )
        assert job.step("shard").returncode == (1 if index else 0), job.output
        assert job.step("upload-shard").skipped_because == "action"  # uploaded after a failure
        reports.append(temp / "mfops-shards" / f"shard-{index + 1}.json")
    files = {f"mfops-shards/{p.name}": p for p in reports}
    job, _ = run(pipeline, "merge", github, merge, host="", files=files)
    assert job.status == "failure" and job.step("merge").returncode == 1
    assert (
        "(shard 2/2) did not complete (exit 1): gate failed at build: 1 model failed"
        in job.step("merge").stderr
    )
    again = {**github, "run_attempt": 2}
    job, temp = run(
        pipeline,
        "shard",
        again,
        merge,
        host=servers[1].url,
        context={"matrix": {"shard": 2}, "strategy": {"job-index": 1, "job-total": 2}},
    )
    assert job.step("shard").returncode == 0, job.output
    files["mfops-shards/shard-2.json"] = temp / "mfops-shards" / "shard-2.json"
    job, temp = run(pipeline, "merge", again, merge, host="", files=files)
    assert job.status == "success", job.output
    merged = json.loads((temp / "mfops-verdict.json").read_text())["merged"]
    assert (merged["run"]["id"], merged["run"]["attempt"]) == ("4242", "2")
    assert [s["attempt"] for s in merged["shards"]] == ["1", "2"]


@pytest.mark.parametrize(
    "reusable", [None, {"shard-matrix": "[1, 2]"}], ids=["template", "reusable"]
)
def test_a_shard_job_that_timed_out_uploads_its_report_and_the_merge_names_it(
    pipeline, servers, reusable
):
    """Shard 1's job reaches its timeout-minutes while its first sample runs: the runner
    signals the step's process (mfops itself, `exec`), which writes the report saying it
    was interrupted and exits 130; the job is cancelled, the upload runs all the same
    (`always()`), and the merge, which runs after a cancelled shard job, fails naming the
    shard and why, not "shard 1 of 2 missing"."""
    base, merge = pipeline.pull_request(GOOD_RULES)
    github = _pr_github(base)
    slow, other = servers[:2]
    slow.faults.latency["/api/chat"] = 5.0  # a sample in flight when the timeout comes
    try:
        job, temp = run(
            pipeline,
            "shard",
            github,
            merge,
            host=slow.url,
            context={"matrix": {"shard": 1}, "strategy": {"job-index": 0, "job-total": 2}},
            reusable=reusable,
            cancel=Cancel("shard", lambda: slow.calls.count("/api/chat") > 0, grace=30),
        )
    finally:
        slow.faults.latency.clear()
    assert job.status == "cancelled", job.output
    assert job.step("shard").returncode == 130, job.output
    report = temp / "mfops-shards" / "shard-1.json"
    block = json.loads(report.read_text())["shard"]
    assert (block["failed"], block["exit_code"]) == ("interrupted", 130)
    upload = job.step("upload-shard")
    assert upload.skipped_because == "action", upload  # it ran: the artefact is uploaded
    assert upload.with_["path"] == f"{temp}/mfops-shards/"
    done, temp2 = run(
        pipeline,
        "shard",
        github,
        merge,
        host=other.url,
        context={"matrix": {"shard": 2}, "strategy": {"job-index": 1, "job-total": 2}},
        reusable=reusable,
    )
    assert done.step("shard").returncode == 0, done.output
    files = {
        "mfops-shards/shard-1.json": report,
        "mfops-shards/shard-2.json": temp2 / "mfops-shards" / "shard-2.json",
    }
    needs = {"needs": {"shard": {"result": "cancelled"}}}
    job, _ = run(
        pipeline, "merge", github, merge, host="", files=files, reusable=reusable, context=needs
    )
    assert job.ran and job.status == "failure", job.output
    assert job.step("merge").returncode == 1
    assert "(shard 1/2) did not complete (exit 130): interrupted" in job.step("merge").stderr
    assert "did not complete" in job.summary


def test_a_failed_sharded_release_is_recorded_and_pushed(pipeline, servers):
    """A tag whose expert breaks its rule: the shards test, the merge fails (exit 1), the
    release job stands down and the `record` job re-merges the shards' reports, which
    records the failed attempt as `gate --promote-to` would, and pushes it to origin."""
    pipeline.change_expert(BAD_RULES)
    pipeline.origin.commit("loosen the expert")
    commit = pipeline.origin.head()
    pipeline.origin.tag("v2.0.0")
    github = _tag_github("v2.0.0")
    reports = shards(pipeline, github, commit, servers[:2])
    files = {f"mfops-shards/{p.name}": p for p in reports}
    job, _ = run(pipeline, "merge", github, commit, host="", files=files)
    assert job.status == "failure" and job.step("merge").returncode == 1, job.output
    failed = {"needs": {"merge": {"result": "failure"}}}
    assert not run(pipeline, "release", github, commit, host="", context=failed)[0].ran
    passed = {"needs": {"merge": {"result": "success"}}}
    assert not run(pipeline, "record", github, commit, host="", context=passed)[0].ran
    job, _ = run(pipeline, "record", github, commit, host="", context=failed, files=files)
    assert job.status == "success", job.output
    assert [s.id for s in job.steps if s.ran] == ["fetch-records", "record", "push-records"]
    assert "recorded in the history as " in job.step("record").stderr
    record = json.loads(pipeline.origin.git("show", "refs/mfops/history:record.json"))
    assert (record["kind"], record["outcome"], record["stage"], record["to"]) == (
        "gate",
        "failed",
        "test",
        "v2.0.0",
    )
    assert record["commit"] == pipeline.origin.git("rev-parse", commit).strip()
    # the reusable workflow's record job does the same
    inputs = {"shard-matrix": "[1, 2]", "promote-tag": "v2.0.0", "models": "all"}
    job, _ = run(
        pipeline, "record", github, commit, host="", context=failed, files=files, reusable=inputs
    )
    assert job.status == "success", job.output
    again = json.loads(pipeline.origin.git("show", "refs/mfops/history:record.json"))
    assert again["id"] != record["id"] and (again["kind"], again["outcome"]) == ("gate", "failed")
    # a refused merge (a shard missing) records nothing and fails the job
    files.pop(f"mfops-shards/{reports[1].name}")
    before = pipeline.origin.git("rev-parse", "refs/mfops/history").strip()
    job, _ = run(pipeline, "record", github, commit, host="", context=failed, files=files)
    assert job.status == "failure" and job.step("record").returncode == 2
    assert pipeline.origin.git("rev-parse", "refs/mfops/history").strip() == before


def test_the_reusable_record_job_never_pushes_from_a_pull_request(pipeline):
    """A caller that sets promote-tag on a pull request: the gate and release jobs refuse
    it (tag pushes only), and the record job, which pushes to refs/mfops/history, does not
    run either (its shards' failed merge is no release attempt)."""
    base, merge = pipeline.pull_request(GOOD_RULES)
    failed = {"needs": {"merge": {"result": "failure"}}}
    inputs = {"shard-matrix": "[1, 2]", "promote-tag": "v9.9.9", "models": "all"}
    job, _ = run(
        pipeline, "record", _pr_github(base), merge, host="", context=failed, reusable=inputs
    )
    assert not job.ran, job.output
    tag = _tag_github("v9.9.9")
    job, _ = run(pipeline, "record", tag, merge, host="", context=failed, reusable=inputs)
    assert job.ran  # (it fails here: no shard reports were downloaded)
