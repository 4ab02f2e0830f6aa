"""mfops' main job on the bundled example repository, with no Ollama installed (`mfops demo`).

The example hierarchy (engine-bot -> python-bot -> pirate-python, with an inherited house-
rules suite; `examples/` in the source tree, shipped in the wheel as `mfops._examples`) is
copied into a temporary git repository and taken through the whole release path against the
Ollama API double (a real HTTP server on 127.0.0.1 whose toy model follows the rules in
SYSTEM prompts; see mfops.testing for what that can and cannot tell):

    lock --pull  ->  gate (lint, diff, build, test, promote to v1.0.0)  ->  history

then a change that breaks the Python expert's rule is shown being blocked by the gate, with
no tag moved. Every step runs this installation's `mfops` (`python -m mfops`) in a child
process; the command line is reported through `say` before it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from mfops.errors import CheckFailed, MfopsError
from mfops.fileio.atomic import write_atomic
from mfops.testing.double import OllamaDouble

GIT_ENV = {
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

Say = Callable[[str], None]


class DemoError(CheckFailed):
    """A step of the demo failed (exit 1: something that should have worked did not)."""


def examples_root() -> Path:
    """The example repository: `mfops/_examples` in an installed wheel, else `examples/` of
    the source checkout this package runs from (editable installs, the test suite)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_examples", package.parent / "examples"):
        if (candidate / "mfops.yaml").is_file():
            return candidate
    raise MfopsError(
        "mfops' example repository is missing from this installation", hint="reinstall mfops"
    )


class _Steps:
    def __init__(self, repo: Path, env: dict[str, str], say: Say) -> None:
        self.repo = repo
        self.env = env
        self.say = say

    def mfops(self, *args: str, check: bool = True) -> int:
        shown = " ".join(["mfops", *args])
        self.say(f"$ {shown}")
        done = subprocess.run([sys.executable, "-m", "mfops", *args], cwd=self.repo, env=self.env)
        if check and done.returncode != 0:
            raise DemoError(f"demo: `{shown}` exited {done.returncode}")
        return done.returncode

    def git(self, *args: str) -> None:
        done = subprocess.run(
            ["git", *args], cwd=self.repo, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise DemoError(f"demo: `git {' '.join(args)}` failed: {done.stderr.strip()}")


def run_demo(say: Say, *, workdir: Path | None = None, keep: bool = False) -> Path:
    """Run the demo, reporting each step through `say`; returns the example repository's
    path (deleted afterwards unless `keep`). Raises DemoError when a step that must pass
    fails; the gate refusing the breaking change is the expected outcome, not an error."""
    if shutil.which("git") is None:
        raise MfopsError("the demo needs git on PATH", hint="install git and run it again")
    tmp = Path(tempfile.mkdtemp(prefix="mfops-demo-", dir=workdir))
    repo = tmp / "models"
    shutil.copytree(examples_root(), repo, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        with OllamaDouble() as double:
            double.add_registry_model(
                "llama3.2:3b", template="{{ .System }} {{ .Prompt }}", family="llama", size="3.2B"
            )
            env = {**os.environ, **GIT_ENV, "OLLAMA_HOST": double.url, "NO_COLOR": "1"}
            env.pop("GITHUB_STEP_SUMMARY", None)
            steps = _Steps(repo, env, say)
            steps.git("init", "-q", "-b", "main")
            steps.git("add", "-A")
            steps.git("commit", "-q", "-m", "Company bots")
            say(f"Example repo: {repo}\nOllama API test double: {double.url}")

            say("\n=== Pin the external base and commit the lock")
            steps.mfops("lock", "--pull")
            steps.git("add", "-A")
            steps.git("commit", "-q", "-m", "Lock llama3.2:3b")

            say("\n=== The release gate: lint, diff, build, test, promote")
            steps.mfops("gate", "--all", "--promote-to", "v1.0.0", "--alias", "latest")
            steps.mfops("history")

            say("\n=== A change that breaks the expert's rule is blocked, and no tag moves")
            modelfile = repo / "python-bot" / "Modelfile"
            write_atomic(
                modelfile,
                modelfile.read_text().replace("- Only discuss Python.", "- Discuss any language."),
            )
            steps.git("commit", "-q", "-am", "Let python-bot discuss anything")
            steps.mfops("diff", "HEAD~1", "--stat")
            code = steps.mfops("gate", "--promote-to", "v1.1.0", check=False)
            if code == 0:
                raise DemoError("demo: the gate promoted a change that breaks python-bot's rule")
            say(f"(gate exited {code}: the release was refused)")
            steps.mfops("history", "python-bot")
    finally:
        if keep:
            say(f"\nKept {repo}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return repo
