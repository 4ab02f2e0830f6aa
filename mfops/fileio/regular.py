"""Reading a file that a user or a repository names, without being stalled or fooled by it.

Kept with the other file primitives (atomic writes, the YAML and JSON loaders) so that the
Modelfile parser, the linter and the repository views all read paths the same way.
"""

from __future__ import annotations

import errno
import os
import stat


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file; OSError for anything else.

    Opening a FIFO for reading blocks until someone writes, and /dev/zero (or a symlink to
    it named `x.Modelfile`) never ends: a path a user or a repository names is opened
    without blocking and checked with fstat first, so either is refused at once."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)
