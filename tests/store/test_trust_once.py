"""The trust check of `.mfops/` (store/trust.py: `git ls-files -- .mfops` and a walk of the
folder) runs once per command invocation, not once per use (a build used to run it three
times: the cache, the writer lock, the build records), and not once per process: commands
run in one process (CliRunner, here) each check again, so a `.mfops/` made untrusted
between two of them is refused by the second."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mfops.store.invocation import command_invocation
from mfops.store.trust import check_state_dir
from tests.cli_runner import invoke_mfops
from tests.gitrepo import GitRepo
from tests.promotekit import (  # noqa: F401  (fixtures)
    Release,
    release_fixture,
    seeded_fixture,
)

CLEAN_HINT = "git rm -r --cached .mfops && rm -rf .mfops"


@pytest.fixture
def ls_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders in which `git ls-files -z -- .mfops` ran (the trust check's git part)."""
    runs: list[Path] = []
    real = subprocess.run

    def run(args: Any, *rest: Any, **kwargs: Any) -> Any:
        if list(args)[:2] == ["git", "ls-files"] and ".mfops" in list(args):
            runs.append(Path(kwargs.get("cwd") or "."))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    return runs


def test_a_build_checks_the_state_dir_once(rel: Release, ls_files: list[Path]):
    rel.commit({"expert/Modelfile": "FROM base\nSYSTEM Changed.\n"})
    code, out, err = rel.mfops("build", "--all")
    assert code == 0, out + err
    assert ls_files == [rel.root]


def test_a_state_dir_tracked_between_two_commands_is_refused_by_the_second(
    rel: Release, ls_files: list[Path]
):
    code, out, err = rel.mfops("build", "--all")
    assert code == 0, out + err
    rel.repo.git("add", "-f", ".mfops")
    rel.repo.commit("oops: state committed")
    code, _, err = rel.mfops("build", "--all")
    assert code == 2
    assert err.strip().splitlines() == [
        f"mfops: {rel.root / '.mfops'}: is tracked by git; mfops keeps only local state "
        f"there and will not use it (remove it: {CLEAN_HINT})"
    ]
    assert ls_files == [rel.root, rel.root]


def test_a_state_dir_replaced_by_a_symlink_between_two_commands_is_refused(
    rel: Release, tmp_path: Path
):
    code, out, err = rel.mfops("build", "--all")
    assert code == 0, out + err
    state = rel.root / ".mfops"
    moved = tmp_path / "elsewhere"
    state.rename(moved)
    state.symlink_to(moved, target_is_directory=True)
    code, _, err = rel.mfops("build", "--all")
    assert code == 2
    assert f"{state}: is a symlink" in err


def test_within_one_invocation_the_answer_is_kept_and_outside_it_is_not(
    tmp_path: Path, ls_files: list[Path]
):
    repo = GitRepo(tmp_path / "r")
    (repo.root / ".mfops").mkdir()
    (repo.root / ".mfops" / "x").write_text("x\n")
    with command_invocation():
        assert check_state_dir(repo.root, writer=True)
        assert check_state_dir(repo.root, writer=False)
        assert check_state_dir(repo.root / ".", writer=True)  # the same folder
    assert len(ls_files) == 1
    repo.git("add", "-f", ".mfops")
    with command_invocation():  # a new invocation looks again
        assert check_state_dir(repo.root, writer=False) is False
    assert check_state_dir(repo.root, writer=False) is False  # no invocation: every time
    assert len(ls_files) == 3


def test_a_reader_warns_once_per_command(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """`ls` ignores an untrusted `.mfops/` with one warning, and so does the next `ls` run
    in the same process (the warning, like the check, is per command)."""
    repo = GitRepo(tmp_path / "r")
    repo.write("a/Modelfile", "FROM llama3.2\n")
    repo.commit("one")
    (tmp_path / "elsewhere").mkdir()
    (repo.root / ".mfops").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for _ in range(2):
        code, out, err = invoke_mfops("-C", str(repo.root), "ls")
        assert code == 0, out + err
        assert "a" in out.split()
    warnings = [r.getMessage() for r in caplog.records if r.name == "mfops"]
    assert len(warnings) == 2
    assert all(w.startswith(f"ignoring {repo.root / '.mfops'}: it is a symlink") for w in warnings)
