"""Every ```sh block of the README runs, as written, in bash.

The `mfops` the blocks run is a wheel built from these sources and installed into a fresh
virtualenv with `--no-index` (nothing is downloaded; its dependencies come from this test
environment through a `.pth` file, which does not bring this environment's editable mfops
along). The Ollama the blocks assume is the test double (`OLLAMA_HOST`). Each block runs in
its own empty directory; git identity comes from the environment, and `core.abbrev` is set
to an unusual length so that no example depends on it.

Lines that only make sense online or elsewhere are listed in EXEMPT with the reason; they are
removed from their block before it runs. The test finds the blocks by their fences, so it
follows the README as other sections change; a new line that cannot run here fails until it
is listed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.buildkit import ollama_double_fixture  # noqa: F401  (fixture)
from tests.gitrepo import GIT_ENV
from tests.wheelkit import build_wheel

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

_ORIGIN = (
    "runs in the reader's repository against its `origin` remote (tests/release/"
    "test_release_state.py fetches, pushes and syncs records between clones of a bare remote)"
)

#: line (as written, comment included) -> why it does not run here.
EXEMPT = {
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && "
    ".venv/bin/python -m pytest -q": "runs this very test suite; downloads packages",
    "pip install mfops            # or, from a checkout: pip install .": "needs a package index",
    "python -m mfops.testing --registry llama3.2:3b     # prints its URL, serves until Ctrl-C": (
        "serves until Ctrl-C (tests/testing/ runs the double)"
    ),
    "OLLAMA_HOST=http://127.0.0.1:PORT mfops lock --pull && mfops gate --all": "runs in the "
    "reader's own repository against the port the line above printed (the quick start runs "
    "lock --pull and the release path against the double)",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'": "a checkout's "
    "development set-up: downloads packages",
    ".venv/bin/python -m pytest -q                                   # the tests "
    "(tests/<subpackage>/)": "runs this very test suite",
    ".venv/bin/ruff format --check . && .venv/bin/ruff check .       # format and lint": "a "
    "checkout's development check (run by CI on the checkout)",
    ".venv/bin/python -m mypy                                        # types: strict for the "
    "core": "a checkout's development check (run by CI on the checkout)",
    ".venv/bin/python benchmarks/parse.py                            # start-up and parse "
    "timings": "a checkout's benchmark (benchmarks/ is not installed)",
    'eval "$(_MFOPS_COMPLETE=zsh_source mfops)"           # ~/.zshrc': "zsh's start-up "
    "file (tests/test_completion.py checks the zsh script)",
    "_MFOPS_COMPLETE=fish_source mfops | source           # ~/.config/fish/completions/"
    "mfops.fish": "fish's start-up file (tests/test_completion.py checks the fish script)",
    "git fetch origin '+refs/mfops/history:refs/mfops/remotes/origin'   # others' records": (
        _ORIGIN
    ),
    "git push origin refs/mfops/history                                 # yours": _ORIGIN,
    "mfops history --sync origin     # or both: fetch, merge, push (retried if someone raced "
    "you)": _ORIGIN,
    "mfops export helm-values --tag v1.2 -o values-models.yaml": "needs a release v1.2 in the "
    "reader's records (tests/release/test_helm.py makes one, exports it and runs the chart's "
    "start-up with the ollama CLI)",
    "helm upgrade --install ollama otwld/ollama -f values-models.yaml   # your cluster": "needs "
    "helm and a Kubernetes cluster",
}


#: line (as written) -> (what runs in its place, why). The wheel installed offline stands in
#: for a regular `pip install`, so what the line then runs is run with it.
STANDS_IN = {
    "python3 -m venv .venv && .venv/bin/pip install -q '.[test]' && .venv/bin/mfops demo": (
        "mfops demo",
        "a regular install from the checkout: the offline wheel is that install here",
    ),
}


def blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.DOTALL)


def runnable(block: str) -> str:
    return "\n".join(
        STANDS_IN[line.strip()][0] if line.strip() in STANDS_IN else line
        for line in block.splitlines()
        if line.strip() not in EXEMPT
    )


@pytest.fixture(scope="module", name="installed")
def installed_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with mfops installed from a wheel of these sources (offline); its bin/."""
    base = tmp_path_factory.mktemp("readme-wheel")
    wheel = build_wheel(base)  # the package and the data it ships (templates, examples)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    offline = ["--no-index", "--no-deps", "--no-build-isolation"]
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    done = subprocess.run(  # `--python`: the script's shebang names the venv's interpreter
        [*pip[:3], "--python", str(vpy), *pip[3:], "install", *offline, str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the dependencies: this environment's site-packages, after the venv's own
    (Path(purelib) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = subprocess.run(
        [str(vpy), "-c", "import mfops; print(mfops.__file__)"],
        cwd=base,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.startswith(str(venv)), check.stdout  # the wheel's, not the checkout's
    return venv / "bin"


def test_every_exempt_line_is_still_in_the_readme():
    lines = {line.strip() for block in blocks() for line in block.splitlines()}
    assert set(EXEMPT) | set(STANDS_IN) <= lines, (set(EXEMPT) | set(STANDS_IN)) - lines


@pytest.mark.parametrize("index", range(len(blocks())))
def test_the_block_runs(index: int, installed: Path, tmp_path: Path, ollama_double):
    script = runnable(blocks()[index])
    if not script.strip() or all(
        not line.strip() or line.strip().startswith("#") for line in script.splitlines()
    ):
        pytest.skip("every line of this block is exempt")
    env = {
        **os.environ,
        **GIT_ENV,
        "OLLAMA_HOST": ollama_double.url,
        "PATH": f"{installed}{os.pathsep}{os.environ['PATH']}",
        # no example may depend on how git abbreviates commits
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.abbrev",
        "GIT_CONFIG_VALUE_0": "11",
    }
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"block {index}:\n{script}\n---\n{done.stdout}{done.stderr}"


def test_the_quick_start_releases_both_models(installed: Path, tmp_path: Path, ollama_double):
    """The quick start's block ends with both starter models released at v0.1.0."""
    (block,) = [b for b in blocks() if "mfops init my-models" in b]
    env = {
        **os.environ,
        **GIT_ENV,
        "OLLAMA_HOST": ollama_double.url,
        "PATH": f"{installed}{os.pathsep}{os.environ['PATH']}",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.abbrev",
        "GIT_CONFIG_VALUE_0": "11",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", runnable(block)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("company-bot", "expert"):
        assert ollama_double.has_model(f"{name}:v0.1.0"), ollama_double.model_names()
