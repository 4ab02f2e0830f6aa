"""Shared fixtures. Each concern lives in its own clearly named function below; add new
concerns as new sections rather than folding them into these.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_runner import installed_mfops, invoke_mfops

# --------------------------------------------------------------------------- isolation guard

#: Hosts that mean "this machine" when a test opens a socket.
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})
#: Ollama's default port: no test may talk to a real server there.
OLLAMA_DEFAULT_PORT = 11434


class OllamaGuard:
    """Records attempts to reach the default Ollama port; the test fails if there was one."""

    def __init__(self) -> None:
        self.attempts: list[object] = []

    def check(self, address: object) -> None:
        if (
            isinstance(address, tuple)
            and len(address) >= 2
            and address[1] == OLLAMA_DEFAULT_PORT
            and str(address[0]) in _LOCAL_HOSTS
        ):
            self.attempts.append(address)
            raise ConnectionRefusedError(
                f"test isolation: connecting to {address!r} (a real Ollama) is not allowed"
            )


@pytest.fixture(autouse=True)
def isolated_environment(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[OllamaGuard]:
    """HOME points at an empty temporary directory, and any connection to 127.0.0.1:11434
    is refused and fails the test (even when the code under test swallows the error).

    Tests marked `ollama` are meant to reach the real server named by
    MFOPS_TEST_OLLAMA_HOST (they are skipped without it), so the port guard spares them.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    guard = OllamaGuard()
    if request.node.get_closest_marker("ollama") and os.environ.get("MFOPS_TEST_OLLAMA_HOST"):
        yield guard
        return
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(sock: socket.socket, address: object) -> None:
        guard.check(address)
        return real_connect(sock, address)  # type: ignore[arg-type]

    def connect_ex(sock: socket.socket, address: object) -> int:
        guard.check(address)
        return real_connect_ex(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield guard
    if guard.attempts:
        pytest.fail(f"the test tried to reach a real Ollama: {guard.attempts}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `ollama` need a real server: skip them unless MFOPS_TEST_OLLAMA_HOST is set."""
    if os.environ.get("MFOPS_TEST_OLLAMA_HOST"):
        return
    skip = pytest.mark.skip(reason="set MFOPS_TEST_OLLAMA_HOST to run against a real Ollama")
    for item in items:
        if item.get_closest_marker("ollama"):
            item.add_marker(skip)


# --------------------------------------------------------------------------- installed CLI


@pytest.fixture
def run_mfops(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `mfops` in a subprocess: `run_mfops("parse", "x", cwd=..., input=...)`.

    The child inherits the isolated HOME; unless a test sets OLLAMA_HOST itself, it points
    at a port where nothing listens, so a child can never reach a real Ollama either.
    """
    script = installed_mfops()

    def run(
        *args: str,
        cwd: str | Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        child_env = dict(os.environ)
        child_env.setdefault("OLLAMA_HOST", "http://127.0.0.1:9")
        child_env.update(env or {})
        return subprocess.run(
            [script, *args],
            cwd=cwd if cwd is not None else tmp_path,
            input=input,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --------------------------------------------------------------------------- shared fixtures

from tests.gitrepo import git_repo  # noqa: E402,F401  (real git repos in tmp dirs)

# the Ollama double: fixtures `ollama_double` and `ollama_double_seeded` come from the
# mfops.testing.plugin pytest plugin (registered by the package's pytest11 entry point)

# --------------------------------------------------------------------------- in-process CLI


@pytest.fixture
def mfops_cli() -> Callable[..., tuple[int | None, str, str]]:
    return invoke_mfops
