"""A small stand-in for the GitHub Actions runner, to run workflow files in tests.

The end-to-end tests read a workflow from its YAML and run its `run:` steps in order with
bash, exactly as written, so the workflow that users get is the one that is tested (nothing
retyped). What the runner does around the scripts is emulated here, as GitHub documents it:

- expressions `${{ ... }}` (literals, contexts, `! == != && ||`, parentheses, and the
  functions `startsWith endsWith contains format always success failure cancelled
  hashFiles`), with GitHub's loose equality (strings compare case-insensitively; values
  of different types compare as numbers, so a missing secret equals `''`);
- `if:` on jobs and steps (an `if:` without a status function means `success() && ...`),
  `continue-on-error`, the job failing at its first failed step;
- `env:` at workflow, job and step level, `defaults.run.shell: bash` (bash
  `--noprofile --norc -eo pipefail`), and a fresh `$GITHUB_STEP_SUMMARY` file per step;
- `$GITHUB_OUTPUT` (`name=value` lines) read into `steps.<id>.outputs.<name>`;
- `$GITHUB_RUN_ID` / `$GITHUB_RUN_ATTEMPT` from `github.run_id` / `github.run_attempt`
  (1 when not given). A matrix job is run once per entry by the test, which passes the
  `matrix` and `strategy` contexts (and `needs` for a job that depends on others);
- `steps.<id>.outcome` (success, failure, cancelled, skipped) and `steps.<id>.conclusion`,
  the same but `success` for a failed step with `continue-on-error: true` ("outcome: the
  result of a completed step before continue-on-error is applied"; "conclusion: ... after
  continue-on-error is applied"). Such a step leaves `success()` true;
- a job cancelled while one of its steps runs (`Cancel`: its `timeout-minutes` reached, or
  the run cancelled), as the workflow cancellation reference describes it and the runner
  does it: SIGINT to the step's entry process only (the runner's `kill(pid)`, not its
  process group; for a `run:` step that is bash), SIGTERM when it is still there, then it
  is killed; the step and the job are then `cancelled`, and a later step runs only when
  its `if:` is true with `cancelled()` true (`always()`; not `!cancelled()`, nor the
  implicit `success()`). The runner's grace periods (7.5 s, 2.5 s) are not waited here:
  `Cancel.grace` bounds each wait instead, as a safety net, not as a timing.
  At job level `cancelled()` is the run's cancellation ("Returns true if the workflow was
  canceled"), which a test sets with `__run_cancelled__` in the context; a job that timed
  out does not cancel the run.

Steps are not run when their id starts with `setup-` (the workflows' own convention for
preparing the machine: checkout, Python, mfops, Ollama) or when they `uses:` an action;
both are recorded, so a test can check what was left out. The job runs in `workdir`, which
the test prepares the way the checkout step would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SETUP_PREFIX = "setup-"
STATUS_FUNCTIONS = ("always", "success", "failure", "cancelled")


def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow as a dict, with `on` as a string key (YAML 1.1 reads it as True)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


# --------------------------------------------------------------------------- expressions

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_*][A-Za-z0-9_\-]*)*))"
)


class ExpressionError(ValueError):
    """An expression this emulation does not understand (the test should fail loudly)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if value.strip() == "":
            return 0.0
        try:
            return float(value)
        except ValueError:
            return float("nan")
    return float("nan")


def loose_equal(a: Any, b: Any) -> bool:
    """GitHub's `==`: case-insensitive for two strings, numeric across types."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b) and not isinstance(a, (int, float)):
        return a == b
    return _number(a) == _number(b)


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, 0.0, "")


def to_text(value: Any) -> str:
    """How `${{ }}` renders a value into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(self, text: str, context: dict[str, Any]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.context = context

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExpressionError(f"expected {value or 'a value'} in {self.text!r}")
        self.pos += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.eq()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.eq()
            value = right if truthy(value) else value
        return value

    def eq(self) -> Any:
        value = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.unary()
            same = loose_equal(value, right)
            value = same if op == "==" else not same
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "word":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            args: list[Any] = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self.call(text, args)
        return self.lookup(text)

    def lookup(self, dotted: str) -> Any:
        value: Any = self.context
        for part in dotted.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def call(self, name: str, args: list[Any]) -> Any:
        status = self.context.get("__job_status__", "success")
        fold = [to_text(a).casefold() for a in args]
        if name == "startsWith":
            return fold[0].startswith(fold[1])
        if name == "endsWith":
            return fold[0].endswith(fold[1])
        if name == "contains":
            return fold[1] in fold[0]
        if name == "format":
            return re.sub(
                r"\{(\d+)\}", lambda m: to_text(args[int(m.group(1)) + 1]), to_text(args[0])
            )
        if name == "always":
            return True
        if name == "success":
            return status == "success"
        if name == "failure":
            return status == "failure"
        if name == "cancelled":
            return status == "cancelled" or bool(self.context.get("__run_cancelled__"))
        if name == "hashFiles":
            return "0" * 64
        raise ExpressionError(f"function {name}() is not emulated")


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """The value of one expression (without the `${{ }}`)."""
    return _Parser(expression, context).parse()


_INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def interpolate(text: Any, context: dict[str, Any]) -> Any:
    """`text` with every `${{ expr }}` replaced; a non-string is returned as it is."""
    if not isinstance(text, str):
        return text
    return _INTERPOLATION.sub(lambda m: to_text(evaluate(m.group(1), context)), text)


def condition(raw: Any, context: dict[str, Any]) -> bool:
    """An `if:` value: `${{ }}` optional; no status function means `success() && (...)`."""
    if raw is None:
        raw = "success()"
    if isinstance(raw, bool):
        return raw and context.get("__job_status__", "success") == "success"
    text = str(raw).strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.DOTALL)
    if m:
        text = m.group(1)
    if not any(re.search(rf"\b{f}\s*\(", text) for f in STATUS_FUNCTIONS):
        text = f"success() && ({text})"
    return truthy(evaluate(text, context))


# --------------------------------------------------------------------------- jobs


@dataclass
class StepResult:
    """What happened to one step: `ran` (its script ran), or why not (`skipped_because`)."""

    id: str
    name: str
    ran: bool
    skipped_because: str = ""
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    summary: str = ""
    uses: str | None = None
    with_: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Cancel:
    """Cancel the job while step `step` runs, once `when()` is true (a test's observable
    point, e.g. the server has been asked for a sample), as the runner does (module
    docstring). `grace`: the longest wait, in seconds, for the entry process to exit after
    each signal before the next one (a safety net for a broken test, not a timing)."""

    step: str
    when: Callable[[], bool]
    grace: float = 120.0


@dataclass
class JobResult:
    job: str
    ran: bool
    status: str = "success"
    steps: list[StepResult] = field(default_factory=list)

    def step(self, step_id: str) -> StepResult:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def summary(self) -> str:
        """The job summary: every step's $GITHUB_STEP_SUMMARY, in order."""
        return "".join(s.summary for s in self.steps)

    @property
    def output(self) -> str:
        return "".join(s.output for s in self.steps)


def _env_block(block: dict[str, Any] | None, context: dict[str, Any]) -> dict[str, str]:
    return {str(k): to_text(interpolate(v, context)) for k, v in (block or {}).items()}


def run_job(
    workflow: dict[str, Any],
    job_id: str,
    *,
    context: dict[str, Any],
    workdir: Path,
    runner_temp: Path,
    base_env: dict[str, str],
    timeout: float = 180,
    cancel: Cancel | None = None,
) -> JobResult:
    """Run one job of `workflow` in `workdir` (see the module docstring).

    `context` holds the contexts expressions read (`github`, `inputs`, `secrets`, ...);
    `runner` and `env` are filled in here. `base_env` is the process environment the runner
    itself provides (PATH, HOME, ...), before the workflow's `env:` blocks.
    """
    job = workflow["jobs"][job_id]
    ctx: dict[str, Any] = {
        **context,
        "runner": {"temp": str(runner_temp), "os": "Linux"},
        "env": {},
        "steps": {},
        "__job_status__": "success",
    }
    if not condition(job.get("if"), ctx):
        return JobResult(job_id, ran=False, status="skipped")
    env = _env_block(workflow.get("env"), ctx)
    ctx["env"] = dict(env)
    env.update(_env_block(job.get("env"), ctx))
    ctx["env"] = dict(env)
    shell = ((job.get("defaults") or workflow.get("defaults") or {}).get("run") or {}).get("shell")
    if shell not in (None, "bash"):
        raise ExpressionError(f"shell {shell!r} is not emulated")
    result = JobResult(job_id, ran=True)
    for index, step in enumerate(job["steps"]):
        sid = str(step.get("id", f"step{index}"))
        name = str(step.get("name", sid))
        if sid.startswith(SETUP_PREFIX):
            result.steps.append(StepResult(sid, name, False, "setup step"))
            ctx["steps"][sid] = _step_context("success")
            continue
        if not condition(step.get("if"), ctx):
            result.steps.append(StepResult(sid, name, False, "if: false"))
            ctx["steps"][sid] = _step_context("skipped")
            continue
        step_env = {**env, **_env_block(step.get("env"), ctx)}
        if "uses" in step:
            with_ = {
                k: interpolate(v, {**ctx, "env": step_env})
                for k, v in (step.get("with") or {}).items()
            }
            result.steps.append(
                StepResult(sid, name, False, "action", uses=step["uses"], with_=with_)
            )
            ctx["steps"][sid] = _step_context("success")
            continue
        script = interpolate(step["run"], {**ctx, "env": step_env})
        summary = runner_temp / f"step-summary-{index}.md"
        summary.write_text("")
        outputs = runner_temp / f"step-output-{index}.txt"
        outputs.write_text("")
        script_file = runner_temp / f"step-{index}.sh"
        script_file.write_text(script)
        proc_env = {
            **base_env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_WORKSPACE": str(workdir),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(outputs),
            # the run's identity, which the runner sets for every step
            "GITHUB_RUN_ID": to_text((ctx.get("github") or {}).get("run_id")),
            "GITHUB_RUN_ATTEMPT": to_text((ctx.get("github") or {}).get("run_attempt") or 1),
            **step_env,
        }
        argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)]
        cancelled = False
        if cancel is not None and cancel.step == sid:
            returncode, stdout, stderr, cancelled = _run_cancelled(
                argv, cancel, cwd=workdir, env=proc_env, timeout=timeout
            )
        else:
            done = subprocess.run(
                argv, cwd=workdir, env=proc_env, capture_output=True, text=True, timeout=timeout
            )
            returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
        outcome = StepResult(
            sid,
            name,
            True,
            returncode=returncode,
            stdout=stdout,
            stderr=stderr,
            summary=summary.read_text(),
        )
        result.steps.append(outcome)
        pairs = [line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line]
        status = "cancelled" if cancelled else ("success" if returncode == 0 else "failure")
        go_on = _continue_on_error(step)
        ctx["steps"][sid] = _step_context(status, dict(pairs), go_on=go_on)
        if cancelled:
            ctx["__job_status__"] = "cancelled"
            result.status = "cancelled"
        elif returncode != 0 and not go_on:
            ctx["__job_status__"] = "failure"
            result.status = "failure"
    return result


def _step_context(
    outcome: str, outputs: dict[str, str] | None = None, *, go_on: bool = False
) -> dict[str, Any]:
    """`steps.<id>`: its outputs, its outcome, and its conclusion (a failure that
    `continue-on-error` lets pass concludes `success`)."""
    conclusion = "success" if outcome == "failure" and go_on else outcome
    return {"outputs": outputs or {}, "outcome": outcome, "conclusion": conclusion}


def _continue_on_error(step: dict[str, Any]) -> bool:
    """A step's `continue-on-error`: true or false (an expression is not emulated)."""
    value = step.get("continue-on-error", False)
    if not isinstance(value, bool):
        raise ExpressionError(f"continue-on-error {value!r} is not emulated")
    return value


def _run_cancelled(
    argv: list[str], cancel: Cancel, *, cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, str, str, bool]:
    """Run a step that the job's cancellation reaches once `cancel.when()` holds: SIGINT to
    the entry process, then SIGTERM, then SIGKILL, each after the process did not exit
    within `cancel.grace`. Returns (exit status, stdout, stderr, whether it was cancelled;
    False when the step ended before the point came)."""
    # its own process group, only so that what it leaves running can be ended afterwards,
    # as the runner ends a job's orphan processes; the signals go to the entry process
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and not cancel.when():
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(argv, timeout)
            time.sleep(0.01)
        cancelled = proc.poll() is None
        if cancelled:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                os.kill(proc.pid, signum)  # the entry process only, as the runner
                try:
                    proc.wait(cancel.grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # orphans, which would hold the pipes
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stdout, stderr, cancelled


def environ_for_steps(*, path_first: list[Path], home: Path) -> dict[str, str]:
    """A minimal runner environment: PATH (given folders first) and HOME."""
    path = os.pathsep.join([*map(str, path_first), "/usr/local/bin", "/usr/bin", "/bin"])
    return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8"}
