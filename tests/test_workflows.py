"""The GitHub Actions workflows: valid (actionlint), safe (the security rules), in sync with
each other and with mfops. tests/test_workflows_e2e.py runs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.actionsrunner import (
    condition,
    evaluate,
    interpolate,
    load_workflow,
    loose_equal,
)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "ci" / "github" / ".github" / "workflows" / "mfops.yml"
REUSABLE = ROOT / ".github" / "workflows" / "mfops-gate.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted(
    (ROOT / "templates").rglob(".github/workflows/*.yml")
)


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
        message = "actionlint is not installed (pip install -e '.[test,workflows]')"
        if os.environ.get("GITHUB_ACTIONS") == "true":  # mfops' CI installs it: never skip there
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [binary, "-no-color", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
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
    """Steps that may move a release tag (a `gate --shard` with --promote-to only takes the
    release's scope and promotes nothing: tests/behave/test_behave_shard.py)."""
    return [
        (j, s)
        for j, s in _runs(workflow)
        if ("--promote-to" in s.get("run", "") and "--shard" not in s.get("run", ""))
        or "mfops promote" in s.get("run", "")
    ]


def _github(event: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_name": event,
        "ref": ref,
        "ref_name": ref.rsplit("/", 1)[-1],
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "repository": "acme/models",
        **extra,
    }


def test_the_template_promotes_only_on_tag_pushes():
    workflow = load_workflow(TEMPLATE)
    promoting = _promoting_steps(workflow)
    assert {j for j, _ in promoting} == {"release"}
    assert set(workflow["on"]) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert workflow["on"]["push"] == {"tags": ["v*"]}, "a branch push must not reach release"
    job_if = workflow["jobs"]["release"]["if"]
    cases = {
        ("push", "refs/tags/v1.2.0"): True,
        ("push", "refs/heads/main"): False,
        ("push", "refs/heads/v1-branch"): False,
        ("pull_request", "refs/pull/7/merge"): False,
        ("pull_request_target", "refs/tags/v1.2.0"): False,
        ("workflow_dispatch", "refs/tags/v1.2.0"): False,
        ("schedule", "refs/heads/main"): False,
    }
    for (event, ref), expected in cases.items():
        assert condition(job_if, {"github": _github(event, ref)}) is expected, (event, ref)
    gate_if = workflow["jobs"]["gate"]["if"]
    assert condition(gate_if, {"github": _github("pull_request", "refs/pull/7/merge")})
    assert not condition(gate_if, {"github": _github("push", "refs/tags/v1.2.0")})


def test_the_scheduled_base_updates_are_opt_in_and_never_run_on_pull_requests():
    workflow = load_workflow(TEMPLATE)
    assert [c["cron"] for c in workflow["on"]["schedule"]] == ["17 6 * * 1"], "weekly"
    job = workflow["jobs"]["bases"]
    on = {"MFOPS_BASE_UPDATES": "true"}
    for event, vars_, expected in (
        ("schedule", on, True),
        ("workflow_dispatch", on, True),
        ("schedule", {}, False),
        ("schedule", {"MFOPS_BASE_UPDATES": "false"}, False),
        ("pull_request", on, False),
        ("push", on, False),
    ):
        ctx = {"github": _github(event, "refs/heads/main"), "vars": vars_}
        assert condition(job["if"], ctx) is expected, (event, vars_)
    # it writes only what it needs (its branch, its pull request); the gate reads, and the
    # release job's one write is pushing the release records (refs/mfops/history)
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["jobs"]["gate"]["permissions"].get("contents") == "read"
    release = workflow["jobs"]["release"]
    assert release["permissions"].get("contents") == "write"
    assert any("history --sync" in s.get("run", "") for s in release["steps"])
    # it prepares the machine like the gate does
    gate, bases = _steps_by_id(workflow, "gate"), _steps_by_id(workflow, "bases")
    for step_id in ("setup-python", "setup-mfops", "wait-for-ollama", "pull-bases"):
        assert (
            gate[step_id]["run" if "run" in gate[step_id] else "with"]
            == bases[step_id]["run" if "run" in gate[step_id] else "with"]
        ), step_id
    assert job["env"]["OLLAMA_HOST"] == workflow["jobs"]["gate"]["env"]["OLLAMA_HOST"]


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
    """Read-only by default; the only writes are `pull-requests` for a job that comments or
    opens a pull request, `contents` for a job that pushes: a branch (the scheduled base
    updates) or the release records (refs/mfops/history, `mfops history --sync`), and
    `id-token` for a job that only publishes to PyPI (trusted publishing), each on that job
    only, except contents in a reusable workflow that pushes records (a ceiling there)."""
    workflow = load_workflow(path)
    assert "permissions" in workflow, "declare top-level permissions"

    def publishes_only(steps: list[dict[str, Any]]) -> bool:
        uses = [s.get("uses", "") for s in steps]
        return (
            any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
            and not any("run" in s for s in steps)
            and all(
                u.startswith(("pypa/gh-action-pypi-publish@", "actions/download-artifact@"))
                for u in uses
            )
        )

    def check(perms: Any, where: str, steps: list[dict[str, Any]]) -> None:
        assert isinstance(perms, dict), f"{where}: permissions must be a map, not {perms!r}"
        scripts = "\n".join(s.get("run", "") for s in steps)
        needs = {
            "pull-requests": "gh api" in scripts or "gh pr " in scripts,
            "contents": "git push" in scripts or "history --sync" in scripts,
        }
        for scope, level in perms.items():
            if level == "write" and scope == "id-token":
                assert publishes_only(steps) and where != "workflow", f"{where}: id-token: write"
            elif level == "write":
                assert needs.get(scope), f"{where}: {scope}: write"
            else:
                assert level in ("read", "none"), f"{where}: {scope}: {level}"

    every_step = [s for _, s in _runs(workflow)]
    check(workflow["permissions"], "workflow", every_step)
    if workflow["permissions"].get("contents") == "write":
        assert "workflow_call" in workflow["on"], "contents: write per job only"
        assert any("history --sync" in s.get("run", "") for s in every_step)
    for job_id, job in workflow["jobs"].items():
        if "permissions" in job:
            check(job["permissions"], job_id, job.get("steps", []))


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_actions_are_pinned_by_commit_sha_with_a_version_comment(path):
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


@pytest.mark.parametrize("path", [TEMPLATE, REUSABLE], ids=_id)
def test_a_re_run_job_can_upload_its_artefacts_again(path):
    """ "Re-run failed jobs" keeps the run: an upload whose name already exists fails the
    re-run unless it overwrites (upload-artifact v4 and later)."""
    uploads = [
        (job_id, step)
        for job_id, step in _runs(load_workflow(path))
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads
    for job_id, step in uploads:
        assert step["with"].get("overwrite") is True, f"{job_id}: {step['with']['name']}"


@pytest.mark.parametrize("path", [TEMPLATE, REUSABLE], ids=_id)
def test_a_timed_out_shard_uploads_the_report_naming_why(path):
    """A shard job past its timeout-minutes is cancelled (the workflow cancellation
    reference: SIGINT, then SIGTERM, to the step's entry process; later steps run only when
    their `if:` holds with `cancelled()` true). mfops must be that process (`exec`: bash
    would take the signals and mfops, never told, would be killed without a report), and
    the upload must run then (`always()`, not `!cancelled()`), but not for a shard step
    that never ran (nothing to upload). The merge job runs after a failed or cancelled
    shard job, not in a cancelled run."""
    workflow = load_workflow(path)
    steps = _steps_by_id(workflow, "shard")
    script = [line.strip() for line in steps["shard"]["run"].strip().splitlines()]
    assert script[-1] == 'exec mfops gate "${args[@]}"'
    upload = steps["upload-shard"]
    assert upload["if"] == "${{ always() && steps.shard.outcome != 'skipped' }}"
    assert upload["with"]["path"] == "${{ runner.temp }}/mfops-shards/"
    ids = list(steps)
    assert ids.index("upload-shard") == ids.index("shard") + 1
    for job_status, outcome, uploads in [
        ("success", "success", True),
        ("failure", "failure", True),  # a failed shard's report counts
        ("cancelled", "cancelled", True),  # timed out (or the run cancelled) mid-shard
        ("cancelled", "skipped", False),  # cancelled before the shard step: no report
        ("failure", "skipped", False),  # setup failed: no report
    ]:
        ctx = {"__job_status__": job_status, "steps": {"shard": {"outcome": outcome}}}
        assert condition(upload["if"], ctx) is uploads, (job_status, outcome)
    # the merge job: after any shard result, never in a cancelled run
    merge = workflow["jobs"]["merge"]["if"]
    base = {
        "github": _github("pull_request", "refs/pull/7/merge"),
        "inputs": {"shard-matrix": "[1, 2]"},
        "vars": {"MFOPS_SHARDED": "true"},
    }
    for result in ("success", "failure", "cancelled"):
        ctx = {**base, "needs": {"shard": {"result": result}}}
        assert condition(merge, ctx), result
    assert not condition(merge, {**base, "__run_cancelled__": True})


def test_a_failed_base_update_gate_opens_its_pull_request_a_cancelled_one_does_not():
    """The base-update gate `exec`s mfops (a cancel must reach it, as for the shard) and
    carries on after a failure (`continue-on-error`: outcome `failure`, `success()` still
    true), so the pull request carries the FAILED verdict; a cancelled job (`success()`
    false) opens none. Its summary goes to a file that a `summary` step shows, also after a
    cancel, that the upload keeps and that the pull request's body carries."""
    steps = _steps_by_id(load_workflow(TEMPLATE), "bases")
    gate = steps["gate"]
    script = [line.strip() for line in gate["run"].strip().splitlines()]
    assert script[-1] == (
        'GITHUB_STEP_SUMMARY="$RUNNER_TEMP/mfops-summary.md" exec mfops gate "${args[@]}"'
    )
    assert gate["continue-on-error"] is True
    ids = list(steps)
    assert ids.index("summary") == ids.index("gate") + 1
    assert ids.index("upload-report") < ids.index("pull-request")
    assert "mfops-summary.md" in steps["upload-report"]["with"]["path"]
    assert "steps.gate.outcome" in steps["pull-request"]["env"]["GATE_OUTCOME"]
    moved = {"check": {"outputs": {"moved": "true"}}}
    for job_status, outcome, pull_request, summary in [
        ("success", "success", True, True),
        ("success", "failure", True, True),  # continue-on-error: the job goes on
        ("cancelled", "cancelled", False, True),  # cancelled mid-gate: no verdict
        ("failure", "skipped", False, False),  # a step before the gate failed
    ]:
        ctx = {"__job_status__": job_status, "steps": {**moved, "gate": {"outcome": outcome}}}
        assert condition(steps["pull-request"]["if"], ctx) is pull_request, (job_status, outcome)
        assert condition(steps["summary"]["if"], ctx) is summary, (job_status, outcome)


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
    assert shared == [
        "setup-checkout",
        "fetch-records",
        "setup-python",
        "setup-mfops",
        "setup-ollama-cache",
        "setup-ollama",
        "wait-for-ollama",
        "pull-bases",
    ]
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
    # no pinned mfops version that may not exist: init writes the template's requirement
    # (tests/test_install_line.py); the reusable workflow installs the newest by default
    assert template["env"]["MFOPS_INSTALL"] == "@MFOPS_INSTALL@"
    assert inputs["mfops-version"]["default"] == inputs["mfops-install"]["default"] == ""
    assert (
        template["env"]["OLLAMA_VERSION"]
        == inputs["ollama-version"]["default"]
        == ci["env"]["OLLAMA_VERSION"]
    )
    assert template["env"]["PYTHON_VERSION"] == inputs["python-version"]["default"]


def test_the_release_workflow_publishes_the_tags_version_with_trusted_publishing():
    release = load_workflow(ROOT / ".github" / "workflows" / "release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["needs"] == "build" and publish["environment"]["name"] == "pypi"
    scripts = "\n".join(s.get("run", "") for s in build["steps"])
    assert 'python scripts/release_version.py "$TAG"' in scripts
    assert "python -m build" in scripts


def test_ci_runs_ruff_and_pytest_on_every_supported_python_and_a_real_ollama_job():
    ci = load_workflow(CI)
    assert ci["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]
    scripts = "\n".join(s.get("run", "") for s in ci["jobs"]["test"]["steps"])
    assert "ruff check" in scripts and "pytest" in scripts and "workflows]" in scripts
    ollama = ci["jobs"]["ollama"]
    assert ollama["env"]["MFOPS_TEST_OLLAMA_HOST"]
    # the declared floors and the newest releases both run the suite
    floors = "\n".join(s.get("run", "") for s in ci["jobs"]["floors"]["steps"])
    assert "-c constraints/floors.txt" in floors and "pytest" in floors
    assert (ROOT / "constraints" / "floors.txt").is_file()
    newest = "\n".join(s.get("run", "") for s in ci["jobs"]["newest"]["steps"])
    assert "--upgrade" in newest and "pytest" in newest
    assert "pytest -m ollama" in "\n".join(s.get("run", "") for s in ollama["steps"])


# --------------------------------------------------------------------------- the emulation


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.event_name == 'PUSH'", True),
        ("secrets.MISSING == ''", True),
        ("secrets.MISSING || 'fallback'", "fallback"),
        ("'x' && 'y'", "y"),
        ("!cancelled() && inputs.a != ''", True),
        ("startsWith(github.ref, 'refs/tags/v')", True),
        ("format('a-{0}-{1}', 'b', github.event_name)", "a-b-push"),
        ("inputs.a != '' && 'one' || 'two'", "one"),
    ],
)
def test_the_expression_emulation(expression, expected):
    ctx = {
        "github": {"event_name": "push", "ref": "refs/tags/v1"},
        "inputs": {"a": "x"},
        "secrets": {},
    }
    value = evaluate(expression, ctx)
    assert value == expected if not isinstance(expected, bool) else value is expected
    assert loose_equal(None, "") and not loose_equal("a", "b")


def test_the_release_version_comes_from_the_tag(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "release_version", ROOT / "scripts" / "release_version.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    init = tmp_path / "__init__.py"
    init.write_text('"""doc"""\n\n__version__ = "0.1.0"\n')
    assert module.set_version("v1.4.2", init) == "1.4.2"
    assert init.read_text() == '"""doc"""\n\n__version__ = "1.4.2"\n'
    assert module.set_version("v2.0.0rc1", init) == "2.0.0rc1"
    for bad in ("1.2.3", "v1", "vX.Y", "v1.2.3-beta", "release-1.2"):
        with pytest.raises(ValueError, match="is not v \\+ a release version"):
            module.set_version(bad, init)
    assert module.main(["nope"]) == 2
