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
    return read_regular_stat(path)[0]


def read_regular_stat(path: str | os.PathLike[str]) -> tuple[bytes, os.stat_result]:
    """`read_regular`, with the stat data of the file read (taken before reading it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        # Plain reads up to the end of the file rather than a file object: a cold `mfops
        # ls` reads 10,000 Modelfiles, and the object's own fstat, seek and buffer cost
        # more than the read (one read of the stat size + 1, one more that finds the end).
        chunks = [os.read(fd, st.st_size + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, max(st.st_size, 1 << 16)))
        return (chunks[0] if len(chunks) <= 2 else b"".join(chunks)), st
    finally:
        os.close(fd)
