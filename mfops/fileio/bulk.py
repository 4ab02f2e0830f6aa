"""Bulk loads without the cyclic garbage collector running in the middle of them.

Decoding a cache file of 10,000 models or building 10,000 graph nodes allocates hundreds of
thousands of containers that all stay alive. Each 700 allocations trigger a young
collection, and every tenth of those an older one, which walks everything allocated so far:
measured on 10,000 models, loading a stored graph took 0.34 s with the collector and 0.11 s
without. None of this creates reference cycles worth collecting, so the collector is paused
for the duration (and left as it was found; nesting is fine).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the body with automatic garbage collection off, then restore it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
