"""Whether `.mfops/` may be used: repository content is untrusted, local state is not.

A pull request can commit a `.mfops/` (or a symlink named so) holding forged build records,
verdicts or caches, or pointing writes elsewhere. mfops uses the folder only when it is a
real directory that git does not track and that holds no symlinks. Writer commands refuse to
run otherwise (`UntrustedStateDir`, exit 2); read-only commands carry on without the folder
and say so once.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from mfops.errors import EXIT_USAGE, MfopsError
from mfops.repo.gitstore import GitStore

STATE_DIR = ".mfops"

_warned = False


class UntrustedStateDir(MfopsError):
    """`.mfops/` is tracked by git, a symlink, or holds one: it cannot be trusted."""

    exit_code = EXIT_USAGE


def _problem(root: Path) -> str | None:
    """Why `root/.mfops` may not be used, or None when it may (absent counts as usable)."""
    state = root / STATE_DIR
    try:
        st = os.lstat(state)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return f"{state} is a symlink"
    if not stat.S_ISDIR(st.st_mode):
        return f"{state} is not a directory"
    for top, dirs, files in os.walk(state):
        for name in dirs + files:
            if os.path.islink(os.path.join(top, name)):
                return f"{os.path.join(top, name)} is a symlink"
    git_root = next((d for d in (root, *root.parents) if (d / ".git").exists()), None)
    if git_root is not None:
        rel = state.relative_to(git_root).as_posix()
        try:
            tracked = GitStore(git_root).tracked(rel)
        except MfopsError:
            tracked = False  # git cannot tell (no git at all): nothing is tracked then
        if tracked:
            return f"{state} is tracked by git"
    return None


def check_state_dir(root: Path, *, writer: bool) -> bool:
    """True when `root/.mfops` may be used (absent, or a real, untracked, link-free folder).

    Otherwise a writer raises UntrustedStateDir; a reader gets False and one warning per
    process on the "mfops" logger.
    """
    global _warned
    problem = _problem(Path(root))
    if problem is None:
        return True
    if writer:
        raise UntrustedStateDir(
            f"refusing to use {problem}: it could hold forged state",
            hint=f"remove it from the repository (git rm -r --cached {STATE_DIR}) and delete it",
        )
    if not _warned:
        _warned = True
        logging.getLogger("mfops").warning(
            "ignoring %s: it could hold forged state (its records and cache are not used)",
            problem,
        )
    return False


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open that refuses to follow a symlink at the last component (OSError ELOOP)."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode)
