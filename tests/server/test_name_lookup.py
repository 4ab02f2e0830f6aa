"""Looking a host name up is bounded by the call's deadline (issue: DNS past --timeout), for
Ollama hosts and for model registries (`lock --check`, `--registry-timeout`) alike.

`getaddrinfo` has no timeout of its own, so a resolver that hangs would hold a probe, a
deploy, a build or a check of the bases far past its timeout. These tests patch
`socket.getaddrinfo` for one made-up name so that it blocks on an event: the call must give
up with mfops' own timeout while the lookup is still blocked. No assertion is about how long
anything took."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import mfops.server.registry as registry_module
from mfops.server.client import Host, Server, ServerOptions, ServerTimeout
from mfops.server.registry import RegistryError, RegistrySettings, upstream_digest
from mfops.testing.double import DEFAULT_VERSION, OllamaDouble
from tests.cli_runner import invoke_mfops
from tests.gitrepo import GitRepo
from tests.registry_stub import RegistryStub

HANG_CATCHER = 60.0  # seconds: only there to turn a hang into a failure
STUCK = "stuck-resolver.mfops.invalid"


def bounded(fn: Callable[[], Any]) -> Any:
    """`fn()` in a worker, failing the test (not hanging it) if it never returns."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=HANG_CATCHER)


class StuckResolver:
    """`socket.getaddrinfo` that blocks for `STUCK` until `release`, then answers with
    127.0.0.1 (so the abandoned connect completes) unless `answer` is False; other names
    resolve as usual. Records which thread looked each name up."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned = threading.Event()
        self.lookups: list[tuple[str, str]] = []
        self.answer = True  # False: once released, the name is not found

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        self.lookups.append((str(host), threading.current_thread().name))
        if host != STUCK:
            return self.real(host, port, *args, **kwargs)
        self.entered.set()
        self.release.wait(HANG_CATCHER)
        try:
            if not self.answer:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return self.real("127.0.0.1", port, *args, **kwargs)
        finally:
            self.returned.set()


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckResolver]:
    stuck = StuckResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        yield stuck
    finally:
        stuck.release.set()


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[socket.socket]:
    """Every socket `socket.create_connection` makes (httpcore's sync backend uses it)."""
    sockets: list[socket.socket] = []
    real = socket.create_connection

    def create_connection(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real(*args, **kwargs)
        sockets.append(sock)
        return sock

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return sockets


def test_a_hung_lookup_times_out_with_the_call_and_its_socket_is_closed(
    resolver: StuckResolver, made: list[socket.socket], ollama_double: OllamaDouble
):
    url = f"http://{STUCK}:{ollama_double.port}"
    server = Server(Host(url), ServerOptions(timeout=0.5, connect_timeout=30, retries=0))

    def call() -> BaseException:
        with pytest.raises(ServerTimeout) as err:
            server.version(retry=False)
        return err.value

    error = bounded(call)
    assert resolver.entered.is_set() and not resolver.returned.is_set()  # still blocked
    assert error.message == f"Ollama at {url}: version: no answer in time (within 0.5 s)"
    assert error.hint == "raise --timeout if the server is busy"

    # Released, the abandoned lookup connects to the double; nobody waits for that
    # connection any more, so its thread closes it.
    lookups = [t for t in threading.enumerate() if t.name == "mfops-resolve"]
    resolver.release.set()
    for thread in lookups:
        thread.join(HANG_CATCHER)
    assert resolver.returned.is_set()
    assert len(made) == 1
    assert made[0].fileno() == -1  # closed, not leaked
    server.close()


def test_the_connect_timeout_bounds_a_lookup_of_a_stream_without_a_deadline(
    resolver: StuckResolver, ollama_double: OllamaDouble
):
    """Creates and pulls have no wall deadline; their connect timeout bounds the lookup."""
    url = f"http://{STUCK}:{ollama_double.port}"
    server = Server(Host(url), ServerOptions(connect_timeout=0.5, retries=0))

    def call() -> BaseException:
        with pytest.raises(ServerTimeout) as err:
            server.pull("llama3.2:3b")
        return err.value

    error = bounded(call)
    assert not resolver.returned.is_set()
    assert error.message == f"Ollama at {url}: pull llama3.2:3b: no answer in time (ConnectTimeout)"


def test_a_host_name_that_resolves_still_works(
    resolver: StuckResolver, ollama_double: OllamaDouble
):
    server = Server(Host(f"http://localhost:{ollama_double.port}"), ServerOptions(timeout=30))
    with server:
        assert server.version(retry=False) == DEFAULT_VERSION
        assert server.models() == {}
    # looked up off the calling thread, once per new connection (pooled afterwards)
    names = [thread for host, thread in resolver.lookups if host == "localhost"]
    assert names and all(name == "mfops-resolve" for name in names)


def test_an_ip_literal_is_connected_to_on_the_calling_thread(
    resolver: StuckResolver, ollama_double: OllamaDouble
):
    """No thread for an address that needs no lookup."""
    server = Server(Host(ollama_double.url), ServerOptions(timeout=30))
    with server:
        server.version(retry=False)
    assert ollama_double.url.startswith("http://127.0.0.1:")
    here = threading.current_thread().name
    assert [thread for host, thread in resolver.lookups if host == "127.0.0.1"] == [here]


def test_status_stops_at_its_timeout_while_the_lookup_hangs(
    resolver: StuckResolver, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "mfops.yaml").write_text("{}\n")
    resolver.answer = False  # (no connection to whatever may listen on 11434)
    url = f"http://{STUCK}:11434"
    monkeypatch.setenv("OLLAMA_HOST", url)
    code, _, err = bounded(lambda: invoke_mfops("-C", str(tmp_path), "status", "--timeout", "1"))
    assert not resolver.returned.is_set()
    assert code == 2
    assert err.strip() == (
        f"mfops: Ollama at {url}: version: no answer in time (within 1 s) "
        "(raise --timeout if the server is busy)"
    )


def test_an_interrupt_during_a_hung_lookup_leaves_no_connection_open(
    resolver: StuckResolver, made: list[socket.socket], ollama_double: OllamaDouble
):
    """Ctrl-C (or SIGTERM, raised as an interrupt) while the lookup hangs: the connection
    the lookup's thread makes afterwards is closed, as at a deadline."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def interrupt_when_blocked() -> None:
        assert resolver.entered.wait(HANG_CATCHER)
        os.kill(os.getpid(), signal.SIGUSR1)  # handled on the main thread, in its wait

    url = f"http://{STUCK}:{ollama_double.port}"
    server = Server(Host(url), ServerOptions(timeout=HANG_CATCHER, retries=0))
    old = signal.signal(signal.SIGUSR1, interrupt)
    sender = threading.Thread(target=interrupt_when_blocked)
    try:
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            server.version(retry=False)
    finally:
        sender.join(HANG_CATCHER)
        signal.signal(signal.SIGUSR1, old)
    resolver.release.set()
    assert resolver.returned.wait(HANG_CATCHER)
    # (an interrupted join can mark a live thread stopped on some Pythons: poll instead)
    for _ in range(int(HANG_CATCHER * 100)):
        if made and made[0].fileno() == -1:
            break
        time.sleep(0.01)
    assert len(made) == 1
    assert made[0].fileno() == -1  # closed, not leaked
    server.close()


# --------------------------------------------------------------------------- registries


@pytest.fixture
def registry() -> Iterator[RegistryStub]:
    with RegistryStub() as stub:
        stub.publish_model("team/tuned:v1", system="t1")
        yield stub


def on_registry(host: str, stub: RegistryStub, deadline: float = 30) -> tuple[str, Any]:
    """The stub's `team/tuned:v1` named at `host` (the stub's port), and settings that let
    plain http to it."""
    netloc = f"{host}:{stub.netloc.rsplit(':', 1)[1]}"
    return f"{netloc}/team/tuned:v1", RegistrySettings(insecure=(netloc,), deadline=deadline)


def registry_timeout(reference: str, settings: RegistrySettings) -> RegistryError:
    """The RegistryError `upstream_digest` raises, within the watchdog (`bounded`)."""

    def call() -> RegistryError:
        with pytest.raises(RegistryError) as err:
            upstream_digest(reference, settings)
        return err.value

    error: RegistryError = bounded(call)
    return error


def test_a_hung_registry_lookup_stops_at_the_registry_timeout(
    resolver: StuckResolver, made: list[socket.socket], registry: RegistryStub
):
    reference, settings = on_registry(STUCK, registry, deadline=0.5)

    error = registry_timeout(reference, settings)
    assert resolver.entered.is_set() and not resolver.returned.is_set()  # still blocked
    netloc = reference.split("/", 1)[0]
    assert error.message == f"registry http://{netloc}: {reference}: no complete answer within 0.5s"
    assert error.hint == (
        "the registry is slow or stuck; try again later, or raise --registry-timeout"
    )
    assert registry.requests == []

    # Released, the abandoned lookup connects to the stub; its thread closes that connection.
    lookups = [t for t in threading.enumerate() if t.name == "mfops-resolve"]
    resolver.release.set()
    for thread in lookups:
        thread.join(HANG_CATCHER)
    assert resolver.returned.is_set()
    assert len(made) == 1
    assert made[0].fileno() == -1  # closed, not leaked
    assert registry.requests == []


def test_lock_check_stops_at_its_registry_timeout_while_the_lookup_hangs(
    resolver: StuckResolver, registry: RegistryStub, tmp_path
):
    reference, _ = on_registry(STUCK, registry)
    netloc = reference.split("/", 1)[0]
    repo = GitRepo(tmp_path / "repo")
    repo.write("mfops.yaml", f"defaults:\n  insecure_registries: [{netloc}]\n")
    repo.write("a/Modelfile", f"FROM {reference}\nSYSTEM a\n")
    repo.commit("init")
    code, out, err = bounded(
        lambda: invoke_mfops("-C", str(repo.root), "lock", "--check", "--registry-timeout", "1")
    )
    assert not resolver.returned.is_set()
    assert (code, out) == (2, "")
    assert err == (
        f"mfops: registry http://{netloc}: {reference}: no complete answer within 1s "
        "(the registry is slow or stuck; try again later, or raise --registry-timeout)\n"
    )


def test_a_registry_host_name_that_resolves_still_works(
    resolver: StuckResolver, registry: RegistryStub
):
    reference, settings = on_registry("localhost", registry)
    digest = bounded(lambda: upstream_digest(reference, settings))
    assert digest == registry.publish_model("team/tuned:v1", system="t1")  # the same bytes
    # looked up off the calling thread (the registry's deadline bounds it)
    names = [thread for host, thread in resolver.lookups if host == "localhost"]
    assert names and all(name == "mfops-resolve" for name in names)


def test_a_registry_ip_literal_is_connected_to_on_the_calling_thread(
    resolver: StuckResolver, registry: RegistryStub
):
    """No thread for an address that needs no lookup (the stub listens on 127.0.0.1)."""
    reference, settings = on_registry("127.0.0.1", registry)
    assert reference.startswith(registry.netloc + "/")
    digest = upstream_digest(reference, settings)
    assert digest == registry.publish_model("team/tuned:v1", system="t1")
    here = threading.current_thread().name
    assert [thread for host, thread in resolver.lookups if host == "127.0.0.1"] == [here]


def test_a_hung_lookup_of_a_proxy_stops_at_the_registry_timeout(
    resolver: StuckResolver, registry: RegistryStub, monkeypatch: pytest.MonkeyPatch
):
    """A proxy from the environment is a transport of its own; its host's lookup is bounded
    by the same deadline."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{STUCK}:3128")
    reference, settings = on_registry("127.0.0.1", registry, deadline=0.5)

    error = registry_timeout(reference, settings)
    assert resolver.entered.is_set() and not resolver.returned.is_set()
    assert error.message.endswith(f"{reference}: no complete answer within 0.5s")
    assert registry.requests == []
    # (the proxy's pool is clamped too: its lookup ran on a thread of its own)
    assert [thread for host, thread in resolver.lookups if host == STUCK] == ["mfops-resolve"]


def test_the_registry_deadline_holds_on_a_thread_of_its_own_too(
    resolver: StuckResolver, registry: RegistryStub, monkeypatch: pytest.MonkeyPatch
):
    """Where the client's pools cannot be reached (another httpx), the whole request runs
    on a thread of its own, abandoned at the deadline, with the same answer."""
    monkeypatch.setattr(registry_module, "clamp_pools", lambda client, proxies: False)
    reference, settings = on_registry(STUCK, registry, deadline=0.5)

    error = registry_timeout(reference, settings)
    assert not resolver.returned.is_set()
    assert error.message.endswith(f"{reference}: no complete answer within 0.5s")
