"""A pool with a real Ollama in it (MFOPS_TEST_OLLAMA_HOST, holding the tiny model of
../shared/ollama as MFOPS_TEST_OLLAMA_BASE, default `llama3`): the pool check reads the real
server's listing, so a double that holds a different `llama3:latest` is refused, naming the
double and the model; and the real server spelled two ways is one server, refused as such."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from mfops.behave.pool import Pool, PoolMismatch
from mfops.errors import ServerError
from mfops.server.hosts import Host, resolve_hosts
from mfops.testing.double import OllamaDouble
from tests.realserver import real_host

pytestmark = pytest.mark.ollama


def test_a_double_holding_other_content_than_the_real_server_is_refused():
    host = real_host()
    base = os.environ.get("MFOPS_TEST_OLLAMA_BASE", "llama3")
    name = base if ":" in base else f"{base}:latest"
    with OllamaDouble() as double:
        double.add_local_model(name, system="not the real weights")
        with Pool([Host(resolve_hosts((host,))[0].url), Host(double.url)]) as pool:
            listing = pool.members[0].server.models()
            if name.casefold() not in listing:
                pytest.skip(f"{name} is not on {host}")
            env_ok = pool.environment(["no-such-model:x"], tag="x")  # absent on both: fine
            assert env_ok.hosts == (pool.members[0].host.display, double.url)
            with pytest.raises(PoolMismatch) as err:
                pool.environment([name], tag="x")
    assert f"{name} differs across the pool: {double.url} holds" in str(err.value)
    assert listing[name.casefold()].digest[:12] in str(err.value)


def test_the_real_server_spelled_twice_is_one_server():
    host = real_host()
    port = urllib.parse.urlsplit(resolve_hosts((host,))[0].url).port
    with pytest.raises(ServerError, match="the pool names one server twice"):
        resolve_hosts((f"http://127.0.0.1:{port}", f"localhost:{port}"))
