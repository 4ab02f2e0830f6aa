"""Atomic file writes: a reader (or a crash) sees the old content or the new, never half.

Every file mfops writes (formatted Modelfiles, lock, state, baselines) goes through
`write_atomic`: the new bytes go to a temporary file in the same directory, are flushed to
disk, and replace the target with one `os.replace`. The target's permission bits are kept.

Symlinks are repository content, and repository content is untrusted (a pull request from a
fork runs the gate), so a write never goes where a link sends it unchecked:

- under `.mfops/` nothing is followed: a symlink there (or on the way from `.mfops/` down)
  is `UntrustedStateDir` (mfops.store.trust);
- elsewhere a symlink is written through (its target is replaced, the link stays a link)
  only when the caller names the repository `root` and the link's real path lies inside
  it; a link that leaves the root is `OSError(EXDEV)`, and without a `root` a symlink is
  not followed at all (`OSError(ELOOP)`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from mfops.errors import UntrustedStateDir

#: mfops' own state folder at a repository's root (see mfops.store).
STATE_DIR_NAME = ".mfops"


def inside(path: Path, root: Path) -> bool:
    """True when `path` (already real) lies in the real path of `root`."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, str(path)]) == real_root


def resolve_target(path: str | Path, *, root: str | Path | None = None) -> Path:
    """The file a write to `path` replaces, after the checks in the module docstring."""
    given = Path(os.path.abspath(path))
    state = next((p for p in given.parents if p.name == STATE_DIR_NAME), None)
    if state is not None:
        here = given
        while here != state.parent:
            if here.is_symlink():
                raise UntrustedStateDir(state, f"holds a symlink ({here})")
            here = here.parent
        return given
    if root is None:
        if given.is_symlink():
            raise OSError(errno.ELOOP, "refusing to write through a symlink", str(given))
        return given
    real = Path(os.path.realpath(given))
    if real != given and not inside(real, Path(root)):
        raise OSError(
            errno.EXDEV, "a symlink leads outside the repository; not writing", str(given)
        )
    return real


def write_atomic(
    path: str | Path,
    data: bytes | str,
    *,
    mode: int | None = None,
    root: str | Path | None = None,
    durable: bool = True,
) -> None:
    """Replace `path` with `data` in one step; keep its mode (or use `mode` for new files).

    `root`: the repository the file belongs to; a symlink is followed only inside it.
    `durable=False` skips both fsyncs: the write is still all-or-nothing for readers and
    for a crash of the process (the rename), but after a power loss the new name may hold
    fewer bytes. Only for files whose readers detect that and may lose them (the cache's
    signed segments); everything a user relies on stays durable.
    """
    target = resolve_target(path, root=root)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        keep = stat.S_IMODE(os.lstat(target).st_mode)
    except FileNotFoundError:
        keep = mode if mode is not None else 0o666 & ~_umask()
    import tempfile  # here: a command that writes nothing does not pay for its imports

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, keep)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(target.parent)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
