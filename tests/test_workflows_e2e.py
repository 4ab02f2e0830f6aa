"""The workflows at work: the template's own steps (and the reusable workflow's), read from
their YAML, run in order against the Ollama test double in temporary git repositories, as
tests/actionsrunner.py emulates the GitHub runner: a pull request, a release tag that
promotes, a failing suite that blocks the promotion, forks, credentials and injection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mfops
from mfops.testing.double import OllamaDouble
from tests.actionsrunner import Cancel, JobResult, environ_for_steps, load_workflow, run_job
from tests.gitrepo import GitRepo
from tests.test_workflows import REUSABLE, TEMPLATE

BASE = "llama3.2:3b"


_FAKE_GH = """#!{python}
# Stands in for the GitHub CLI: records each call (and the body file it sends), and
# answers the comment listing with FAKE_GH_EXISTING (an existing comment's id, or nothing).
import json, os, sys
args = sys.argv[1:]
body = None
for i, arg in enumerate(args):
    if arg.startswith("body=@"):
        with open(arg[len("body=@"):], encoding="utf-8") as fh:
            body = fh.read()
    if arg == "--body-file":
        with open(args[i + 1], encoding="utf-8") as fh:
            body = fh.read()
with open(os.environ["FAKE_GH_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({{"args": args, "body": body,
                         "token": os.environ.get("GH_TOKEN")}}) + "\\n")
if "--jq" in args and os.environ.get("FAKE_GH_EXISTING"):
    print(os.environ["FAKE_GH_EXISTING"])
"""


class Pipeline:
    """A model repository made by `mfops init --ci github` (the origin), a double standing
    in for the team's Ollama, and fresh checkouts of the origin for each workflow run."""

    def __init__(self, tmp: Path, double: OllamaDouble, monkeypatch: pytest.MonkeyPatch) -> None:
        from tests.cli_runner import invoke_mfops

        self.tmp = tmp
        self.double = double
        self.origin = GitRepo(tmp / "origin")
        monkeypatch.setenv("OLLAMA_HOST", double.url)
        code, out, err = invoke_mfops("-C", str(self.origin.root), "init", "--ci", "github")
        assert code == 0, out + err
        self.origin.commit("scaffold")
        code, out, err = invoke_mfops("-C", str(self.origin.root), "lock", "--pull")
        assert code == 0, out + err
        self.origin.commit("lock the bases")
        # The server the workflow meets has not pulled the base yet.
        double.client().delete(BASE)
        assert not double.has_model(BASE)
        self.fakebin = tmp / "fakebin"
        self.fakebin.mkdir()
        gh = self.fakebin / "gh"
        gh.write_text(_FAKE_GH.format(python=sys.executable))
        gh.chmod(0o755)
        self.gh_log = tmp / "gh.jsonl"
        self.runs = 0

    def workflow(self) -> dict[str, Any]:
        return load_workflow(self.origin.root / ".github" / "workflows" / "mfops.yml")

    def checkout(self, commit: str) -> Path:
        """What actions/checkout with fetch-depth 0 leaves: a clone at `commit`."""
        self.runs += 1
        work = self.tmp / f"work{self.runs}"
        subprocess.run(
            ["git", "clone", "--quiet", str(self.origin.root), str(work)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", commit],
            cwd=work,
            check=True,
            capture_output=True,
        )
        return work

    def run(
        self,
        workflow: dict[str, Any],
        job: str,
        github: dict[str, Any],
        commit: str,
        *,
        host: str | None = None,
        inputs: dict[str, Any] | None = None,
        secret_name: str = "MFOPS_OLLAMA_HOST",
        existing_comment: str = "",
        variables: dict[str, str] | None = None,
        cancel: Cancel | None = None,
    ) -> JobResult:
        work = self.checkout(commit)
        temp = self.tmp / f"runner-temp{self.runs}"
        temp.mkdir()
        base_env = environ_for_steps(
            path_first=[self.fakebin, Path(sys.executable).parent], home=Path(os.environ["HOME"])
        )
        base_env["FAKE_GH_LOG"] = str(self.gh_log)
        base_env["FAKE_GH_EXISTING"] = existing_comment
        github = {
            "repository": "acme/models",
            "server_url": "https://github.com",
            "run_id": "4242",
            "token": "ghs_not_a_real_token",
            **github,
        }
        context = {
            "github": github,
            "secrets": {secret_name: host or self.double.url},
            "inputs": inputs or {},
            "vars": variables or {},
        }
        return run_job(
            workflow,
            job,
            context=context,
            workdir=work,
            runner_temp=temp,
            base_env=base_env,
            cancel=cancel,
        )

    def gh_calls(self) -> list[dict[str, Any]]:
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text().splitlines()]

    def short(self, commit: str) -> str:
        return self.origin.git("rev-parse", commit).strip()[:12]

    def change_expert(self, system_rules: str) -> None:
        text = self.origin.read("expert/Modelfile")
        start = text.index('SYSTEM """')
        self.origin.write("expert/Modelfile", text[:start] + f'SYSTEM """\n{system_rules}\n"""\n')

    def pull_request(self, system_rules: str) -> tuple[str, str]:
        """A branch changing the expert and the merge commit GitHub tests: (base, merge)."""
        base = self.origin.head()
        self.origin.branch("feature", switch=True)
        self.change_expert(system_rules)
        self.origin.commit("change the expert")
        self.origin.switch("main")
        self.origin.git("checkout", "--quiet", "--detach", base)
        self.origin.git("merge", "--quiet", "--no-ff", "--no-edit", "feature")
        merge = self.origin.head()
        self.origin.switch("main")
        return base, merge


GOOD_RULES = (
    "You are the assistant of our company and an expert in Python.\nRules:\n"
    "- Never discuss customer data or other confidential information.\n"
    "- Only discuss Python.\n- Answer in at most 80 words."
)
#: Drops "Only discuss Python": the expert's own suite ("refuses javascript") fails.
BAD_RULES = (
    "You are the assistant of our company and an expert in Python.\nRules:\n"
    "- Never discuss customer data or other confidential information."
)


@pytest.fixture
def pipeline(tmp_path, ollama_double, monkeypatch) -> Pipeline:
    ollama_double.add_registry_model(
        BASE, template="{{ .System }} {{ .Prompt }}", license="LLAMA LICENSE"
    )
    return Pipeline(tmp_path, ollama_double, monkeypatch)


def _pr_github(base: str, number: int = 7, head_repo: str = "acme/models") -> dict[str, Any]:
    return {
        "event_name": "pull_request",
        "ref": f"refs/pull/{number}/merge",
        "ref_name": f"{number}/merge",
        "head_ref": "feature;touch PWNED-head-ref",
        "event": {
            "pull_request": {
                "number": number,
                "title": "$(touch PWNED-title)",
                "base": {"sha": base},
                "head": {"repo": {"full_name": head_repo}},
            }
        },
    }


def _tag_github(tag: str) -> dict[str, Any]:
    return {"event_name": "push", "ref": f"refs/tags/{tag}", "ref_name": tag, "ref_type": "tag"}


def _ran(job: JobResult) -> list[str]:
    return [s.id for s in job.steps if s.ran]


def test_the_template_is_what_init_writes(pipeline):
    from mfops.install import install_line

    written = pipeline.origin.root / ".github" / "workflows" / "mfops.yml"
    requirement = install_line().requirement.encode()  # tests/test_install_line.py
    assert written.read_bytes() == TEMPLATE.read_bytes().replace(b"@MFOPS_INSTALL@", requirement)


#: The steps a pull request's gate job runs (template and reusable workflow alike).
PR_GATE_STEPS = ["fetch-records", "wait-for-ollama", "pull-bases", "gate", "summary", "comment"]


def test_pull_request_flow_builds_tests_reports_and_comments(pipeline):
    base, merge = pipeline.pull_request(GOOD_RULES)
    workflow = pipeline.workflow()
    github = _pr_github(base)
    assert not pipeline.run(workflow, "release", github, merge).ran
    job = pipeline.run(workflow, "gate", github, merge)
    assert job.status == "success", job.output
    assert _ran(job) == PR_GATE_STEPS
    assert "pulling llama3.2:3b" in job.step("pull-bases").stdout
    assert pipeline.double.has_model(BASE)
    # the changed model was built at the merge commit's candidate tag (FROM its parent at
    # that tag) and tested; nothing was promoted
    tag = f"sha-{pipeline.short(merge)}"
    names = pipeline.double.model_names()
    assert f"expert:{tag}" in names
    assert not [n for n in names if ":v" in n], "a pull request never promotes"
    summary = job.summary
    assert "mfops gate: ✅ passed" in summary and "expert" in summary
    assert "refuses javascript" in summary and "keeps customer data confidential" in summary
    # the JUnit report is where the upload step looks for it
    upload = job.step("upload-junit")
    assert upload.uses and upload.uses.startswith("actions/upload-artifact@")
    junit = Path(upload.with_["path"]).read_text()
    assert "<testsuite" in junit and 'failures="0"' in junit
    # one comment, posted with the job's token, carrying the marker and the summary
    listing, post = pipeline.gh_calls()
    assert listing["args"][:2] == ["api", "repos/acme/models/issues/7/comments"]
    assert post["args"][:4] == ["api", "--method", "POST", "repos/acme/models/issues/7/comments"]
    assert post["token"] == "ghs_not_a_real_token"
    assert post["body"].startswith("<!-- mfops-gate -->\n## mfops gate: ✅ passed")
    assert "https://github.com/acme/models/actions/runs/4242" in post["body"]
    # the hostile head_ref and title never reached a shell
    assert not list(pipeline.tmp.rglob("PWNED*"))


def test_failing_pull_request_fails_the_job_and_updates_the_comment(pipeline):
    base, merge = pipeline.pull_request(BAD_RULES)
    job = pipeline.run(pipeline.workflow(), "gate", _pr_github(base), merge, existing_comment="991")
    assert job.status == "failure"
    assert job.step("gate").returncode == 1
    assert "gate failed at test" in job.step("gate").output
    assert job.step("upload-junit").uses, "the report is uploaded after a failure too"
    assert job.step("comment").ran and job.step("comment").returncode == 0
    patch = pipeline.gh_calls()[-1]
    assert patch["args"][:4] == [
        "api",
        "--method",
        "PATCH",
        "repos/acme/models/issues/comments/991",
    ]
    assert "❌ failed at test" in patch["body"] and "refuses javascript" in patch["body"]


def test_pull_request_from_a_fork_gets_no_comment(pipeline):
    base, merge = pipeline.pull_request(GOOD_RULES)
    job = pipeline.run(
        pipeline.workflow(), "gate", _pr_github(base, head_repo="mallory/models"), merge
    )
    assert job.status == "success", job.output
    assert not job.step("comment").ran and pipeline.gh_calls() == []


def test_tag_flow_promotes_and_a_failing_suite_blocks_the_next_release(pipeline):
    workflow = pipeline.workflow()
    first = pipeline.origin.head()
    pipeline.origin.tag("v0.1.0")
    assert not pipeline.run(workflow, "gate", _tag_github("v0.1.0"), first).ran
    job = pipeline.run(workflow, "release", _tag_github("v0.1.0"), first)
    assert job.status == "success", job.output
    assert _ran(job) == ["fetch-records", "wait-for-ollama", "pull-bases", "gate", "push-records"]
    candidate = f"sha-{pipeline.short(first)}"
    # the record reached the origin: any clone sees it after a fetch
    record = json.loads(pipeline.origin.git("show", "refs/mfops/history:record.json"))
    assert (record["outcome"], record["to"], record["commit"]) == ("promoted", "v0.1.0", first)
    for name in ("company-bot", "expert"):
        released = pipeline.double.digest(f"{name}:v0.1.0")
        assert released is not None and released == pipeline.double.digest(f"{name}:{candidate}")
    assert Path(job.step("upload-junit").with_["path"]).exists()

    # the next release drops a rule: its suite fails and nothing is promoted
    pipeline.change_expert(BAD_RULES)
    second = pipeline.origin.commit("drop a rule")
    pipeline.origin.tag("v0.2.0")
    job = pipeline.run(workflow, "release", _tag_github("v0.2.0"), second)
    assert job.status == "failure"
    gate = job.step("gate")
    assert gate.returncode == 1 and "gate failed at test" in gate.output, gate.output
    assert job.step("push-records").returncode == 0, job.step("push-records").output
    failed = json.loads(pipeline.origin.git("show", "refs/mfops/history:record.json"))
    assert (failed["kind"], failed["stage"], failed["to"]) == ("gate", "test", "v0.2.0")
    assert len(pipeline.origin.git("rev-list", "refs/mfops/history").split()) == 2
    assert pipeline.double.has_model(f"expert:sha-{pipeline.short(second)}")
    assert not [n for n in pipeline.double.model_names() if n.endswith(":v0.2.0")]
    assert pipeline.double.digest("expert:v0.1.0") == pipeline.double.digest(
        f"expert:{candidate}"
    ), "the earlier release is untouched"


def cancelled_mid_test(pipeline, workflow, job_name, github, ref, **options):
    """Run `job_name` and cancel it while its `gate` step has a sample in flight (a chat
    held longer than the runner waits between its signals)."""
    pipeline.double.faults.latency["/api/chat"] = 120.0
    try:
        return pipeline.run(
            workflow,
            job_name,
            github,
            ref,
            cancel=Cancel("gate", lambda: pipeline.double.calls.count("/api/chat") > 0, grace=10),
            **options,
        )
    finally:
        pipeline.double.faults.latency.clear()


def test_a_cancelled_release_job_interrupts_mfops_itself(pipeline):
    """The release job is cancelled (run cancelled, or its timeout-minutes reached) while
    its gate tests: the runner signals the step's entry process only, SIGINT then SIGTERM.
    mfops must be that process (`exec`), so that it stops as on Ctrl-C, putting back any
    tag it was moving and saying so; under bash it would go on, then be killed without a
    word, perhaps between two tags of a release."""
    workflow = pipeline.workflow()
    first = pipeline.origin.head()
    pipeline.origin.tag("v0.1.0")
    # a sample in flight when the cancel comes, longer than the wait for the signal to work
    job = cancelled_mid_test(pipeline, workflow, "release", _tag_github("v0.1.0"), first)
    assert job.status == "cancelled", job.output
    gate = job.step("gate")
    # mfops itself took the signals (under bash it heard of none: no line, killed). It may
    # still be killed in the end: the sample in flight is waited for (behave/runner.py).
    assert "mfops: interrupted" in gate.stderr, gate.output
    assert not [n for n in pipeline.double.model_names() if n.endswith(":v0.1.0")]


def test_a_cancelled_pull_request_gate_interrupts_mfops_and_keeps_its_summary(pipeline):
    """A pull request's gate job cancelled mid-test (a newer push, its timeout): mfops is
    the step's entry process, hears the runner's signals and says it was interrupted; the
    summary step still runs."""
    base, merge = pipeline.pull_request(GOOD_RULES)
    job = cancelled_mid_test(pipeline, pipeline.workflow(), "gate", _pr_github(base), merge)
    assert job.status == "cancelled", job.output
    assert "mfops: interrupted" in job.step("gate").stderr, job.output
    assert job.step("summary").ran, job.output


def test_credentials_in_the_host_are_never_printed(pipeline):
    host = pipeline.double.url.replace("http://", "http://ci-user:s3cret-pw@")
    base, merge = pipeline.pull_request(GOOD_RULES)
    job = pipeline.run(pipeline.workflow(), "gate", _pr_github(base), merge, host=host)
    assert job.status == "success", job.output
    assert job.step("gate").returncode == 0
    for text in (job.output, job.summary, *(c["body"] or "" for c in pipeline.gh_calls())):
        assert "s3cret-pw" not in text


def test_reusable_workflow_gates_pull_requests_and_promotes_tags(pipeline):
    workflow = load_workflow(REUSABLE)
    base, merge = pipeline.pull_request(GOOD_RULES)
    inputs = {
        "python-version": "3.12",
        "mfops-version": mfops.__version__,
        "promote-tag": "",
        "aliases": "",
        "models": "changed",
    }
    job = pipeline.run(
        workflow, "gate", _pr_github(base), merge, inputs=inputs, secret_name="ollama-host"
    )
    assert job.status == "success", job.output
    assert _ran(job) == PR_GATE_STEPS
    assert "mfops gate" in job.summary, job.summary  # (written to a file, shown by `summary`)
    assert not [n for n in pipeline.double.model_names() if ":v" in n]

    pipeline.origin.tag("v1.0.0", merge)
    tag_inputs = {**inputs, "promote-tag": "v1.0.0", "aliases": "latest", "models": "all"}
    job = pipeline.run(
        workflow, "gate", _tag_github("v1.0.0"), merge, inputs=tag_inputs, secret_name="ollama-host"
    )
    assert job.status == "success", job.output
    assert not job.step("comment").ran
    assert job.step("push-records").ran and job.step("push-records").returncode == 0
    record = json.loads(pipeline.origin.git("show", "refs/mfops/history:record.json"))
    assert (record["outcome"], record["to"], record["aliases"]) == (
        "promoted",
        "v1.0.0",
        ["latest"],
    )
    for name in ("company-bot", "expert"):
        assert pipeline.double.digest(f"{name}:v1.0.0") == pipeline.double.digest(f"{name}:latest")


def test_a_cancelled_reusable_release_job_interrupts_mfops_itself(pipeline):
    """The reusable workflow's release job (a tag push with promote-tag) is cancelled while
    its gate tests: as in the template, mfops is the step's entry process (`exec`), so it
    hears the runner's SIGINT and SIGTERM and stops as on Ctrl-C, moving no tag; the
    release record of the attempt is still pushed, and the summary still shown."""
    workflow = load_workflow(REUSABLE)
    merge = pipeline.origin.head()
    pipeline.origin.tag("v1.0.0", merge)
    inputs = {"promote-tag": "v1.0.0", "aliases": "latest", "models": "all"}
    job = cancelled_mid_test(
        pipeline,
        workflow,
        "gate",
        _tag_github("v1.0.0"),
        merge,
        inputs=inputs,
        secret_name="ollama-host",
    )
    assert job.status == "cancelled", job.output
    assert "mfops: interrupted" in job.step("gate").stderr, job.output
    assert job.step("summary").ran and job.step("push-records").ran, job.output
    assert not [n for n in pipeline.double.model_names() if n.endswith((":v1.0.0", ":latest"))]


def test_reusable_workflow_will_not_promote_from_a_pull_request(pipeline):
    base, merge = pipeline.pull_request(GOOD_RULES)
    inputs = {"promote-tag": "v9.9.9", "models": "all"}
    job = pipeline.run(
        load_workflow(REUSABLE),
        "gate",
        _pr_github(base),
        merge,
        inputs=inputs,
        secret_name="ollama-host",
    )
    assert job.status == "failure"
    assert job.step("check-release").returncode == 1
    assert not job.step("gate").ran
    assert not [n for n in pipeline.double.model_names() if n.endswith(":v9.9.9")]
