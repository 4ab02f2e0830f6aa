"""The template's scheduled `bases` job at work, run step by step (tests/actionsrunner.py)
against the Ollama double, whose pulls go to a registry stub on 127.0.0.1: nothing moved
(nothing done), a base moved (branch, new lock, gate, pull request opened, then updated),
a failed gate (the pull request says so), a cancelled job (mfops hears it, no pull
request), and the opt-in switch."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfops.testing.double.names import parse_name
from tests.registry_stub import RegistryStub
from tests.test_workflows_e2e import BAD_RULES, BASE, GOOD_RULES, Pipeline, cancelled_mid_test

ON = {"MFOPS_BASE_UPDATES": "true"}
BRANCH = "mfops/base-updates"
SCHEDULE = {"event_name": "schedule", "ref": "refs/heads/main", "ref_name": "main"}
LLAMA = {"template": "{{ .System }} {{ .Prompt }}", "license": "LLAMA LICENSE"}


@pytest.fixture
def stub() -> Iterator[RegistryStub]:
    with RegistryStub() as registry:
        yield registry


@pytest.fixture
def pipeline(tmp_path, ollama_double, monkeypatch, stub) -> Pipeline:
    """The scaffolded repo, its base served by the stub and locked; mfops.yaml names the
    stub as the registry (plain http, so listed as insecure)."""
    stub.publish_model(BASE, **LLAMA)
    ollama_double.store.registry.upstream = stub.url
    pipe = Pipeline(tmp_path, ollama_double, monkeypatch)
    config = pipe.origin.read("mfops.yaml")
    pipe.origin.write(
        "mfops.yaml",
        config + f"  registry: {stub.netloc}\n  insecure_registries: [{stub.netloc}]\n",
    )
    pipe.origin.commit("check bases at the stub registry")
    return pipe


def _lock(pipe: Pipeline, ref: str = "main") -> dict[str, str]:
    text = pipe.origin.git("show", f"{ref}:mfops.lock")
    return json.loads(text)["bases"]


def test_nothing_moved_does_nothing(pipeline):
    job = pipeline.run(pipeline.workflow(), "bases", SCHEDULE, pipeline.origin.head(), variables=ON)
    assert job.status == "success", job.output
    assert [s.id for s in job.steps if s.ran] == ["check"]
    assert "No external base moved upstream." in job.step("check").stdout
    assert pipeline.gh_calls() == []
    assert not pipeline.double.has_model(BASE), "no server work when nothing moved"


def test_off_unless_opted_in(pipeline, stub):
    stub.publish_model(BASE, system="new weights", **LLAMA)
    head = pipeline.origin.head()
    assert not pipeline.run(pipeline.workflow(), "bases", SCHEDULE, head).ran
    pr = {"event_name": "pull_request", "ref": "refs/pull/7/merge"}
    assert not pipeline.run(pipeline.workflow(), "bases", pr, head, variables=ON).ran


def test_a_moved_base_gets_a_branch_a_tested_lock_and_a_pull_request(pipeline, stub):
    old = _lock(pipeline)[BASE]
    new = stub.publish_model(BASE, system="new upstream weights", **LLAMA)
    main = pipeline.origin.head()
    job = pipeline.run(pipeline.workflow(), "bases", SCHEDULE, main, variables=ON)
    assert job.status == "success", job.output
    assert [s.id for s in job.steps if s.ran] == [
        "check",
        "fetch-records",
        "wait-for-ollama",
        "pull-bases",
        "update",
        "gate",
        "summary",
        "pull-request",
    ]
    assert "| `llama3.2:3b` |" in job.step("check").summary
    # the branch carries exactly the new lock, on top of the default branch
    assert _lock(pipeline, BRANCH) == {BASE: new}
    assert pipeline.origin.git("rev-parse", f"{BRANCH}~1").strip() == main
    changed = pipeline.origin.git("diff", "--name-only", main, BRANCH).split()
    assert changed == ["mfops.lock"]
    assert _lock(pipeline) == {BASE: old}, "the default branch is untouched"
    # the models on the base were built on the new base and their suites ran
    assert pipeline.double.digest(BASE) == new.removeprefix("sha256:")
    # the gate's summary, written to a file of its own, is shown by the `summary` step
    summary = job.step("summary").summary
    assert "company-bot" in summary and "expert" in summary
    assert "mfops gate: ✅ passed" in summary
    # one pull request, opened with the job's token, its body the report
    listing, create = pipeline.gh_calls()
    assert listing["args"][:4] == ["pr", "list", "--head", BRANCH]
    assert create["args"][:4] == ["pr", "create", "--head", BRANCH]
    assert create["token"] == "ghs_not_a_real_token"
    body = create["body"]
    assert f"| `{BASE}` | {stub.netloc} | `{old}` | `{new}` | `company-bot`, `expert` |" in body
    assert "**Verdict: the gate passed** with the new bases." in body
    assert "mfops gate: ✅ passed" in body
    assert "https://github.com/acme/models/actions/runs/4242" in body
    upload = job.step("upload-report")
    assert upload.uses and upload.uses.startswith("actions/upload-artifact@")
    assert "mfops-summary.md" in upload.with_["path"]


def test_a_second_move_updates_the_open_pull_request(pipeline, stub):
    stub.publish_model(BASE, system="first update", **LLAMA)
    main = pipeline.origin.head()
    assert pipeline.run(pipeline.workflow(), "bases", SCHEDULE, main, variables=ON).ran
    newer = stub.publish_model(BASE, system="second update", **LLAMA)
    pipeline.gh_log.unlink()
    job = pipeline.run(
        pipeline.workflow(), "bases", SCHEDULE, main, variables=ON, existing_comment="12"
    )
    assert job.status == "success", job.output
    _, edit = pipeline.gh_calls()
    assert edit["args"][:4] == ["pr", "edit", "12", "--body-file"]
    assert newer in edit["body"]
    assert _lock(pipeline, BRANCH) == {BASE: newer}, "the branch was force-pushed anew"


def test_a_failed_gate_still_opens_the_pull_request_with_its_verdict(pipeline, stub):
    """The gate fails on the new bases (the expert's suite fails): that is the pull
    request's verdict, not the job's end (continue-on-error); the body says FAILED and
    carries the report."""
    pipeline.change_expert(BAD_RULES)
    main = pipeline.origin.commit("an expert whose own suite fails")
    stub.publish_model(BASE, system="new upstream weights", **LLAMA)
    job = pipeline.run(pipeline.workflow(), "bases", SCHEDULE, main, variables=ON)
    assert job.status == "success", job.output
    gate = job.step("gate")
    assert gate.returncode == 1 and "gate failed at test" in gate.output, gate.output
    assert [s.id for s in job.steps if s.ran][-3:] == ["gate", "summary", "pull-request"]
    assert "❌ failed at test" in job.step("summary").summary
    _, create = pipeline.gh_calls()
    body = create["body"]
    assert "**Verdict: the gate FAILED** with the new bases: see below." in body
    assert "the gate passed" not in body
    assert "❌ failed at test" in body and "refuses javascript" in body
    assert _lock(pipeline, BRANCH) != _lock(pipeline), "the branch is pushed for review"
    assert job.step("upload-report").uses, "the report is uploaded after a failed gate too"


def test_a_cancelled_job_interrupts_mfops_and_opens_no_pull_request(pipeline, stub):
    """The job is cancelled (run cancelled, or its timeout-minutes reached) while its gate
    has a sample in flight: the runner signals the step's entry process only, so mfops
    (exec'd) hears it and says it was interrupted; a half-run gate is no verdict, so no
    branch is pushed and no pull request opened; the summary step still runs."""
    stub.publish_model(BASE, system="new upstream weights", **LLAMA)
    job = cancelled_mid_test(
        pipeline, pipeline.workflow(), "bases", SCHEDULE, pipeline.origin.head(), variables=ON
    )
    assert job.status == "cancelled", job.output
    assert "mfops: interrupted" in job.step("gate").stderr, job.output
    assert job.step("summary").ran, job.output
    assert not job.step("pull-request").ran and not job.step("upload-report").ran
    assert pipeline.gh_calls() == []
    branches = pipeline.origin.git("branch", "--list", BRANCH)
    assert branches.strip() == "", "the branch was not pushed"


def test_an_unreachable_registry_fails_the_job_by_name(pipeline, stub):
    stub.stop()
    job = pipeline.run(pipeline.workflow(), "bases", SCHEDULE, pipeline.origin.head(), variables=ON)
    assert job.status == "failure"
    check = job.step("check")
    assert check.returncode == 2
    assert f"mfops: cannot reach registry http://{stub.netloc} for {BASE}" in check.stderr
    assert [s.id for s in job.steps if s.ran] == ["check"]
    assert pipeline.gh_calls() == []
    refs = subprocess.run(
        ["git", "branch", "--list", BRANCH],
        cwd=pipeline.origin.root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert refs.stdout == ""


def _release(pipe: Pipeline, *, all_models: bool, tag: str = "v0.1.0") -> None:
    """A change, tagged, and the template's release job promoting what it changed at `tag`
    (both models when the base changed, else only the expert): the current release."""
    if all_models:
        text = pipe.origin.read("Base.Modelfile")
        pipe.origin.write("Base.Modelfile", text.replace("temperature 0.2", "temperature 0.3"))
    else:
        pipe.change_expert(GOOD_RULES + "\n- Be concise.")
    head = pipe.origin.commit("a change to release")
    pipe.origin.tag(tag, head)
    tag_push = {"event_name": "push", "ref": f"refs/tags/{tag}", "ref_name": tag}
    job = pipe.run(pipe.workflow(), "release", {**tag_push, "ref_type": "tag"}, head)
    assert job.status == "success", job.output
    assert pipe.double.has_model(f"expert:{tag}")
    assert pipe.double.has_model(f"company-bot:{tag}") == all_models


def test_a_moved_base_is_compared_with_the_current_release(pipeline, stub):
    _release(pipeline, all_models=True)
    stub.publish_model(BASE, system="new upstream weights", **LLAMA)
    job = pipeline.run(pipeline.workflow(), "bases", SCHEDULE, pipeline.origin.head(), variables=ON)
    assert job.status == "success", job.output
    gate = job.step("gate")
    # the release records (fetched from the origin) name the release: no --against guess
    assert "--against" not in gate.stdout, gate.output
    assert "against the release:" in gate.stdout
    for model in ("company-bot", "expert"):
        assert f"{model}: compared with {model}:v0.1.0 (release v0.1.0" in gate.stdout
    summary = job.step("summary").summary
    assert "mfops gate: ✅ passed" in summary and "Not compared" not in summary
    # the HTML report is written where the upload step looks for it
    upload = job.step("upload-report")
    html = next(p for p in upload.with_["path"].split() if p.endswith("mfops-report.html"))
    page = Path(html).read_text()
    assert page.startswith("<!DOCTYPE html>") and "expert" in page
    _, create = pipeline.gh_calls()
    assert "**Verdict: the gate passed** with the new bases." in create["body"]


def test_each_model_is_compared_with_its_own_release_even_when_its_tag_is_missing(pipeline, stub):
    """A release promotes only the models it changed, so models on one base can have
    different current releases; the records name each model's. A release tag the server
    lacks is rebuilt on this server from its recorded commit (release/current.py); the
    suites still run and the gate still decides."""
    _release(pipeline, all_models=True)  # v0.1.0: both models
    _release(pipeline, all_models=False, tag="v0.2.0")  # v0.2.0: only the expert
    pipeline.double.store.remove_manifest(parse_name("company-bot:v0.1.0"))
    stub.publish_model(BASE, system="new upstream weights", **LLAMA)
    job = pipeline.run(pipeline.workflow(), "bases", SCHEDULE, pipeline.origin.head(), variables=ON)
    assert job.status == "success", job.output
    gate = job.step("gate")
    summary = job.step("summary").summary
    assert "--against" not in gate.stdout and "Not compared" not in summary
    assert "expert: compared with expert:v0.2.0 (release v0.2.0" in gate.stdout, gate.output
    rebuilt = (
        "company-bot: compared with company-bot:v0.1.0 (release v0.1.0, rebuilt on this server"
    )
    assert rebuilt in gate.stdout, gate.output
    assert "mfops gate: ✅ passed" in summary
    _, create = pipeline.gh_calls()
    assert "**Verdict: the gate passed** with the new bases." in create["body"]
