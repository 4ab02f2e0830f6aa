"""Shell completion as the README documents it: `_MFOPS_COMPLETE=bash_source mfops`.

The installed `mfops` is run as a subprocess (completion happens before any command runs,
inside click), and for bash the printed script is sourced in a real bash and its completion
function called the way bash calls it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MFOPS = Path(sys.executable).parent / "mfops"


def complete(words: str, cword: int) -> list[str]:
    env = {
        **os.environ,
        "_MFOPS_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    done = subprocess.run(
        [str(MFOPS)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_commands_options_and_choices_complete():
    assert complete("mfops bu", 1) == ["plain,build"]
    assert complete("mfops sch", 1) == ["plain,schema"]
    assert "plain,--format" in complete("mfops build --fo", 2)
    assert complete("mfops schema ", 2) == ["plain,config", "plain,suite"]
    assert "plain,--tag" in complete("mfops gate --t", 2)
    assert "plain,--candidate-tag" not in complete("mfops gate --", 2)  # hidden alias


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_documented_shell_gets_a_script(shell: str):
    env = {**os.environ, "_MFOPS_COMPLETE": f"{shell}_source"}
    done = subprocess.run(
        [str(MFOPS)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "_mfops_completion" in done.stdout


def test_bash_completes_through_the_sourced_script():
    bash = shutil.which("bash")
    if bash is None:  # pragma: no cover
        pytest.skip("bash is not installed")
    script = (
        'eval "$(_MFOPS_COMPLETE=bash_source mfops)"\n'
        "COMP_WORDS=(mfops promo); COMP_CWORD=1; _mfops_completion mfops\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{MFOPS.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [bash, "--norc", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["promote"]
