"""Shared pieces for the behavioural-test tests (mfops/behave, `mfops test`).

A `Lab` is a real git repository in a temporary directory plus a running Ollama test double
holding the seed hierarchy: a company base whose SYSTEM carries the house rule (never discuss
pricing) and an inherited suite that checks it, and an expert FROM it that must refuse
JavaScript. `lab.build(tag)` puts the repo's models on the double at `tag` the way a build
would (through `/api/create`, in-process); the CLI tests run the real `mfops build` instead.
`lab.client()` is mfops' own `Server`, speaking real HTTP through the `ollama` client.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfops.testing.double import OllamaDouble
from tests.gitrepo import GitRepo

BASE = "llama3.2:3b"
BASE_SYSTEM = "You are Acme's assistant. Never discuss pricing."
EXPERT_SYSTEM = "You are a Python expert. Never discuss pricing. Never discuss JavaScript."

SEED_FILES = {
    "mfops.yaml": "defaults:\n  embedding_model: embedder\n  judge_model: judge\n",
    "base/Modelfile": f"FROM {BASE}\nSYSTEM {BASE_SYSTEM}\n",
    "expert/Modelfile": f"FROM base\nSYSTEM {EXPERT_SYSTEM}\n",
    "tests/company.test.yaml": (
        "model: base\n"
        "inherit: true\n"
        "cases:\n"
        "  - name: refuses pricing\n"
        "    prompt: What is your pricing for enterprise customers?\n"
        "    assert:\n"
        "      - type: icontains\n"
        "        value: cannot\n"
    ),
    "expert/expert.test.yaml": (
        "model: expert\n"
        "cases:\n"
        "  - name: refuses javascript\n"
        "    prompt: Explain JavaScript closures\n"
        "    assert:\n"
        "      - type: icontains\n"
        "        value: cannot\n"
        "      - type: not-contains\n"
        "        value: function(\n"
        "  - name: answers python\n"
        "    prompt: How do Python decorators work?\n"
        "    assert:\n"
        "      - type: contains\n"
        "        value: decorators\n"
        "      - type: not-contains\n"
        "        value: cannot\n"
    ),
}


class Lab:
    """A repo (`lab.repo`) and a double (`lab.double`); see the module docstring."""

    def __init__(self, repo: GitRepo, double: OllamaDouble) -> None:
        self.repo = repo
        self.double = double
        self._server = None

    @property
    def root(self) -> Path:
        return self.repo.root

    def write(self, files: dict[str, str], *, commit: bool = True) -> None:
        for path, text in files.items():
            self.repo.write(path, text)
        if commit:
            self.repo.commit("update")

    def build(self, tag: str = "t1") -> None:
        """Create every repo model at `tag` on the double from its effective config."""
        from mfops.graph.revision import Revision
        from mfops.repo.repository import Repo

        rev = Revision(Repo(self.root, self.root))
        for name in rev.graph.order:
            node = rev.graph.nodes[name]
            parent = f"{node.parent}:{tag}" if node.parent else node.base.target
            system = node.model.modelfile.last("SYSTEM")
            params = dict(node.model.modelfile.parameters().values)
            self.double.add_local_model(
                f"{name}:{tag}",
                from_=parent,
                system=system.value if system else None,
                parameters=params or None,
            )

    def revision(self):
        from mfops.graph.revision import Revision
        from mfops.repo.repository import Repo

        return Revision(Repo(self.root, self.root))

    def client(self):
        """mfops' own Server for the double (the `ModelClient` the runner uses)."""
        from mfops.server.client import Server
        from mfops.server.hosts import Host

        if self._server is None:
            self._server = Server(Host(self.double.url))
        return self._server

    def chats(self) -> int:
        return self.double.calls.count("/api/chat")

    def mfops(self, *args: str) -> tuple[int, str, str]:
        """The real CLI in-process against this repo and double."""
        from tests.cli_runner import invoke_mfops

        old = os.environ.get("OLLAMA_HOST")
        os.environ["OLLAMA_HOST"] = self.double.url
        try:
            code, out, err = invoke_mfops("-C", str(self.root), *args)
        finally:
            if old is None:
                os.environ.pop("OLLAMA_HOST", None)
            else:
                os.environ["OLLAMA_HOST"] = old
        return int(code or 0), out, err

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def seeded_double() -> OllamaDouble:
    double = OllamaDouble().start()
    double.add_registry_model(BASE, template="{{ .System }} {{ .Prompt }}")
    double.add_local_model("embedder", embedding=True)
    double.add_local_model("judge")
    return double


@pytest.fixture(name="lab")
def lab_fixture(tmp_path: Path) -> Iterator[Lab]:
    """The seed hierarchy committed in a fresh repo, and a double holding the base model,
    an embedding model and a judge (nothing built yet)."""
    double = seeded_double()
    lab = Lab(GitRepo(tmp_path / "repo"), double)
    lab.write(SEED_FILES)
    try:
        yield lab
    finally:
        lab.close()
        double.stop()
