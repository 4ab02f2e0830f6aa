"""Whether `.mfops/` may be used, and how its files are opened and trusted.

The gate runs on pull requests, forks included, so everything a checkout contains is
attacker-controlled input. `.mfops/` is mfops' own local state (build records, the writer
lock, the test-result cache); mfops writes it and must never be tricked into writing
*through* it or *believing* it:

- A `.mfops/` that git tracks came with the checkout, not from this machine. Symlinks inside
  it (committed, or planted by anything else) would redirect mfops' writes outside the
  repository (`.mfops/lock -> ~/.bashrc`). `check_state_dir` refuses both: writer commands
  stop with `UntrustedStateDir` (exit 2, saying how to clean up); read-only commands ignore
  the folder's content and warn once.
- The check (a walk of `.mfops/` and `git ls-files`) runs once per command invocation
  (store/invocation.py): a build would otherwise pay for it up to three times (the cache,
  the writer lock, the build records). Not once per process: commands run in one process
  (the tests) must each look again.
- Every file under `.mfops/` is opened with `O_NOFOLLOW`, and no directory on the way from
  `.mfops/` down to it may be a symlink (`open_nofollow`): mfops follows no link there that
  it did not create, and it creates none.
- A cache answer can decide a verdict (a cached `passed: true`), so cache entries carry an
  HMAC under a per-machine key that lives outside every repository (`machine_key`): a file
  that mfops did not write on this machine verifies nothing, whoever put it there.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import secrets
import stat
import subprocess
from pathlib import Path

from mfops.errors import CLEAN_STATE_DIR, UntrustedStateDir
from mfops.fileio.atomic import STATE_DIR_NAME
from mfops.store.invocation import current_invocation


def _warn(message: str, *args: object) -> None:
    """A warning on the "mfops" logger. `logging` is imported only here: it costs a read-only
    command (`ls`, `diff`) more to import than it takes to list 10,000 stat results, and a
    trusted `.mfops/` never warns."""
    import logging

    logging.getLogger("mfops").warning(message, *args)


#: Environment variable naming the per-machine key file (default: the user's cache folder).
KEY_ENV = "MFOPS_MACHINE_KEY"
_KEY_BYTES = 32
_warned: set[str] = set()  # the state folders warned about outside a command, once each


def _tracked(root: Path) -> bool:
    """True when git's index holds anything under `root/.mfops` (False outside git)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "--", STATE_DIR_NAME],
            cwd=root,
            env=env,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip(b"\0"))


def _problem(root: Path) -> str | None:
    """Why `root/.mfops` may not be used; None when it may (or does not exist)."""
    state_dir = root / STATE_DIR_NAME
    try:
        st = os.lstat(state_dir)
    except (FileNotFoundError, NotADirectoryError):  # nothing there (yet)
        return None
    except OSError as err:
        return f"cannot be inspected ({err.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    for current, dirs, files in os.walk(state_dir, followlinks=False):
        for name in (*dirs, *files):
            if os.path.islink(os.path.join(current, name)):
                rel = os.path.relpath(os.path.join(current, name), root)
                return f"holds a symlink ({rel})"
    if _tracked(root):
        return "is tracked by git"
    return None


def _checked(root: Path) -> str | None:
    """`_problem(root)`, once per command invocation (every time outside one)."""
    invocation = current_invocation()
    if invocation is None:
        return _problem(root)
    return invocation.once(("state dir", os.path.abspath(root)), lambda: _problem(root))


def _first_warning(state_dir: Path) -> bool:
    """Whether to warn about `state_dir`: once per invocation (per process outside one)."""
    invocation = current_invocation()
    if invocation is not None:
        return invocation.first(("warned", str(state_dir)))
    if str(state_dir) in _warned:
        return False
    _warned.add(str(state_dir))
    return True


def check_state_dir(root: Path, *, writer: bool) -> bool:
    """True when `root/.mfops` may be used: absent, or a real directory that git does not
    track and that holds no symlinks.

    Otherwise a writer (`writer=True`) gets `UntrustedStateDir`; a reader gets False and one
    warning per command, and must then ignore the folder's caches and state. The folder is
    looked at once per command (`_checked`).
    """
    problem = _checked(Path(root))
    if problem is None:
        return True
    state_dir = Path(root) / STATE_DIR_NAME
    if writer:
        raise UntrustedStateDir(state_dir, problem)
    if _first_warning(state_dir):
        _warn(
            "ignoring %s: it %s (mfops keeps only local state there; remove it: %s)",
            state_dir,
            problem if problem.startswith(("is ", "holds ", "cannot ")) else f"is {problem}",
            CLEAN_STATE_DIR,
        )
    return False


def _state_root(path: Path) -> Path | None:
    """The nearest `.mfops` folder among `path`'s parents (lexically), None if none."""
    for parent in path.parents:
        if parent.name == STATE_DIR_NAME:
            return parent
    return None


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` that follows no symlink: not the file itself (`O_NOFOLLOW`), and, for a
    file inside `.mfops/`, no directory between `.mfops/` and it (nor `.mfops` itself).

    A symlink met is `UntrustedStateDir` (inside `.mfops/`) or `OSError(ELOOP)` elsewhere.
    """
    path = Path(path)
    top = _state_root(path)
    if top is not None:
        here = path.parent
        while True:
            if here.is_symlink():
                raise UntrustedStateDir(top, f"holds a symlink ({here})")
            if here == top:
                break
            here = here.parent
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags | nofollow | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            if top is not None:
                raise UntrustedStateDir(top, f"holds a symlink ({path})") from None
            raise OSError(errno.ELOOP, "refusing to follow a symlink", str(path)) from None
        raise


def machine_key() -> bytes | None:
    """This machine's secret for signing cache entries, created on first use (mode 0600).

    It lives outside every repository (`$MFOPS_MACHINE_KEY`, else the user's cache folder:
    `$XDG_CACHE_HOME/mfops/machine.key` or `~/.cache/mfops/machine.key`), so no checkout
    can carry it. None when it can be neither read nor created: then nothing cached is
    trusted.
    """
    explicit = os.environ.get(KEY_ENV)
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "mfops" / "machine.key"
    try:
        key = _read_key(path)
        if key is not None:
            return key
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = secrets.token_bytes(_KEY_BYTES)
        try:
            fd = os.open(
                path,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                0o600,
            )
        except FileExistsError:  # another mfops created it a moment ago
            return _read_key(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(fresh.hex().encode())
        return fresh
    except OSError as err:
        _warn("no machine key at %s (%s): cached results are not used", path, err.strerror)
        return None


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(256).strip()
    try:
        key = bytes.fromhex(raw.decode("ascii"))
    except ValueError:
        key = b""
    if len(key) < 16:
        raise OSError(errno.EINVAL, "malformed machine key", str(path))
    return key


def sign(key: bytes, payload: bytes) -> str:
    """The HMAC-SHA256 of `payload` under `key`, hex."""
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def verify(key: bytes, payload: bytes, mac: object) -> bool:
    """True when `mac` is `sign(key, payload)` (compared in constant time)."""
    return isinstance(mac, str) and hmac.compare_digest(sign(key, payload), mac)
