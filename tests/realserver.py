"""Shared pieces for the tests marked `ollama`, which talk to a real Ollama server.

The server is MFOPS_TEST_OLLAMA_HOST (`.ci/run` starts the builds in ../shared/ollama with
serve.py; the GitHub job `ollama` runs an official install). Cases that build from the tiny
GGUF take it from MFOPS_TEST_GGUF and skip, saying so, when it is unset; cases that need
inference skip when MFOPS_TEST_OLLAMA_INFERENCE is 0 (v0.33.0-rc2 here has no runner).

A server outlives a run (a developer's, or `.ci/run` keeping the first version up as
MFOPS_TEST_OLLAMA_HOST2), so no test may depend on what an earlier test or run left there.
Every model a test builds is *named* for that test (`RealRepo.name`: the test's tag and the
short name), not only tagged: a build also writes the content tag `name:mf-<digest>`, which
depends on the model's name and content only, so two tests (or two runs) building the same
Modelfile under one name would share it, and the later build would copy it ("tagged")
instead of creating and verifying. Everything whose name carries the tag is deleted
afterwards, content tags included.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfops.server.client import Server, ServerOptions
from mfops.server.hosts import resolve_host
from mfops.server.versions import parse_version
from mfops.testing.double import fake_gguf
from tests.cli_runner import invoke_mfops
from tests.gitrepo import GitRepo


def real_host() -> str:
    host = os.environ.get("MFOPS_TEST_OLLAMA_HOST", "")
    if not host:
        pytest.skip("set MFOPS_TEST_OLLAMA_HOST to run against a real Ollama")
    return host.rstrip("/")


def tiny_gguf() -> bytes:
    """The tiny model file (MFOPS_TEST_GGUF); skips the case when it is not given."""
    path = os.environ.get("MFOPS_TEST_GGUF", "")
    if not path or not Path(path).is_file():
        pytest.skip("set MFOPS_TEST_GGUF to the tiny GGUF (../shared/ollama/tiny.gguf)")
    return Path(path).read_bytes()


def needs_inference() -> None:
    if os.environ.get("MFOPS_TEST_OLLAMA_INFERENCE", "1") == "0":
        pytest.skip("this server has no inference (MFOPS_TEST_OLLAMA_INFERENCE=0)")


def raw(host: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One HTTP call, as (status, decoded JSON or text); never raises on an HTTP error."""
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    req = urllib.request.Request(host + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text) if text else ""
    except ValueError:
        return status, text


def version_of(host: str) -> tuple[int, int, int]:

    _, body = raw(host, "GET", "/api/version")
    return parse_version(body["version"]) or (99, 0, 0)


#: The base's Go template (messages and a system prompt).
TEMPLATE = (
    "{{- if .System }}<|system|>{{ .System }}<|end|>{{ end }}"
    "{{ range .Messages }}<|{{ .Role }}|>{{ .Content }}<|end|>{{ end }}<|assistant|>"
)


def hierarchy(base: str, mid: str, leaf: str) -> dict[str, str]:
    """Every Modelfile command the server accepts, over three levels (plus PARAMETER lines
    that act as commands, a SYSTEM holding a `PARSER` line, an int over 2^53 and a
    float64-printed num_ctx: the cases that made verification fail for good), as the models
    named here (a test passes its own, see RealRepo.name)."""
    return {
        f"{base}/Modelfile": (
            "# base: the tiny model with every plain command\n"
            "FROM ./tiny.gguf\n"
            f'TEMPLATE """{TEMPLATE}"""\n'
            'SYSTEM """You are a tiny test model.\nPARSER qwen3\nBe brief."""\n'
            "PARAMETER stop <|end|>\nPARAMETER stop <|user|>\n"
            "PARAMETER num_ctx 1048576\nPARAMETER seed 9007199254740993\n"
            "PARAMETER temperature 0.25\nPARAMETER num_predict 16\n"
            'LICENSE """MIT License\n\nCopyright (c) 2026 Test"""\n'
            'MESSAGE user hi\nMESSAGE assistant """hello\nthere"""\n'
            "REQUIRES 0.14.0\n"
        ),
        f"{mid}/Modelfile": (
            "# mid: adapter, renderer, parser, a PARAMETER that is a SYSTEM\n"
            f"FROM {base}\nADAPTER ./lora.gguf\nRENDERER qwen3-coder\nPARSER qwen3-coder\n"
            "PARAMETER top_k 7\nPARAMETER system Mid system from a PARAMETER line\n"
            "LICENSE Second licence\n"
        ),
        f"{leaf}/Modelfile": (
            f"# leaf\nFROM {mid}\nSYSTEM Leaf system\nPARAMETER stop ###\n"
            "PARAMETER temperature 0.9\n"
            'LICENSE """Leaf licence line1\nline2"""\n'
            "PARAMETER message wizard: abracadabra\n"
        ),
    }


class RealRepo:
    """A git repo in a temporary folder, and the real CLI run in-process against the host."""

    def __init__(self, root: Path, host: str) -> None:
        self.repo = GitRepo(root)
        self.host = host
        self.tag = f"it-{uuid.uuid4().hex[:8]}"
        self.server = Server(resolve_host(host), ServerOptions(timeout=120))

    def name(self, short: str) -> str:
        """This test's model `short`: the tag in the name keeps its content tags its own."""
        return f"{self.tag}-{short}"

    def at(self, short: str) -> str:
        """`name:tag` of this test's model `short` at the test's tag."""
        return f"{self.name(short)}:{self.tag}"

    @property
    def root(self) -> Path:
        return self.repo.root

    def write(self, files: dict[str, str | bytes], message: str = "models") -> None:
        for path, content in files.items():
            self.repo.write(path, content)
        self.repo.commit(message)

    def mfops(self, *args: str) -> tuple[int, str, str]:
        saved = os.environ.get("OLLAMA_HOST")
        os.environ["OLLAMA_HOST"] = self.host
        try:
            code, out, err = invoke_mfops("-C", str(self.root), *args)
        finally:
            if saved is None:
                os.environ.pop("OLLAMA_HOST", None)
            else:
                os.environ["OLLAMA_HOST"] = saved
        return int(code or 0), out, err

    def ok(self, *args: str) -> str:
        code, out, err = self.mfops(*args)
        assert code == 0, f"mfops {' '.join(args)} exited {code}\n{out}\n{err}"
        return out

    def json(self, *args: str, expect: int = 0) -> Any:
        code, out, err = self.mfops(*args, "--format", "json")
        assert code == expect, f"mfops {' '.join(args)} exited {code}\n{out}\n{err}"
        return json.loads(out)

    def build(self, *args: str) -> Any:
        return self.json("build", *args, "--tag", self.tag)

    def build_new(self, *args: str) -> Any:
        """A build whose every model is created and verified here, none copied from a
        content tag found on the server (which would skip the read-back check)."""
        report = self.build(*args)
        assert report["ok"], report
        assert {m["model"]: m["action"] for m in report["models"]} == {
            m["model"]: "created" for m in report["models"]
        }, report
        return report

    def show(self, name: str) -> Any:
        status, body = raw(self.host, "POST", "/api/show", {"model": name})
        assert status == 200, body
        return body

    def cleanup(self) -> None:
        _, body = raw(self.host, "GET", "/api/tags")
        for entry in body.get("models") or []:
            name = entry["name"]
            if self.tag in name:
                with contextlib.suppress(Exception):
                    raw(self.host, "DELETE", "/api/delete", {"model": name})
        self.server.close()


def hierarchy_files(real: RealRepo) -> dict[str, str | bytes]:
    """The hierarchy as `real`'s models base, mid and leaf, with their weights."""
    base, mid, leaf = (real.name(n) for n in ("base", "mid", "leaf"))
    files: dict[str, str | bytes] = dict(hierarchy(base, mid, leaf))
    files[f"{base}/tiny.gguf"] = tiny_gguf()
    files[f"{mid}/lora.gguf"] = fake_gguf(kind="adapter", name="lora", filler_bytes=0)
    return files


@pytest.fixture(name="real")
def real_fixture(tmp_path: Path) -> Iterator[RealRepo]:
    repo = RealRepo(tmp_path / "repo", real_host())
    try:
        yield repo
    finally:
        repo.cleanup()


@pytest.fixture(name="built")
def built_fixture(real: RealRepo) -> RealRepo:
    """The three-level hierarchy, built (created and verified) at the repo's own tag."""
    real.write(hierarchy_files(real))
    real.build_new("--all")
    return real
