"""The parse and digest cache's trust: `.mfops/cache/` used under store/trust.py's rules.

The cache itself (repo/cache.py) sits in the repo layer, since snapshots use it; reading and
writing `.mfops/` safely is this layer's business. Importing this module installs the guard
(the command line does, through `mfops.cli.commands`): a reader check of `.mfops/` (an
untrusted folder is ignored with one warning, and the cache stays in memory), nofollow
opens, and one HMAC per segment file under the machine key, so a segment this machine did
not write is never believed.
"""

from __future__ import annotations

import os
from pathlib import Path

from mfops.repo.cache import Cache, install_guard
from mfops.store.trust import check_state_dir, machine_key, open_nofollow, sign, verify

__all__ = ["Cache", "TrustGuard"]


class TrustGuard:
    """The trust rules of store/trust.py, as the cache's `Guard`."""

    def usable(self, root: Path) -> bool:
        return check_state_dir(root, writer=False)

    def open_read(self, path: Path) -> int:
        return open_nofollow(path, os.O_RDONLY | os.O_NONBLOCK)

    def key(self) -> bytes | None:
        return machine_key()

    def sign(self, key: bytes, payload: bytes) -> str:
        return sign(key, payload)

    def verify(self, key: bytes, payload: bytes, mac: object) -> bool:
        return verify(key, payload, mac)


install_guard(TrustGuard())
