"""Report files (`--junit PATH`, `$GITHUB_STEP_SUMMARY`) are checked before any work.

A report is written at the end of a command, after the tags moved. A path that cannot be
written discovered only then would fail a run whose release already happened, and tell the
user so with a traceback. `check_report_path` finds the usual mistakes first (a folder that
does not exist, a directory, no write permission, a symlink, which `write_atomic` would not
follow) without creating anything, so a bad path is one line and exit 2 before the server is
even asked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mfops.errors import MfopsError

#: The environment variable GitHub Actions names the job summary file with.
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def report_problem(path: Path, *, follow_links: bool = False) -> str | None:
    """Why `path` cannot be (re)written as a report; None when it can."""
    try:
        st = os.stat(path) if follow_links else os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as err:
        return err.strerror or str(err)
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            return "is a symlink (reports are not written through links)"
        if stat.S_ISDIR(st.st_mode):
            return "is a directory"
        if not stat.S_ISREG(st.st_mode):
            return "is not a regular file"
        if not os.access(path, os.W_OK):
            return "is not writable"
    parent = Path(os.path.abspath(path)).parent
    if not parent.is_dir():
        return f"its folder {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"its folder {parent} is not writable"
    return None


def check_report_path(path: Path | None, what: str, *, follow_links: bool = False) -> None:
    """Raise a one-line MfopsError (exit 2) when `path` cannot be written; None is fine."""
    if path is None:
        return
    problem = report_problem(path, follow_links=follow_links)
    if problem is not None:
        raise MfopsError(f"{what} {path}: {problem}", hint="nothing was done")


def step_summary_path(environ: dict[str, str] | None = None) -> Path | None:
    """`$GITHUB_STEP_SUMMARY` as a path (None when unset or empty)."""
    raw = (environ if environ is not None else os.environ).get(STEP_SUMMARY_ENV, "")
    return Path(raw) if raw else None


def check_step_summary() -> Path | None:
    """The step summary file, checked (the runner makes it; appended to, links followed)."""
    path = step_summary_path()
    check_report_path(path, f"${STEP_SUMMARY_ENV}", follow_links=True)
    return path


def report_write_error(path: Path, what: str, err: OSError) -> MfopsError:
    """The one line for a report that could not be written after all (disk full, ...)."""
    return MfopsError(f"{what} {path}: cannot write: {err.strerror or err}")
