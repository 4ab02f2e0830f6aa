"""The commands, one module each (loaded when used: cli/main.py).

Importing any of them installs the on-disk cache's trust guard (store/cache.py), so the
command line keeps parses and digests in `.mfops/cache/` under the trust rules.
"""

import mfops.store.cache  # noqa: F401
