"""The errors a user can cause, as one typed hierarchy.

Library code raises these and never prints; the CLI maps each to one line on stderr and an
exit code (see `exit_code`). Each subclass carries structured fields so that tools (lint's
JSON output, the GitHub annotations) can point at the exact place, and its `str()` is the
one line a person reads: where, what, and when useful what to do next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Exit codes shared by every command (architecture.md, "Exit codes").
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
#: stdout (or stderr) was closed by its reader (`mfops ... | head`): 128 + SIGPIPE, the
#: status a shell shows for git or coreutils in that place (OutputClosed).
EXIT_OUTPUT_CLOSED = 141

#: How to get rid of a `.mfops/` that mfops will not trust (tracked, or holding symlinks).
CLEAN_STATE_DIR = "git rm -r --cached .mfops && rm -rf .mfops"


class OutputClosed(Exception):
    """The reader of mfops' output went away (EPIPE on stdout or stderr): `mfops ... | head
    -c 1`, a CI log reader that died. mfops then behaves as git and coreutils do, which a
    SIGPIPE stops at the first write that fails: it stops, prints nothing more and exits
    EXIT_OUTPUT_CLOSED (141, 128 + SIGPIPE, as mfops exits 128 + N on the other signals).
    Not 0: the output the caller asked for was not all delivered, and a command that did
    not finish its work must not look like one that passed; a shard's report says the same
    (cli/commands/shardopts.py). Not click's own answer to EPIPE (exit 1): that is the code
    of a check that said no. Raised by the CLI (main.LazyGroup) for the BrokenPipeError a
    write to stdout or stderr raises; a broken connection to a server is a ConnectionError
    the server layer turns into a ServerError, never this."""

    why = "stopped: its output was closed (broken pipe)"
    exit_code = EXIT_OUTPUT_CLOSED


class MfopsError(Exception):
    """Base of every error a user can cause; the CLI shows `str(err)` and exits `exit_code`."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


def _where(path: str | None, line: int | None, column: int | None = None) -> str:
    """`path:line:col` with the parts that are known; '' when nothing is."""
    parts = [path or "<string>"]
    if line is not None:
        parts.append(str(line))
        if column is not None:
            parts.append(str(column))
    return ":".join(parts)


class LocatedError(MfopsError):
    """An error at a place in a file: `str()` reads `path:line: message`."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        return _where(self.path, self.line)

    def __str__(self) -> str:
        return f"{self.location}: {MfopsError.__str__(self)}"


class ModelfileError(LocatedError):
    """A Modelfile that Ollama would reject (grammar, or a value it cannot convert).

    `ollama_message` is the text Ollama itself prints for the same input (its line numbers
    included, which are off for CRLF files); `message` is mfops' own wording with the true
    line in `line` and `column`.
    """

    def __init__(self, message: str, *, ollama_message: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.ollama_message = ollama_message if ollama_message is not None else message


class ConfigError(LocatedError):
    """`mfops.yaml`, the lock, the state or a suite file is malformed."""


class RefError(MfopsError):
    """A git ref that does not name a commit in this repository."""


class RepoError(MfopsError):
    """The repository as a whole is unusable (no root, two files claiming one name, ...)."""


class GraphError(MfopsError):
    """The inheritance graph is broken: a cycle, FROM itself, a missing or escaping path."""


class UnknownModelError(MfopsError):
    """A model name that the repo does not define."""


class ServerError(MfopsError):
    """The Ollama server is unreachable or answered with an error."""


class CheckFailed(MfopsError):
    """A check said no (lint errors, failed tests, a failed build): exit 1."""

    exit_code = EXIT_CHECK_FAILED


class LockBusy(MfopsError):
    """Another mfops process is writing this repository and did not finish in time (exit 2).

    `holder` is the other process as it described itself in the lock file
    (mfops.store.writerlock.Holder, or None when it could not be read); the message names it
    so the user knows what to wait for or stop.
    """

    def __init__(self, path: object, holder: object | None, waited: float) -> None:
        who = holder.describe() if holder is not None else "another mfops process"  # type: ignore[attr-defined]
        after = f" (gave up after {waited:g}s)" if waited else ""
        super().__init__(
            f"{path} is held by {who}: another mfops is writing this repository{after}",
            hint="wait for it to finish, or set MFOPS_LOCK_TIMEOUT to wait longer "
            "(unset: as long as it takes)",
        )
        self.path = path
        self.holder = holder
        self.waited = waited


class UntrustedStateDir(MfopsError):
    """`.mfops/` is tracked by git or holds symlinks: mfops will not write or trust it."""

    def __init__(self, state_dir: Path, reason: str) -> None:
        super().__init__(
            f"{state_dir}: {reason}; mfops keeps only local state there and will not use it",
            hint=f"remove it: {CLEAN_STATE_DIR}",
        )
        self.state_dir = state_dir
        self.reason = reason
