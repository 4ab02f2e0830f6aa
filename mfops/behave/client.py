"""What the test runner needs from a model server, as a small Protocol.

The runner only ever asks two things: "what does this model answer to this conversation,
and how long did it take" and "embed these texts". Keeping that behind a Protocol lets the
runner be written and reasoned about without the HTTP layer; `mfops.server.client.Server`
implements it (the only module that talks to Ollama), and anything else with the same two
methods can stand in.
"""

from __future__ import annotations

from typing import Any, Protocol


class ModelClient(Protocol):
    """A server that can chat and embed; errors are `mfops.errors.ServerError`s."""

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: dict[str, Any],
        format: str | dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> tuple[str, float]:
        """The assistant's reply to `messages` within `deadline` seconds, and its latency in
        milliseconds by the server's own timings (queueing and loading left out)."""
        ...

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One embedding vector per text, in order."""
        ...
