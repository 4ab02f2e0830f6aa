"""Reading a git repository's object database through git's plumbing: refs, trees, blobs, tags.

A snapshot at a ref must never touch the working tree or the index (no checkout, no stash):
the user may have uncommitted work, and CI may run several snapshots at once. Everything here
reads objects directly: one `git ls-tree` lists a whole tree, one `git cat-file --batch` reads
any number of blobs, and large blobs are streamed from `git cat-file blob`. Measured on
10,000 small Modelfiles: listing ~10 ms, batch read ~25 ms.

Refs come from users (`mfops diff v1.0`), so they are checked before git sees them: nothing
that could be read as an option, a range or a path, only names, SHAs and `~N`/`^N` suffixes.

This is the one module that runs git for the repository layer (the exceptions, checked by
tests/test_architecture.py: `store.trust`'s `git ls-files` and the demo's scratch repository).
It does not import gitpython: the import alone took ~70 ms, as long as the interpreter's
start-up, and plain subprocesses do the same work.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mfops.errors import RefError, RepoError

#: ls-tree modes
MODE_TREE = "040000"
MODE_LINK = "120000"
MODE_COMMIT = "160000"

_REF = re.compile(r"(?P<base>[^~^]*)(?P<ancestry>(?:[~^][0-9]*)*)\Z")
_FORBIDDEN = {":": "':'", "?": "'?'", "*": "'*'", "[": "'['", "\\": "'\\'"}
_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
#: Who writes mfops' record commits (CI runners often have no git identity configured).
_IDENTITY = {
    "GIT_AUTHOR_NAME": "mfops",
    "GIT_AUTHOR_EMAIL": "mfops@localhost",
    "GIT_COMMITTER_NAME": "mfops",
    "GIT_COMMITTER_EMAIL": "mfops@localhost",
}


#: How many hex digits of a commit a candidate tag carries (fixed: never `core.abbrev`).
SHORT_LEN = 12
#: `read_blob` keeps blobs up to this size, this many (mfops.yaml, locks, small prompts)
SMALL_BLOB = 64 * 1024
SMALL_BLOBS = 256


def short_commit(commit: str) -> str:
    """The commit as a candidate names it: its first 12 hex digits, whatever git's config."""
    return commit[:SHORT_LEN]


def validate_ref(ref: str) -> None:
    """Refuse, before git runs, anything but a ref name or SHA with `~N`/`^N` suffixes.

    The base follows git's ref-name rules (git check-ref-format), so what passes can never be
    taken by git for an option, a range (`a..b`), a path (`rev:path`), a reflog entry
    (`@{1}`) or a pattern.
    """
    if not ref:
        raise RefError("invalid ref '': empty")
    m = _REF.match(ref)
    if m is None:
        raise RefError(
            f"invalid ref {ref!r}: '~' and '^' may only end a ref, as in HEAD~2 or HEAD^"
        )
    base = m.group("base")
    reason = _ref_problem(base)
    if reason:
        raise RefError(f"invalid ref {ref!r}: {reason}")


def validate_remote(remote: str) -> None:
    """Refuse, before git runs, a remote that is not a configured remote's name (the same
    rules as a ref name: never an option, a path or a URL), saying it is a remote."""
    try:
        validate_ref(remote)
    except RefError:
        raise RefError(
            f"invalid remote {remote!r}: give the name of one of the repository's remotes",
            hint="`git remote -v` lists them; `git remote add NAME URL` adds one",
        ) from None


def _ref_problem(base: str) -> str | None:
    if not base:
        return "no name before '~' or '^'"
    if base.startswith("-"):
        return "refs may not start with '-' (it would read as an option)"
    for ch in base:
        if ch.isspace():
            return "refs may not contain spaces"
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return "refs may not contain control characters"
        if ch in _FORBIDDEN:
            return f"refs may not contain {_FORBIDDEN[ch]}"
    if ".." in base:
        return "ranges ('..') are not refs; give one version"
    if "@{" in base or base == "@":
        return "reflog syntax ('@{...}') is not supported"
    if base.startswith("/") or base.endswith("/") or "//" in base:
        return "misplaced '/'"
    if base.endswith(".") or base.endswith(".lock"):
        return "refs may not end with '.' or '.lock'"
    if any(part.startswith(".") for part in base.split("/")):
        return "ref components may not start with '.'"
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One ls-tree entry: git mode (`100644`, `100755`, `120000`, `040000`, `160000`), sha."""

    mode: str
    sha: str

    @property
    def is_link(self) -> bool:
        return self.mode == MODE_LINK

    @property
    def is_dir(self) -> bool:
        return self.mode == MODE_TREE

    @property
    def is_file(self) -> bool:
        return self.mode.startswith("100")


class Started:
    """A git command running in the background (GitStore.start); `result` waits for it."""

    def __init__(self, command: str, proc: subprocess.Popen[bytes]) -> None:
        self.command = command
        self.proc = proc

    def result(self) -> bytes:
        """Its output; a failure becomes RepoError with git's own last line."""
        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise _failed(self.command, err, self.proc.returncode)
        return out

    def close(self) -> None:
        """Stop it if it still runs and reap it (its answer is no longer wanted)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


class GitStore:
    """The git repository at `git_root`, read through the `git` command's plumbing.

    Plain subprocesses rather than gitpython: importing gitpython alone costs about as much
    as the interpreter's start-up, and every read here is one plumbing command anyway.
    """

    def __init__(self, git_root: Path) -> None:
        self.git_root = git_root
        #: small blobs already read, by object id (immutable): reading a file at a commit
        #: asks its size, then its content, often twice (mfops.lock by the graph and by
        #: the digests), one git process each
        self._small: dict[str, bytes] = {}

    def close(self) -> None:
        """Nothing stays open between commands (kept for callers that close a store)."""

    def _run(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> bytes:
        """Run one git command; a failure becomes RepoError with git's own last line."""
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.git_root,
                input=stdin,
                capture_output=True,
                env={**os.environ, **_ENV, **(env or {})},
                check=False,
            )
        except OSError as err:
            raise RepoError(f"cannot run git: {err.strerror or err}") from None
        if done.returncode != 0:
            raise _failed(args[0], done.stderr, done.returncode)
        return done.stdout

    def start(self, *args: str) -> Started:
        """Start one git command and return at once: git works in its own process while
        this one goes on (e.g. `git status` over 10,000 files while the graph loads)."""
        try:
            proc = subprocess.Popen(
                ["git", *args],
                cwd=self.git_root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **_ENV},
            )
        except OSError as err:
            raise RepoError(f"cannot run git: {err.strerror or err}") from None
        return Started(args[0], proc)

    # -- refs ------------------------------------------------------------------------

    def rev_parse(self, ref: str) -> str:
        """The full SHA of the commit `ref` names; RefError when there is none."""
        validate_ref(ref)
        try:
            out = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except RepoError:
            kind = self._object_type(ref)
            if kind is not None:  # a tag (or ref) that names a tree or a blob, not a commit
                raise RefError(
                    f"ref {ref!r} names a {kind}, not a commit",
                    hint="give a branch, a commit or a tag of a commit",
                ) from None
            raise RefError(f"unknown ref {ref!r}") from None
        return out.decode().strip()

    def rev_parse_all(self, refs: Sequence[str]) -> list[str]:
        """The full SHAs of the commits `refs` name, from one git process (`cat-file
        --batch-check`, which resolves names as `rev-parse` does): `diff A B` started two.
        A ref that does not name a commit gets `rev_parse`'s own error."""
        for ref in refs:
            validate_ref(ref)
        if len(refs) < 2:
            return [self.rev_parse(ref) for ref in refs]
        names = "".join(f"{ref}^{{commit}}\n" for ref in refs).encode()
        try:
            out = self._run("cat-file", "--batch-check=%(objectname) %(objecttype)", stdin=names)
        except RepoError:
            out = b""
        found = [line.split(" ") for line in out.decode().splitlines()]
        if len(found) != len(refs) or any(len(f) != 2 or f[1] != "commit" for f in found):
            return [self.rev_parse(ref) for ref in refs]  # (raises for the first bad one)
        return [sha for sha, _ in found]

    def _object_type(self, ref: str) -> str | None:
        """The type of the object `ref` finally names (tags peeled); None if nothing."""
        try:
            self._run("rev-parse", "--verify", "--quiet", ref)
            return self._run("cat-file", "-t", f"{ref}^{{}}").decode().strip() or None
        except RepoError:
            return None

    def head(self) -> str | None:
        try:
            return self.rev_parse("HEAD")
        except RefError:
            return None  # an unborn branch: no commit yet

    # -- mfops' own refs (release records) ----------------------------------------------

    def ref_target(self, ref: str) -> str | None:
        """The object a full ref name (`refs/mfops/history`) points at; None if absent."""
        try:
            out = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", ref)
        except RepoError:
            return None
        return out.decode().strip() or None

    def refs_under(self, prefix: str) -> dict[str, str]:
        """Every ref below `prefix` (`refs/mfops/remotes/`) and the object it points at."""
        out = self._run("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        pairs = (line.split(" ", 1) for line in out.decode("utf-8", "replace").splitlines())
        return {name: sha for name, sha in pairs}

    def commit_parents(self, tips: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        """(commit, parents) of every commit reachable from `tips`, newest first: no commit
        before its children, otherwise by commit time (parallel chains interleave)."""
        if not tips:
            return []
        out = self._run("rev-list", "--parents", "--date-order", *tips, "--")
        rows = []
        for line in out.decode().splitlines():
            commit, *parents = line.split()
            rows.append((commit, tuple(parents)))
        return rows

    def read_paths(self, specs: list[str]) -> list[bytes | None]:
        """The content of `<commit>:<path>` for each spec (None: no such blob), one process."""
        if not specs:
            return []
        out = self._run(
            "cat-file", "--batch", "--buffer", stdin="".join(f"{s}\n" for s in specs).encode()
        )
        found: list[bytes | None] = []
        pos = 0
        for _ in specs:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].split(b" ")
            if len(header) != 3 or header[1] != b"blob":
                found.append(None)
                pos = nl + 1
                if len(header) == 3:  # another kind of object: skip its content too
                    pos += int(header[2]) + 1
                continue
            size = int(header[2])
            found.append(out[nl + 1 : nl + 1 + size])
            pos = nl + 1 + size + 1
        return found

    def write_commit(self, files: dict[str, bytes], parents: list[str], message: str) -> str:
        """A new commit holding `files` (flat names), with `parents`; returns its SHA.

        Plumbing only (hash-object, mktree, commit-tree): no index, no work tree, no hooks.
        The identity is mfops' own, so a CI runner without `user.name` can write it."""
        entries = []
        for name, data in sorted(files.items()):
            sha = self._run("hash-object", "-w", "--stdin", stdin=data).decode().strip()
            entries.append(f"100644 blob {sha}\t{name}\n")
        tree = self._run("mktree", stdin="".join(entries).encode()).decode().strip()
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self._run(*args, stdin=message.encode(), env=_IDENTITY).decode().strip()

    def update_ref(self, ref: str, new: str, old: str | None) -> bool:
        """Compare-and-swap: point `ref` at `new` only if it still points at `old` (None: only
        if it does not exist). False when another writer got there first: the ref moved, or
        its lock file exists (git holds it while a write is under way; see `ref_lock`). Any
        other failure (a hook that refused, a permission) is RepoError with git's words,
        never a race to retry."""
        try:
            self._run("update-ref", "-m", "mfops record", ref, new, old or "0" * 40)
        except RepoError:
            if self.ref_target(ref) != old or self.ref_lock(ref) is not None:
                return False
            raise
        return True

    def ref_lock(self, ref: str) -> Path | None:
        """The lock file git writes beside `ref` for the moment of an update, when it exists.
        One left behind (a git killed mid-write) fails every later update of the ref with
        the same words as a writer holding it: only its staying there tells them apart."""
        common = self._run("rev-parse", "--git-common-dir").decode().strip()
        lock = self.git_root / common / f"{ref}.lock"
        return lock if lock.exists() else None

    def fetch_ref(self, remote: str, source: str, destination: str) -> bool:
        """`git fetch REMOTE +SOURCE:DESTINATION`; False when the remote has no SOURCE."""
        validate_remote(remote)
        try:
            self._run(
                "fetch",
                "--quiet",
                "--no-tags",
                "--end-of-options",
                remote,
                f"+{source}:{destination}",
            )
        except RepoError as err:
            if "couldn't find remote ref" in str(err).lower():
                return False
            raise
        return True

    def push_ref(self, remote: str, ref: str) -> bool:
        """`git push REMOTE REF:REF` (fast-forward only); False when the remote refused it
        because it moved on (fetch, merge, and try again)."""
        validate_remote(remote)
        try:
            self._run("push", "--quiet", "--end-of-options", remote, f"{ref}:{ref}")
        except RepoError as err:
            text = (err.stderr if isinstance(err, GitFailed) else str(err)).lower()
            # Lost a race: the remote's ref moved before the push (` ! [rejected] ... (fetch
            # first)`) or while it ran (`[remote rejected]`, the remote could not lock the
            # ref: "is at X but expected Y"); any other `[remote rejected]` is a refusal.
            moved = "[remote rejected]" in text and "cannot lock ref" in text
            if moved or "[rejected]" in text or "non-fast-forward" in text or "fetch first" in text:
                return False
            raise
        return True

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self._run("merge-base", "--is-ancestor", ancestor, descendant)
        except RepoError:
            return False
        return True

    def short(self, commit: str) -> str:
        return self._run("rev-parse", "--short=7", commit).decode().strip()

    def commit_time(self, commit: str) -> int:
        """When `commit` (a full SHA) was committed, in seconds since the epoch."""
        return int(self._run("show", "-s", "--format=%ct", commit).decode().strip())

    def tags(self, merged: str | None = None) -> list[str]:
        args = ["tag", "--list"]
        if merged is not None:
            args += ["--merged", merged]
        return [t for t in self._run(*args).decode("utf-8", "replace").splitlines() if t]

    def status(self, pathspecs: list[str]) -> bytes:
        return self.start_status(pathspecs).result()

    def start_status(self, pathspecs: list[str]) -> Started:
        return self.start("status", "--porcelain", "-z", "--untracked-files=all", "--", *pathspecs)

    def tracked(self, path: str) -> bool:
        """Whether git tracks anything at or under `path` (relative to the git root)."""
        out = self._run("ls-files", "-z", "--", f":(top,literal){path}")
        return bool(out)

    # -- trees and blobs -------------------------------------------------------------

    def ls_tree(self, commit: str, prefix: str) -> dict[str, Entry]:
        """Every entry (trees included) under `prefix` at `commit`, by path relative to it.

        A prefix that does not exist at that commit gives an empty listing: the mfops root
        had not been created yet, so that version holds no models.
        """
        treeish = f"{commit}:{prefix}" if prefix else commit
        try:
            out = self._run("ls-tree", "-r", "-t", "-z", "--full-tree", treeish)
        except RepoError:
            self._run("cat-file", "-e", commit)  # the commit itself must exist
            return {}
        entries: dict[str, Entry] = {}
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, _kind, sha = meta.split(b" ")
            entries[path.decode("utf-8", "surrogateescape")] = Entry(mode.decode(), sha.decode())
        return entries

    def read_blobs(self, shas: list[str]) -> list[bytes]:
        """The content of many blobs in one `git cat-file --batch` call, in order."""
        return list(self.iter_blobs(shas))

    def iter_blobs(self, shas: list[str]) -> Iterator[bytes]:
        """`read_blobs`, streamed: each blob as soon as git has written it, so that the
        caller parses one while git reads the next (git is another process: on 10,000
        blobs it spends as long as the parse). A thread feeds git the ids (more than a
        pipe holds); leaving the loop early stops git."""
        if not shas:
            return
        try:
            proc = subprocess.Popen(
                ["git", "cat-file", "--batch", "--buffer"],
                cwd=self.git_root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **_ENV},
                bufsize=1 << 16,
            )
        except OSError as err:
            raise RepoError(f"cannot run git: {err.strerror or err}") from None
        assert proc.stdin is not None and proc.stdout is not None
        stdin, out = proc.stdin, proc.stdout
        feed = "".join(f"{s}\n" for s in shas).encode()

        def write() -> None:
            try:
                stdin.write(feed)
            except OSError:
                pass  # git stopped reading: what it wrote says why
            finally:
                with contextlib.suppress(OSError):
                    stdin.close()

        writer = threading.Thread(target=write, name="mfops-cat-file", daemon=True)
        writer.start()
        try:
            for sha in shas:
                header = out.readline().split(b" ")
                if len(header) != 3:
                    if header[-1].strip() == b"missing":
                        raise RepoError(f"git object {sha} is missing from the object database")
                    raise RepoError(f"git cat-file failed: exit status {proc.wait()}")
                size = int(header[2])
                data = out.read(size)
                if len(data) != size or out.read(1) != b"\n":
                    raise RepoError(f"git cat-file failed: exit status {proc.wait()}")
                yield data
        finally:
            if proc.poll() is None:
                proc.kill()
            out.close()
            proc.wait()
            writer.join()

    def read_blob(self, sha: str) -> bytes:
        data = self._small.get(sha)
        if data is None:
            data = self._run("cat-file", "blob", sha)
            if len(data) <= SMALL_BLOB and len(self._small) < SMALL_BLOBS:
                self._small[sha] = data
        return data

    def blob_size(self, sha: str) -> int:
        data = self._small.get(sha)
        if data is not None:
            return len(data)
        return int(self._run("cat-file", "-s", sha).strip())

    def open_blob(self, sha: str) -> BlobStream:
        """A stream over one blob (`.read(n)`), for content too large to hold in memory."""
        return BlobStream(self.git_root, sha)


class BlobStream:
    """`git cat-file blob SHA` read as a file: `.read(n)`, a context manager, `close()`."""

    def __init__(self, git_root: Path, sha: str) -> None:
        self._proc = subprocess.Popen(
            ["git", "cat-file", "blob", sha],
            cwd=git_root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **_ENV},
        )
        assert self._proc.stdout is not None
        self._out: IO[bytes] = self._proc.stdout

    def read(self, n: int = -1) -> bytes:
        return self._out.read(n)

    def close(self) -> None:
        self._out.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GitFailed(RepoError):
    """A git command failed: the message shows one line of what git said, `stderr` all of
    it (what a push that lost a race says is in the middle, under advice)."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


def _failed(command: str, raw: bytes, status: int) -> GitFailed:
    """git's first `fatal:` line (its last line may be advice, such as "and the repository
    exists." under a remote that is not one), else its last line."""
    text = raw.decode("utf-8", "replace").strip()
    lines = text.splitlines()
    line = next((x for x in lines if x.startswith("fatal: ")), lines[-1] if lines else "")
    return GitFailed(f"git {command} failed: {line or f'exit status {status}'}", text)
