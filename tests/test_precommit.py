"""The pre-commit hooks (`.pre-commit-hooks.yaml`): mfops-fmt and mfops-lint.

pre-commit installs a `language: python` hook by creating a virtualenv and pip-installing the
hook's repository, which downloads mfops' dependencies: that cannot run offline. So the
manifest is checked with pre-commit's own loader, and the hooks are run by pre-commit itself
from a `repo: local` configuration that copies each hook's definition (entry, files, types,
...) unchanged except `language: system` (the installed `mfops` is used instead of a fresh
virtualenv). Only the install step is not exercised. A second test runs the declared entries
directly on the files the `files` pattern selects, without pre-commit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
UGLY = "from llama3.2\nparameter temperature 0.5\nsystem Be brief.\n"
PRETTY = "FROM llama3.2\nPARAMETER temperature 0.5\nSYSTEM Be brief.\n"
BROKEN = "FROM ./missing.gguf\nSYSTEM x\n"  # MF204: an error lint must stop the commit on


def hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text())}


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    env["NO_COLOR"] = "1"
    return env


def test_the_manifest_declares_both_hooks():
    found = hooks()
    assert set(found) == {"mfops-fmt", "mfops-lint"}
    assert found["mfops-fmt"]["entry"] == "mfops fmt"
    assert found["mfops-lint"]["entry"] == "mfops lint"
    for hook in found.values():
        assert hook["language"] == "python"  # installs mfops from the hook's repository
        pattern = re.compile(hook["files"])
        for path in ("Modelfile", "expert/Modelfile", "Base.Modelfile", "a/b/x.Modelfile"):
            assert pattern.search(path), path
        for path in ("Modelfile.draft", "README.md", "xModelfile", "Modelfile/x"):
            assert not pattern.search(path), path


def test_pre_commit_accepts_the_manifest():
    clientlib = pytest.importorskip("pre_commit.clientlib")
    loaded = clientlib.load_manifest(str(MANIFEST))
    assert [h["id"] for h in loaded] == ["mfops-fmt", "mfops-lint"]


def _repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "models")
    repo.write("base/Modelfile", UGLY)
    repo.write("README.md", "not a Modelfile\n")
    return repo


def test_pre_commit_runs_the_hooks(tmp_path: Path):
    pytest.importorskip("pre_commit")
    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("git is not installed")
    repo = _repo(tmp_path)
    local = []
    for hook in hooks().values():
        copy = {k: v for k, v in hook.items() if k != "description"}
        copy["language"] = "system"  # see the module docstring
        local.append(copy)
    config = {"repos": [{"repo": "local", "hooks": local}]}
    repo.write(".pre-commit-config.yaml", yaml.safe_dump(config, sort_keys=False))
    repo.git("add", "-A")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--all-files"],
            cwd=repo.root,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            check=False,
        )

    done = run()
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"mfops fmt\.+Failed", done.stdout)
    assert "files were modified by this hook" in done.stdout
    assert repo.read("base/Modelfile") == PRETTY
    repo.git("add", "-A")
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"mfops fmt\.+Passed", done.stdout)
    assert re.search(r"mfops lint\.+Passed", done.stdout)
    repo.write("broken/Modelfile", BROKEN)
    repo.git("add", "-A")
    done = run()
    assert done.returncode == 1
    assert re.search(r"mfops lint\.+Failed", done.stdout)
    assert "broken/Modelfile:1:6: MF204 error: FROM path does not exist" in done.stdout


def test_the_declared_entries_work_on_the_files_they_select(tmp_path: Path):
    """The same hooks without pre-commit: entry + the files `files` selects."""
    repo = _repo(tmp_path)
    repo.write("broken/Modelfile", BROKEN)
    files = ["README.md", "base/Modelfile", "broken/Modelfile"]

    def run(hook: dict) -> subprocess.CompletedProcess[str]:
        chosen = [f for f in files if re.search(hook["files"], f)]
        assert chosen == ["base/Modelfile", "broken/Modelfile"]
        return subprocess.run(
            [*hook["entry"].split(), *chosen],
            cwd=repo.root,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            check=False,
        )

    found = hooks()
    done = run(found["mfops-lint"])
    assert done.returncode == 1
    assert "broken/Modelfile:1:6: MF204 error" in done.stdout
    repo.write("broken/Modelfile", "FROM llama3.2\n")
    done = run(found["mfops-fmt"])
    assert done.returncode == 0, done.stderr
    assert repo.read("base/Modelfile") == PRETTY
