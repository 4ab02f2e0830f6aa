"""Run mfops' main job on the bundled example repo, with no Ollama installed.

The example hierarchy (engine-bot -> python-bot -> pirate-python, with an inherited house-
rules suite) is copied into a temporary git repository and taken through the whole release
path against the Ollama API test double that mfops' own tests use (a real HTTP server on
127.0.0.1 whose toy model follows the rules in SYSTEM prompts):

    lock --pull  ->  gate (lint, diff, build, test, promote to v1.0.0)  ->  history

then a change that breaks the Python expert's rule is shown being blocked by the gate, with
no tag moved. Every step is the installed `mfops` command, printed before it runs.

Run from the repository root: `python scripts/demo.py` (`--keep` leaves the temp repo).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ollama_double import OllamaDouble  # noqa: E402

MFOPS = str(Path(sys.executable).parent / "mfops")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def sh(repo: Path, *args: str, env: dict[str, str], check: bool = True) -> int:
    shown = " ".join(["mfops", *args[1:]] if args[0] == MFOPS else args)
    print(f"$ {shown}", flush=True)
    done = subprocess.run(list(args), cwd=repo, env=env)
    if check and done.returncode != 0:
        sys.exit(f"demo: `{shown}` exited {done.returncode}")
    return done.returncode


def git(repo: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mfops-demo-"))
    repo = tmp / "models"
    shutil.copytree(ROOT / "examples", repo)
    with OllamaDouble() as double:
        double.add_registry_model(
            "llama3.2:3b", template="{{ .System }} {{ .Prompt }}", family="llama", size="3.2B"
        )
        env = {**os.environ, **GIT_ENV, "OLLAMA_HOST": double.url, "NO_COLOR": "1"}
        env.pop("GITHUB_STEP_SUMMARY", None)
        git(repo, "init", "-q", "-b", "main", env=env)
        git(repo, "add", "-A", env=env)
        git(repo, "commit", "-q", "-m", "Company bots", env=env)
        print(f"Example repo: {repo}\nOllama API test double: {double.url}")

        step("Pin the external base and commit the lock")
        sh(repo, MFOPS, "lock", "--pull", env=env)
        git(repo, "add", "-A", env=env)
        git(repo, "commit", "-q", "-m", "Lock llama3.2:3b", env=env)

        step("The release gate: lint, diff, build, test, promote")
        sh(repo, MFOPS, "gate", "--all", "--promote-to", "v1.0.0", "--alias", "latest", env=env)
        sh(repo, MFOPS, "history", env=env)

        step("A change that breaks the expert's rule is blocked, and no tag moves")
        modelfile = repo / "python-bot" / "Modelfile"
        modelfile.write_text(
            modelfile.read_text().replace("- Only discuss Python.", "- Discuss any language.")
        )
        git(repo, "commit", "-q", "-am", "Let python-bot discuss anything", env=env)
        sh(repo, MFOPS, "diff", "HEAD~1", "--stat", env=env)
        code = sh(repo, MFOPS, "gate", "--promote-to", "v1.1.0", env=env, check=False)
        print(f"(gate exited {code}: the release was refused)")
        sh(repo, MFOPS, "history", "python-bot", env=env)
    if args.keep:
        print(f"\nKept {repo}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
