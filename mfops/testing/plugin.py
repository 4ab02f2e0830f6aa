"""pytest fixtures for rehearsing a model repository against the Ollama double.

Registered through the `pytest11` entry point, so any project with mfops installed has them:

    def test_builds(ollama_double_seeded, monkeypatch):
        monkeypatch.setenv("OLLAMA_HOST", ollama_double_seeded.url)
        ...

- `ollama_double`: an empty double (no models, nothing in its registry).
- `ollama_double_seeded`: a double holding what `mfops.testing.seed` adds (a pullable
  `llama3.2:3b`, an `embedder` and a `judge`).

Each test gets a fresh double on 127.0.0.1 (a few milliseconds: an in-memory store and a
listening socket), stopped afterwards. pytest imports this module in every run of every
project where mfops is installed, so the double itself is imported only when a fixture is
used (the one deferred mfops import, allowed by tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from mfops.testing.seed import seed

if TYPE_CHECKING:
    from mfops.testing.double import OllamaDouble


def _running() -> OllamaDouble:
    from mfops.testing.double import OllamaDouble  # heavy (http.server): only when used

    return OllamaDouble().start()


@pytest.fixture
def ollama_double() -> Iterator[OllamaDouble]:
    """A running, empty `OllamaDouble` on 127.0.0.1, stopped after the test."""
    double = _running()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def ollama_double_seeded() -> Iterator[OllamaDouble]:
    """A running `OllamaDouble` with a pullable base, an embedding model and a judge."""
    double = seed(_running())
    try:
        yield double
    finally:
        double.stop()
