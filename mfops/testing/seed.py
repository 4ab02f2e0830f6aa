"""What `ollama_double_seeded` holds: the models most repositories' builds and suites need.

A registry base (`llama3.2:3b`, pulled by `mfops lock --pull` / `mfops build --pull`), an
embedding model (`embedder`, for `similar` and `baseline` assertions) and a judge (`judge`,
for `llm-judge`). Kept free of imports so that the pytest plugin stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mfops.testing.double import OllamaDouble

BASE = "llama3.2:3b"
EMBEDDER = "embedder"
JUDGE = "judge"


def seed(double: OllamaDouble, *, base: str = BASE) -> OllamaDouble:
    """Publish `base` in the double's registry and create the embedding and judge models."""
    double.add_registry_model(base, template="{{ .System }} {{ .Prompt }}")
    double.add_local_model(EMBEDDER, embedding=True)
    double.add_local_model(JUDGE)
    return double
