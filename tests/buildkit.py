"""Shared pieces for the server-side tests (build, lock, status, import, server layer).

A `Workspace` is a real git repository in a temporary directory plus a running Ollama test
double; `ws.mfops(...)` runs the real CLI entry point (`mfops.cli.main.main`) against them, with
OLLAMA_HOST pointing at the double, and returns (exit code, stdout, stderr). The `ollama`
client inside mfops speaks real HTTP to the double on 127.0.0.1.

Test modules import the fixtures `ollama_double_fixture` and `ws_fixture`; tests use them
as `ollama_double` and `ws`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfops.testing.double import OllamaDouble
from tests.cli_runner import invoke_mfops
from tests.gitrepo import GitRepo

BASE = "llama3.2:3b"

#: A three-level hierarchy (base -> mid -> leaf) plus an independent sibling branch.
HIERARCHY = {
    "base/Modelfile": (
        "# base: the company voice\nFROM llama3.2:3b\nSYSTEM You are the base.\n"
        "PARAMETER temperature 0.7\nLICENSE MIT\n"
    ),
    "mid/Modelfile": (
        "# mid\nFROM base\nPARAMETER stop <|end|>\nPARAMETER num_ctx 4096\n"
        "MESSAGE user hi\nMESSAGE assistant hello\n"
    ),
    "leaf/Modelfile": "# leaf\nFROM mid\nSYSTEM You are the leaf.\nPARAMETER top_p 0.25\n",
    "other/Modelfile": "# other: a sibling branch\nFROM llama3.2:3b\nSYSTEM Other.\n",
}


def run_main(*args: str) -> tuple[int, str, str]:
    """Run `mfops ARGS` in-process; return (exit code, stdout, stderr)."""
    code, out, err = invoke_mfops(*args)
    return int(code or 0), out, err


class Workspace:
    """A git repo and a double; see the module docstring."""

    def __init__(self, repo: GitRepo, double: OllamaDouble) -> None:
        self.repo = repo
        self.double = double

    @property
    def root(self) -> Path:
        return self.repo.root

    def mfops(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """The real entry point in-process, in this repo, against this double (plus `env`)."""
        saved = {k: os.environ.get(k) for k in ("OLLAMA_HOST", *(env or {}))}
        os.environ["OLLAMA_HOST"] = self.double.url
        os.environ.update(env or {})
        try:
            return run_main("-C", str(self.root), *args)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def ok(self, *args: str, **kw: Any) -> str:
        code, out, err = self.mfops(*args, **kw)
        assert code == 0, f"mfops {' '.join(args)} exited {code}\n{out}\n{err}"
        return out

    def build_json(self, *args: str, expect: int = 0) -> dict:
        code, out, err = self.mfops("build", *args, "--format", "json")
        assert code == expect, f"exit {code}\n{out}\n{err}"
        return json.loads(out)

    def tag(self) -> str:
        """The candidate tag of the current HEAD (clean tree)."""
        return "sha-" + self.repo.git("rev-parse", "HEAD").strip()[:12]

    def creates(self) -> list[str]:
        """Target names of the create calls the double received, in order."""
        return [b["model"] for b in self.double.calls.bodies("/api/create")]

    def state(self) -> dict:
        """What the server says mfops built: every tag (content tags aside) that holds the
        manifest of one of its model's content tags (`name:mf-<digest>`), as
        {"builds": {name:tag: {"manifest": ...}}}. No local file is involved."""
        import httpx

        body = httpx.get(f"{self.double.url}/api/tags", timeout=10).json()
        pairs = [(m["name"], m["digest"]) for m in body["models"]]
        built = {(n.split(":")[0], d) for n, d in pairs if n.split(":")[1].startswith("mf-")}
        return {
            "builds": {
                n: {"manifest": d}
                for n, d in pairs
                if not n.split(":")[1].startswith("mf-") and (n.split(":")[0], d) in built
            }
        }


@pytest.fixture(name="ollama_double")
def ollama_double_fixture() -> Iterator[OllamaDouble]:
    """A running double with the registry base `llama3.2:3b` published."""
    with OllamaDouble() as double:
        double.add_registry_model(
            BASE,
            template="{{ .System }} {{ .Prompt }}",
            parameters={"top_k": 40},
            license="LLAMA LICENSE",
        )
        yield double


def make_workspace(
    tmp_path: Path, double: OllamaDouble, files: dict[str, Any] | None = None, *, lock: bool = True
) -> Workspace:
    """A repo holding `files` (default: HIERARCHY), committed, with the base pulled and
    locked (also committed) when `lock`."""
    repo = GitRepo(tmp_path / "repo")
    for path, text in (files if files is not None else HIERARCHY).items():
        repo.write(path, text)
    repo.commit("models")
    ws = Workspace(repo, double)
    if lock:
        ws.ok("lock", "--pull")
        repo.commit("lock")
    double.calls.reset()
    return ws


@pytest.fixture(name="ws")
def ws_fixture(tmp_path: Path, ollama_double: OllamaDouble) -> Workspace:
    return make_workspace(tmp_path, ollama_double)
