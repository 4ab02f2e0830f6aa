"""The pytest plugin's fixtures, as a user's project sees them (registered by pytest11)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import ollama

from mfops.testing.seed import BASE, EMBEDDER, JUDGE


def test_the_plugin_is_registered_by_the_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("mfops")


def test_ollama_double_is_empty(ollama_double):
    client = ollama.Client(host=ollama_double.url)
    assert client.list().models == []


def test_ollama_double_seeded_has_a_pullable_base_an_embedder_and_a_judge(
    ollama_double_seeded,
):
    client = ollama.Client(host=ollama_double_seeded.url)
    assert {m.model for m in client.list().models} == {f"{EMBEDDER}:latest", f"{JUDGE}:latest"}
    client.pull(BASE)
    assert f"{BASE}" in {m.model for m in client.list().models}
    assert len(client.embed(model=EMBEDDER, input="hello").embeddings[0]) > 0


def test_importing_the_plugin_does_not_load_the_double():
    """pytest loads the plugin in every run of every project with mfops installed."""
    probe = textwrap.dedent(
        """
        import sys
        import mfops.testing.plugin
        print(sorted(m for m in sys.modules if m.startswith(("mfops.testing.double", "http"))))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_python_m_mfops_testing_serves_the_double():
    child = subprocess.Popen(
        [sys.executable, "-m", "mfops.testing", "--registry", BASE],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = ollama.Client(host=url)
        client.pull(BASE)
        assert [m.model for m in client.list().models] == [BASE]
    finally:
        child.terminate()
        child.wait(timeout=30)
