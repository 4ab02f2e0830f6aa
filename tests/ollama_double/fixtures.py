"""Pytest fixtures for the double; the lead registers them in `tests/conftest.py`.

    from tests.ollama_double.fixtures import ollama_double  # noqa: F401  (in conftest.py)

A fresh double per test costs a few milliseconds (an in-memory store and a listening
socket), so there is no shared state between tests to reason about.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .double import OllamaDouble


@pytest.fixture
def ollama_double() -> Iterator[OllamaDouble]:
    """A running `OllamaDouble` on 127.0.0.1, stopped after the test."""
    with OllamaDouble() as double:
        yield double
