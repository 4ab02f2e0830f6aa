"""The GitHub Actions workflows: valid (actionlint), safe (security rules), in sync with each
other and with mfops, and working: the template's own steps, read from its YAML, run
against the Ollama test double in a temporary git repository (tests/actionsrunner.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mfops
from tests.actionsrunner import (
    JobResult,
    condition,
    environ_for_steps,
    evaluate,
    interpolate,
    load_workflow,
    loose_equal,
    run_job,
)
from tests.gitrepo import GitRepo
from tests.ollama_double import OllamaDouble

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "ci" / "github" / ".github" / "workflows" / "mfops.yml"
REUSABLE = ROOT / ".github" / "workflows" / "mfops-gate.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted(
    (ROOT / "templates").rglob(".github/workflows/*.yml")
)
BASE = "llama3.2:3b"


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _runs(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


# --------------------------------------------------------------------------- actionlint


def _actionlint() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


def test_the_workflow_list_is_complete():
    assert TEMPLATE in WORKFLOWS and REUSABLE in WORKFLOWS and CI in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_actionlint_accepts_the_workflow(path):
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install -e '.[workflows]')")
    done = subprocess.run([binary, "-no-color", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------- security rules

#: Any expression at all: values a pull request's author controls (`github.head_ref`, the
#: event payload's titles and bodies, branch names) may reach a script only through `env:`,
#: and banning every `${{ }}` from scripts is the rule that cannot miss one.
_EXPRESSION = re.compile(r"\$\{\{")


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_no_expression_is_interpolated_into_a_script(path):
    """Untrusted values (head_ref, titles, branch names) reach `run:` only through `env:`:
    no `${{ }}` appears in any script at all, so none can slip in."""
    for job_id, step in _runs(load_workflow(path)):
        script = step.get("run", "")
        assert not _EXPRESSION.search(script), f"{job_id}/{step.get('id')}: {script}"
        if str(step.get("uses", "")).startswith("actions/github-script"):
            assert not _EXPRESSION.search(str(step.get("with", {}).get("script", "")))


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_no_pull_request_target_with_a_checkout_of_the_head(path):
    workflow = load_workflow(path)
    triggers = workflow["on"] if isinstance(workflow["on"], (dict, list)) else [workflow["on"]]
    privileged = {"pull_request_target", "workflow_run"} & set(triggers)
    for job_id, step in _runs(workflow):
        if str(step.get("uses", "")).startswith("actions/checkout"):
            ref = str(step.get("with", {}).get("ref", ""))
            head = "head" in ref or "github.event.pull_request" in ref
            assert not (privileged and head), f"{job_id}: checks out the PR head in {privileged}"
    assert not privileged, "mfops' workflows need no privileged pull-request trigger"


def _promoting_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(j, s) for j, s in _runs(workflow)
            if "--promote-to" in s.get("run", "") or "mfops promote" in s.get("run", "")]


def _github(event: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {"event_name": event, "ref": ref, "ref_name": ref.rsplit("/", 1)[-1],
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "repository": "acme/models", **extra}  # fmt: skip


def test_the_template_promotes_only_on_tag_pushes():
    workflow = load_workflow(TEMPLATE)
    promoting = _promoting_steps(workflow)
    assert {j for j, _ in promoting} == {"release"}
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert workflow["on"]["push"] == {"tags": ["v*"]}, "a branch push must not reach release"
    job_if = workflow["jobs"]["release"]["if"]
    cases = {
        ("push", "refs/tags/v1.2.0"): True,
        ("push", "refs/heads/main"): False,
        ("push", "refs/heads/v1-branch"): False,
        ("pull_request", "refs/pull/7/merge"): False,
        ("pull_request_target", "refs/tags/v1.2.0"): False,
        ("workflow_dispatch", "refs/tags/v1.2.0"): False,
    }
    for (event, ref), expected in cases.items():
        assert condition(job_if, {"github": _github(event, ref)}) is expected, (event, ref)
    gate_if = workflow["jobs"]["gate"]["if"]
    assert condition(gate_if, {"github": _github("pull_request", "refs/pull/7/merge")})
    assert not condition(gate_if, {"github": _github("push", "refs/tags/v1.2.0")})


def test_the_reusable_workflow_refuses_to_promote_outside_tag_pushes():
    workflow = load_workflow(REUSABLE)
    assert set(workflow["on"]) == {"workflow_call"}
    steps = workflow["jobs"]["gate"]["steps"]
    ids = [s.get("id") for s in steps]
    check = steps[ids.index("check-release")]
    assert ids.index("check-release") < ids.index("gate")
    assert condition(check["if"], {"inputs": {"promote-tag": "v1.0.0"}})
    assert not condition(check["if"], {"inputs": {"promote-tag": ""}})
    assert check.get("continue-on-error") is None, "the check must stop the job"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_permissions_are_least_privilege(path):
    """Read-only by default; the only write is `pull-requests` for the job that comments."""
    workflow = load_workflow(path)
    assert "permissions" in workflow, "declare top-level permissions"

    def check(perms: Any, where: str, comments: bool) -> None:
        assert isinstance(perms, dict), f"{where}: permissions must be a map, not {perms!r}"
        for scope, level in perms.items():
            if level == "write":
                assert scope == "pull-requests" and comments, f"{where}: {scope}: write"
            else:
                assert level in ("read", "none"), f"{where}: {scope}: {level}"

    def commenting(steps: list[dict[str, Any]]) -> bool:
        return any("gh api" in s.get("run", "") for s in steps)

    every_step = [s for _, s in _runs(workflow)]
    check(workflow["permissions"], "workflow", commenting(every_step))
    for job_id, job in workflow["jobs"].items():
        if "permissions" in job:
            check(job["permissions"], job_id, commenting(job.get("steps", [])))


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_actions_are_pinned_by_commit_sha_with_a_version_comment(path):
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_promotions_never_race():
    """Every promotion of a repository shares one concurrency group and queues."""
    template = load_workflow(TEMPLATE)["jobs"]["release"]["concurrency"]
    reusable = load_workflow(REUSABLE)["jobs"]["gate"]["concurrency"]
    groups = set()
    for ref in ("refs/tags/v1.0.0", "refs/tags/v2.0.0"):
        github = _github("push", ref)
        for conc, inputs in ((template, {}), (reusable, {"promote-tag": ref.rsplit("/", 1)[1]})):
            ctx = {"github": github, "inputs": inputs}
            assert interpolate(conc["cancel-in-progress"], ctx) in (False, "false"), conc
            groups.add((id(conc), interpolate(conc["group"], ctx)))
    assert len(groups) == 2, groups  # one group per workflow, whatever the tag
    # pull requests still cancel their own superseded runs
    pr = {"github": _github("pull_request", "refs/pull/7/merge"), "inputs": {"promote-tag": ""}}
    assert interpolate(reusable["cancel-in-progress"], pr) == "true"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_scripts_never_print_the_host(path):
    """OLLAMA_HOST may carry credentials: no script echoes it or traces its commands."""
    for job_id, step in _runs(load_workflow(path)):
        script = step.get("run", "")
        where = f"{job_id}/{step.get('id')}"
        assert not re.search(r"set -[a-z]*x|xtrace", script), where
        assert not re.search(r"(echo|printf)[^\n]*OLLAMA_HOST", script), where


# --------------------------------------------------------------------------- consistency


def _steps_by_id(workflow: dict[str, Any], job: str) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in workflow["jobs"][job]["steps"]}


def test_both_template_jobs_prepare_the_machine_identically():
    workflow = load_workflow(TEMPLATE)
    gate, release = _steps_by_id(workflow, "gate"), _steps_by_id(workflow, "release")
    shared = [i for i in gate if i in release and i not in ("gate", "upload-junit")]
    assert shared == ["setup-checkout", "setup-python", "setup-mfops", "setup-ollama-cache",
                      "setup-ollama", "wait-for-ollama", "pull-bases"]  # fmt: skip
    for step_id in shared:
        assert gate[step_id] == release[step_id], step_id
    assert workflow["jobs"]["gate"]["env"] == workflow["jobs"]["release"]["env"]


def test_the_reusable_workflow_runs_the_templates_scripts():
    template = _steps_by_id(load_workflow(TEMPLATE), "gate")
    reusable = _steps_by_id(load_workflow(REUSABLE), "gate")
    for step_id in ("setup-ollama", "wait-for-ollama", "pull-bases", "comment"):
        assert reusable[step_id]["run"] == template[step_id]["run"], step_id
    for step_id in ("setup-checkout", "setup-python", "setup-ollama-cache"):
        assert reusable[step_id]["uses"] == template[step_id]["uses"], step_id
        assert reusable[step_id]["with"] == template[step_id]["with"], step_id


def test_versions_agree_with_mfops_and_with_each_other():
    template, reusable, ci = (load_workflow(p) for p in (TEMPLATE, REUSABLE, CI))
    inputs = reusable["on"]["workflow_call"]["inputs"]
    assert template["env"]["MFOPS_VERSION"] == mfops.__version__
    assert inputs["mfops-version"]["default"] == mfops.__version__
    assert (template["env"]["OLLAMA_VERSION"] == inputs["ollama-version"]["default"]
            == ci["env"]["OLLAMA_VERSION"])  # fmt: skip
    assert template["env"]["PYTHON_VERSION"] == inputs["python-version"]["default"]


def test_ci_runs_ruff_and_pytest_on_every_supported_python_and_a_real_ollama_job():
    ci = load_workflow(CI)
    assert ci["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]
    scripts = "\n".join(s.get("run", "") for s in ci["jobs"]["test"]["steps"])
    assert "ruff check" in scripts and "pytest" in scripts and "workflows]" in scripts
    ollama = ci["jobs"]["ollama"]
    assert ollama["env"]["MFOPS_TEST_OLLAMA_HOST"]
    assert "pytest -m ollama" in "\n".join(s.get("run", "") for s in ollama["steps"])


# --------------------------------------------------------------------------- the emulation


@pytest.mark.parametrize(("expression", "expected"), [
    ("github.event_name == 'PUSH'", True),
    ("secrets.MISSING == ''", True),
    ("secrets.MISSING || 'fallback'", "fallback"),
    ("'x' && 'y'", "y"),
    ("!cancelled() && inputs.a != ''", True),
    ("startsWith(github.ref, 'refs/tags/v')", True),
    ("format('a-{0}-{1}', 'b', github.event_name)", "a-b-push"),
    ("inputs.a != '' && 'one' || 'two'", "one"),
])
def test_the_expression_emulation(expression, expected):
    ctx = {"github": {"event_name": "push", "ref": "refs/tags/v1"}, "inputs": {"a": "x"},
           "secrets": {}}  # fmt: skip
    value = evaluate(expression, ctx)
    assert value == expected if not isinstance(expected, bool) else value is expected
    assert loose_equal(None, "") and not loose_equal("a", "b")


# --------------------------------------------------------------------------- end to end

_FAKE_GH = """#!{python}
# Stands in for the GitHub CLI: records each call (and the body file it sends), and
# answers the comment listing with FAKE_GH_EXISTING (an existing comment's id, or nothing).
import json, os, sys
args = sys.argv[1:]
body = None
for arg in args:
    if arg.startswith("body=@"):
        with open(arg[len("body=@"):], encoding="utf-8") as fh:
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
        from tests.conftest import invoke_mfops

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
        subprocess.run(["git", "clone", "--quiet", str(self.origin.root), str(work)],
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet",
                        commit], cwd=work, check=True, capture_output=True)  # fmt: skip
        return work

    def run(self, workflow: dict[str, Any], job: str, github: dict[str, Any], commit: str, *,
            host: str | None = None, inputs: dict[str, Any] | None = None,
            secret_name: str = "MFOPS_OLLAMA_HOST", existing_comment: str = "",
            ) -> JobResult:  # fmt: skip
        work = self.checkout(commit)
        temp = self.tmp / f"runner-temp{self.runs}"
        temp.mkdir()
        base_env = environ_for_steps(path_first=[self.fakebin, Path(sys.executable).parent],
                                     home=Path(os.environ["HOME"]))  # fmt: skip
        base_env["FAKE_GH_LOG"] = str(self.gh_log)
        base_env["FAKE_GH_EXISTING"] = existing_comment
        github = {"repository": "acme/models", "server_url": "https://github.com",
                  "run_id": "4242", "token": "ghs_not_a_real_token", **github}  # fmt: skip
        context = {"github": github, "secrets": {secret_name: host or self.double.url},
                   "inputs": inputs or {}}  # fmt: skip
        return run_job(workflow, job, context=context, workdir=work, runner_temp=temp,
                       base_env=base_env)  # fmt: skip

    def gh_calls(self) -> list[dict[str, Any]]:
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text().splitlines()]

    def short(self, commit: str) -> str:
        return self.origin.git("rev-parse", "--short=7", commit).strip()

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


GOOD_RULES = ("You are the assistant of our company and an expert in Python.\nRules:\n"
              "- Never discuss customer data or other confidential information.\n"
              "- Only discuss Python.\n- Answer in at most 80 words.")  # fmt: skip
#: Drops "Only discuss Python": the expert's own suite ("refuses javascript") fails.
BAD_RULES = ("You are the assistant of our company and an expert in Python.\nRules:\n"
             "- Never discuss customer data or other confidential information.")  # fmt: skip


@pytest.fixture
def pipeline(tmp_path, ollama_double, monkeypatch) -> Pipeline:
    ollama_double.add_registry_model(BASE, template="{{ .System }} {{ .Prompt }}",
                                     license="LLAMA LICENSE")  # fmt: skip
    return Pipeline(tmp_path, ollama_double, monkeypatch)


def _pr_github(base: str, number: int = 7, head_repo: str = "acme/models") -> dict[str, Any]:
    return {"event_name": "pull_request", "ref": f"refs/pull/{number}/merge",
            "ref_name": f"{number}/merge", "head_ref": "feature;touch PWNED-head-ref",
            "event": {"pull_request": {"number": number, "title": "$(touch PWNED-title)",
                                       "base": {"sha": base},
                                       "head": {"repo": {"full_name": head_repo}}}}}  # fmt: skip


def _tag_github(tag: str) -> dict[str, Any]:
    return {"event_name": "push", "ref": f"refs/tags/{tag}", "ref_name": tag, "ref_type": "tag"}


def _ran(job: JobResult) -> list[str]:
    return [s.id for s in job.steps if s.ran]


def test_the_template_is_what_init_writes(pipeline):
    written = pipeline.origin.root / ".github" / "workflows" / "mfops.yml"
    assert written.read_bytes() == TEMPLATE.read_bytes()


def test_pull_request_flow_builds_tests_reports_and_comments(pipeline):
    base, merge = pipeline.pull_request(GOOD_RULES)
    workflow = pipeline.workflow()
    github = _pr_github(base)
    assert not pipeline.run(workflow, "release", github, merge).ran
    job = pipeline.run(workflow, "gate", github, merge)
    assert job.status == "success", job.output
    assert _ran(job) == ["wait-for-ollama", "pull-bases", "gate", "comment"]
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
    job = pipeline.run(pipeline.workflow(), "gate", _pr_github(base), merge,
                       existing_comment="991")  # fmt: skip
    assert job.status == "failure"
    assert job.step("gate").returncode == 1
    assert "gate failed at test" in job.step("gate").output
    assert job.step("upload-junit").uses, "the report is uploaded after a failure too"
    assert job.step("comment").ran and job.step("comment").returncode == 0
    patch = pipeline.gh_calls()[-1]
    assert patch["args"][:4] == ["api", "--method", "PATCH",
                                 "repos/acme/models/issues/comments/991"]
    assert "❌ failed at test" in patch["body"] and "refuses javascript" in patch["body"]


def test_pull_request_from_a_fork_gets_no_comment(pipeline):
    base, merge = pipeline.pull_request(GOOD_RULES)
    job = pipeline.run(pipeline.workflow(), "gate", _pr_github(base, head_repo="mallory/models"),
                       merge)  # fmt: skip
    assert job.status == "success", job.output
    assert not job.step("comment").ran and pipeline.gh_calls() == []


def test_tag_flow_promotes_and_a_failing_suite_blocks_the_next_release(pipeline):
    workflow = pipeline.workflow()
    first = pipeline.origin.head()
    pipeline.origin.tag("v0.1.0")
    assert not pipeline.run(workflow, "gate", _tag_github("v0.1.0"), first).ran
    job = pipeline.run(workflow, "release", _tag_github("v0.1.0"), first)
    assert job.status == "success", job.output
    assert _ran(job) == ["wait-for-ollama", "pull-bases", "gate"]
    candidate = f"sha-{pipeline.short(first)}"
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
    assert pipeline.double.has_model(f"expert:sha-{pipeline.short(second)}")
    assert not [n for n in pipeline.double.model_names() if n.endswith(":v0.2.0")]
    assert pipeline.double.digest("expert:v0.1.0") == pipeline.double.digest(
        f"expert:{candidate}"), "the earlier release is untouched"


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
    inputs = {"python-version": "3.12", "mfops-version": mfops.__version__,
              "promote-tag": "", "aliases": "", "models": "changed"}  # fmt: skip
    job = pipeline.run(workflow, "gate", _pr_github(base), merge, inputs=inputs,
                       secret_name="ollama-host")  # fmt: skip
    assert job.status == "success", job.output
    assert _ran(job) == ["wait-for-ollama", "pull-bases", "gate", "comment"]
    assert not [n for n in pipeline.double.model_names() if ":v" in n]

    pipeline.origin.tag("v1.0.0", merge)
    tag_inputs = {**inputs, "promote-tag": "v1.0.0", "aliases": "latest", "models": "all"}
    job = pipeline.run(workflow, "gate", _tag_github("v1.0.0"), merge, inputs=tag_inputs,
                       secret_name="ollama-host")  # fmt: skip
    assert job.status == "success", job.output
    assert not job.step("comment").ran
    for name in ("company-bot", "expert"):
        assert pipeline.double.digest(f"{name}:v1.0.0") == pipeline.double.digest(f"{name}:latest")


def test_reusable_workflow_will_not_promote_from_a_pull_request(pipeline):
    base, merge = pipeline.pull_request(GOOD_RULES)
    inputs = {"promote-tag": "v9.9.9", "models": "all"}
    job = pipeline.run(load_workflow(REUSABLE), "gate", _pr_github(base), merge, inputs=inputs,
                       secret_name="ollama-host")  # fmt: skip
    assert job.status == "failure"
    assert job.step("check-release").returncode == 1
    assert not job.step("gate").ran
    assert not [n for n in pipeline.double.model_names() if n.endswith(":v9.9.9")]
