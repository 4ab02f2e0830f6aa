"""Real git repositories in temporary directories, for tests (style.md habit 10: never mock git).

`GitRepo(path)` runs `git init` there and offers the few verbs tests need: write files,
commit, tag, branch, remove, rename, symlink. The git CLI is used directly (not mfops, not
gitpython) so the code under test never builds its own fixtures. Identity, default branch and
commit dates are fixed through the environment and the user's and system's git config is
ignored, so the tests behave the same on a laptop and on a CI machine without git config,
and the same content always gives the same commit SHAs.

The `git_repo` fixture gives a fresh, empty repo at `tmp_path / "repo"`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

_BASE_TIME = 1_700_000_000  # commit dates count up from here, one second per commit

GIT_ENV = {
    "GIT_AUTHOR_NAME": "mfops tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "mfops tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


class GitRepo:
    """A git work tree at `root` with a `main` branch."""

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._commits = 0
        self.git("init", "--quiet", f"--initial-branch={branch}")

    @property
    def path(self) -> Path:
        return self.root

    def git(self, *args: str, check: bool = True) -> str:
        """Run git in the repo and return its stdout."""
        when = f"@{_BASE_TIME + self._commits} +0000"
        env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        done = subprocess.run(
            ["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    # -- files -------------------------------------------------------------------------

    def write(self, path: str, content: str | bytes = "") -> Path:
        """Create or replace a file (parents created); str is written as UTF-8, as given."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        target.write_bytes(data)
        return target

    def read(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf-8")

    def symlink(self, path: str, target: str) -> Path:
        """Make `path` a symlink whose content is `target` (as written, relative or not)."""
        link = self.root / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(target, link)
        return link

    def rm(self, path: str) -> None:
        """Delete a file from the work tree and the index."""
        self.git("rm", "-r", "--quiet", "--", path)

    def mv(self, src: str, dst: str) -> None:
        (self.root / dst).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", "--", src, dst)

    # -- history -----------------------------------------------------------------------

    def commit(self, message: str = "change", *, add_all: bool = True) -> str:
        """Commit everything in the work tree (or only what is staged); return the SHA."""
        if add_all:
            self.git("add", "--all")
        self._commits += 1
        self.git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message)
        return self.head()

    def tag(self, name: str, ref: str = "HEAD", *, message: str | None = None) -> None:
        """A lightweight tag, or an annotated one when `message` is given."""
        if message is None:
            self.git("tag", name, ref)
        else:
            self.git("tag", "-a", name, "-m", message, ref)

    def branch(self, name: str, ref: str = "HEAD", *, switch: bool = False) -> None:
        self.git("branch", name, ref)
        if switch:
            self.switch(name)

    def switch(self, name: str) -> None:
        self.git("switch", "--quiet", name)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def rev(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    def status(self) -> str:
        """`git status --porcelain` including untracked and ignored files."""
        return self.git("status", "--porcelain", "--untracked-files=all", "--ignored")


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """An empty git repository at `tmp_path / "repo"` with a `main` branch."""
    return GitRepo(tmp_path / "repo")
