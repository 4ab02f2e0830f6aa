"""A fake Ollama server for mfops' tests and benchmarks, spoken to over real HTTP.

The real `ollama` Python client talks to it exactly as it talks to Ollama: create (from a
model or from uploaded GGUF blobs, with Ollama's inheritance rules and progress stream),
blobs, show, tags, copy, delete, pull from a pretend registry, version, and generate / chat /
embed answered by a deterministic toy model that obeys rules written in SYSTEM prompts.
Faults (latency, errors, dropped connections, slow streams) are injected per endpoint and
every call is recorded. See `double.py` for the API, `toymodel.py` for the model's rules.

    from mfops.testing.double import OllamaDouble  # or the pytest fixtures, see plugin.py
    with OllamaDouble() as double:
        double.add_registry_model("llama3.2")
        ...
"""

from __future__ import annotations

from .double import DEFAULT_MODELS_DIR, DEFAULT_VERSION, OllamaDouble
from .faults import Call, CallLog, Faults
from .gguf import fake_gguf
from .toymodel import EMBED_DIM

__all__ = [
    "DEFAULT_MODELS_DIR",
    "DEFAULT_VERSION",
    "EMBED_DIM",
    "Call",
    "CallLog",
    "Faults",
    "OllamaDouble",
    "fake_gguf",
]
