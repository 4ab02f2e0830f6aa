"""`mfops init --ci github` writes the mfops requirement from how mfops was installed, and the
line it writes installs in that situation (all offline: `--no-index`, local git and wheels).

- a VCS install (`pip install "mfops @ git+file://BARE@COMMIT"`): the workflow gets
  `mfops @ git+file://BARE@COMMIT`, and pip installs exactly that commit from it;
- a release (installed from an index, here `--find-links` of a locally built wheel): the
  workflow gets `mfops==VERSION`, which installs from that index;
- the editable checkout the tests run from: a marked placeholder, which the workflow's own
  install step refuses with instructions.

An installed copy is run with `python -S` and PYTHONPATH=<target>:<this venv's site-packages>,
so the editable mfops of this venv (its `.pth` finder) is not in the way and the copy's own
metadata is the first found.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mfops.install import PLACEHOLDER, install_line

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "ci" / "github" / ".github" / "workflows" / "mfops.yml"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
OFFLINE = ["--no-index", "--no-build-isolation", "--no-deps"]


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="module", name="source")
def source_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This source tree (tracked and untracked files, as they are now) committed into a
    fresh repository and cloned bare: (bare repo, commit)."""
    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("mfops-src")
    work = base / "work"
    listed = _git(ROOT, "ls-files", "-co", "--exclude-standard").splitlines()
    for rel in listed:
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    _git(work.parent, "init", "-q", "-b", "main", str(work))
    _git(work, "add", "-A", "-f")
    _git(work, "commit", "-q", "-m", "snapshot")
    commit = _git(work, "rev-parse", "HEAD")
    _git(base, "clone", "-q", "--bare", str(work), str(base / "mfops.git"))
    return base / "mfops.git", commit


def _pip(*args: str) -> None:
    done = subprocess.run([*PIP, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _run_copy(target: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mfops ARGV` from the copy installed in `target` (module docstring)."""
    paths = [str(target), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    code = "import sys; from mfops.cli.main import main; sys.argv[0] = 'mfops'; main()"
    return subprocess.run(
        [sys.executable, "-S", "-c", code, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _written_requirement(repo: Path) -> str:
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "mfops.yml").read_text())
    return workflow["env"]["MFOPS_INSTALL"]


def _direct_url(target: Path) -> dict | None:
    (info,) = target.glob("mfops-*.dist-info")
    path = info / "direct_url.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_a_vcs_install_writes_its_url_and_commit_and_that_installs(
    source: tuple[Path, str], tmp_path: Path
):
    bare, commit = source
    # `file://localhost/...`: the pip of older Pythons refuses a `file:///` URL in a requirement
    url = f"git+file://localhost{bare.as_posix()}@{commit}"
    first = tmp_path / "first"
    _pip("install", *OFFLINE, "--target", str(first), f"mfops @ {url}")
    done = _run_copy(first, "init", "models", "--ci", "github", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = _written_requirement(tmp_path / "models")
    assert written == f"mfops @ {url}"
    assert f"the workflow installs: mfops @ {url}" in done.stdout
    assert "a CI runner cannot reach it" in done.stderr  # a file:// URL is local
    second = tmp_path / "second"
    _pip("install", *OFFLINE, "--target", str(second), written)
    assert (_direct_url(second) or {})["vcs_info"]["commit_id"] == commit


def test_a_release_writes_its_version_and_that_installs(source: tuple[Path, str], tmp_path: Path):
    bare, _ = source
    wheels = tmp_path / "index"
    _pip("wheel", *OFFLINE, "-w", str(wheels), f"git+file://localhost{bare.as_posix()}")
    (wheel,) = wheels.glob("mfops-*.whl")
    version = wheel.name.split("-")[1]
    first = tmp_path / "first"
    _pip("install", *OFFLINE, "--find-links", str(wheels), "--target", str(first), "mfops")
    assert _direct_url(first) is None  # from an index: no direct URL recorded
    done = _run_copy(first, "init", "models", "--ci", "github", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = _written_requirement(tmp_path / "models")
    assert written == f"mfops=={version}"
    assert "note:" not in done.stderr
    second = tmp_path / "second"
    _pip("install", *OFFLINE, "--find-links", str(wheels), "--target", str(second), written)
    assert list(second.glob(f"mfops-{version}.dist-info"))


def test_an_editable_checkout_writes_a_placeholder_the_workflow_refuses(tmp_path: Path):
    line = install_line()  # this test run: the editable install of the checkout
    assert (line.kind, line.requirement) == ("local", PLACEHOLDER)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["mfops", "init", "models", "--ci", "github"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "the workflow installs: nothing yet (MFOPS_INSTALL is a placeholder)" in done.stdout
    assert "note: mfops runs from an editable checkout, which CI cannot install" in done.stderr
    assert _written_requirement(tmp_path / "models") == PLACEHOLDER
    workflow = yaml.safe_load((tmp_path / "models" / ".github/workflows/mfops.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["gate"]["steps"] if s.get("id") == "setup-mfops"]
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        env={**os.environ, "MFOPS_INSTALL": PLACEHOLDER},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.startswith("::error::MFOPS_INSTALL in .github/workflows/mfops.yml is a")


def test_the_template_holds_the_token_not_a_version():
    text = TEMPLATE.read_text()
    assert 'MFOPS_INSTALL: "@MFOPS_INSTALL@"' in text
    assert "mfops==" not in text.replace("mfops==X.Y.Z", "")
