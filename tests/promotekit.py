"""Shared pieces for the promotion, rollback, history and gate tests.

A `Release` is a real git repository in a temporary directory holding the seed hierarchy of
the behavioural tests (tests/behavekit.py: a company base whose inherited suite checks the
house rule, an expert FROM it that must refuse JavaScript), its external base pulled and
locked (committed), and a running Ollama double. `rel.mfops(...)` runs the real CLI entry
point in-process against them; inside mfops the `ollama` client speaks real HTTP to the
double. Nothing of mfops is patched: faults are injected in the double.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfops.testing.double import OllamaDouble
from tests.behavekit import EXPERT_SYSTEM, SEED_FILES, seeded_double
from tests.buildkit import Workspace
from tests.gitrepo import GitRepo

#: The expert's SYSTEM without its JavaScript rule: its suite must fail.
BROKEN_EXPERT = "FROM base\nSYSTEM You are a Python expert. Never discuss pricing.\n"
#: A harmless change to the expert: every suite still passes.
BETTER_EXPERT = f"FROM base\nSYSTEM {EXPERT_SYSTEM} Be concise.\n"
MODELS = ("base", "expert")


class Release(Workspace):
    """A repo (`rel.repo`) and a double (`rel.double`); see the module docstring."""

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for path, text in files.items():
            self.repo.write(path, text)
        self.repo.commit(message)
        return self.tag()

    def digests(
        self, tags: tuple[str, ...], models: tuple[str, ...] = MODELS
    ) -> dict[str, str | None]:
        """`name:tag` -> the manifest digest `/api/tags` lists for it (None: absent)."""
        import httpx

        body = httpx.get(f"{self.double.url}/api/tags", timeout=10).json()
        listing = {m["name"]: m["digest"] for m in body["models"]}
        return {f"{m}:{t}": listing.get(f"{m}:{t}") for m in models for t in tags}

    def history(self) -> list[dict]:
        """Every release record in git (refs/mfops/history), oldest first."""
        code, out, err = self.mfops("history", "--format", "json")
        assert code == 0, err
        return list(reversed(json.loads(out)))

    def copies(self) -> list[tuple[str, str]]:
        return [(b["source"], b["destination"]) for b in self.double.calls.bodies("/api/copy")]


def make_release(tmp_path: Path, double: OllamaDouble, *, build: bool = True) -> Release:
    rel = Release(GitRepo(tmp_path / "repo"), double)
    for path, text in SEED_FILES.items():
        rel.repo.write(path, text)
    rel.repo.commit("seed models")
    rel.ok("lock", "--pull")
    rel.repo.commit("lock")
    if build:
        rel.ok("build", "--all")
    double.calls.reset()
    return rel


@pytest.fixture(name="seeded")
def seeded_fixture() -> Iterator[OllamaDouble]:
    """A double with the registry base, an embedding model and a judge."""
    double = seeded_double()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(name="rel")
def release_fixture(tmp_path: Path, seeded: OllamaDouble) -> Release:
    """The seed hierarchy committed, locked and built at its candidate tag."""
    return make_release(tmp_path, seeded)


def fail_copies_after(
    double: OllamaDouble,
    successes: int,
    *,
    times: int = 1,
    status: int = 400,
    error: str = "injected copy failure",
) -> None:
    """After `successes` more `/api/copy` calls succeed, answer the next `times` with an
    error (the double's `faults.fail_next`). mfops retries 5xx answers twice, so a 5xx
    failure needs `times=3` to stick."""
    if successes == 0:
        double.faults.fail_next("/api/copy", times, status=status, error=error)
        return
    original = double.api.copy
    seen = 0

    def copy(req: dict[str, Any]) -> Any:
        nonlocal seen
        result = original(req)
        seen += 1
        if seen == successes:
            double.faults.fail_next("/api/copy", times, status=status, error=error)
        return result

    double.api.copy = copy  # type: ignore[method-assign]
