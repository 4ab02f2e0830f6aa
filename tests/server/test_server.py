"""The server layer (mfops/server/client.py) against the double, over real HTTP with the real client."""

from __future__ import annotations

import socket

import pytest

from mfops.server.client import (
    CreateRequest,
    Host,
    Server,
    ServerHTTPError,
    ServerOptions,
    ServerProtocolError,
    ServerTimeout,
    ServerUnreachable,
    file_sha256,
    normalize_host,
    resolve_host,
)
from mfops.server.show import parse_parameters
from mfops.testing.double import fake_gguf
from tests.buildkit import BASE, ollama_double_fixture  # noqa: F401

FAST = ServerOptions(retries=2, backoff=0.01, connect_timeout=2, timeout=5)


@pytest.fixture
def server(ollama_double):
    with Server(Host(ollama_double.url), FAST) as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("example.com:56789/path/", "http://example.com:56789/path"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("https://u:p@h.example:9/x", "https://u:p@h.example:9/x"),
    ],
)
def test_normalize_host_matches_the_client(raw, url):
    import importlib

    client_module = importlib.import_module("ollama._client")
    assert normalize_host(raw) == url
    if "@" not in raw:
        assert normalize_host(raw) == client_module._parse_host(raw or None)


def test_host_display_and_key_never_hold_credentials():
    host = Host(normalize_host("https://alice:s3cret@ollama.example:8443/base"))
    assert host.url == "https://alice:s3cret@ollama.example:8443/base"
    assert host.display == "https://ollama.example:8443/base"
    assert "alice" not in host.key and "s3cret" not in host.key
    assert host.key == "https_ollama.example_8443_base"
    assert Host("http://127.0.0.1:11434").key == "http_127.0.0.1_11434"


def test_host_precedence(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "envhost:1")
    assert resolve_host("cli:2", "cfg:3").url == "http://cli:2"
    assert resolve_host(None, "cfg:3").url == "http://envhost:1"
    monkeypatch.delenv("OLLAMA_HOST")
    assert resolve_host(None, "cfg:3").url == "http://cfg:3"
    assert resolve_host(None, None).url == "http://127.0.0.1:11434"


# --------------------------------------------------------------------------- calls


def test_version_and_models(server, ollama_double):
    assert server.version() == "0.33.0-rc2"
    digest = ollama_double.add_local_model("bot:v1", from_=BASE, system="hi")
    models = server.models()
    assert models["bot:v1"].digest == digest
    assert models["bot:v1"].parent_model == f"{BASE}"


def test_create_with_every_field_and_show_reads_it_back(server, ollama_double):
    request = CreateRequest(
        model="full:t",
        from_=BASE,
        template="{{ .Prompt }}!",
        system="Be terse.",
        license=("MIT", "Apache-2.0"),
        parameters={"temperature": 0.1, "stop": ["a", "b"], "num_ctx": 1000000, "use_mmap": False},
        messages=(("user", "hi"), ("assistant", "hello")),
        renderer="qwen3",
        parser="qwen3",
        requires="0.14.0",
    )
    statuses = []
    server.create(request, statuses.append)
    assert statuses[-1].status == "success"
    # auto-pull of the base: its own "success" came first, and the stream was read to the end
    assert [p.status for p in statuses].count("success") == 2
    body = ollama_double.calls.bodies("/api/create")[-1]
    assert body["renderer"] == "qwen3" and body["requires"] == "0.14.0"  # raw JSON path
    cfg = server.show("full:t")
    assert cfg.system == "Be terse."
    assert cfg.template == "{{ .Prompt }}!"
    assert cfg.messages[1].content == "hello"
    assert cfg.parameters == {
        "num_ctx": 1000000,
        "stop": ["a", "b"],
        "temperature": 0.1,
        "top_k": 40,
        "use_mmap": False,
    }
    assert cfg.license_text == "LLAMA LICENSE\nMIT\nApache-2.0"
    assert cfg.licenses == ("LLAMA LICENSE", "MIT", "Apache-2.0")
    assert (cfg.renderer, cfg.parser, cfg.requires) == ("qwen3", "qwen3", "0.14.0")
    assert cfg.parent_model == BASE
    assert server.show("nothing:here") is None


def test_plain_create_goes_through_client_create(server, ollama_double):
    server.create(CreateRequest(model="p:1", from_=BASE, system="s"))
    body = ollama_double.calls.bodies("/api/create")[-1]
    assert body == {"model": "p:1", "from": BASE, "system": "s", "stream": True}


def test_parameters_text_is_typed_and_sorted():
    rows = [
        ("top_k", "40"),
        ("stop", '"a\\n\\"b"'),
        ("temperature", "0.7"),
        ("stop", '"x"'),
        ("use_mmap", "true"),
        ("num_ctx", "1e+06"),
    ]
    text = "\n".join(f"{k:<30} {v}" for k, v in rows)
    assert parse_parameters(text) == {
        "num_ctx": 1000000,
        "stop": ['a\n"b', "x"],
        "temperature": 0.7,
        "top_k": 40,
        "use_mmap": True,
    }
    assert list(parse_parameters(text)) == sorted(parse_parameters(text))


def test_copy_and_delete(server, ollama_double):
    ollama_double.add_local_model("src:1", from_=BASE, system="x")
    server.copy("src:1", "dst:2")
    assert ollama_double.digest("dst:2") == ollama_double.digest("src:1")
    server.delete("dst:2")
    assert not ollama_double.has_model("dst:2")
    with pytest.raises(ServerHTTPError) as info:
        server.copy("nope:1", "x:1")
    assert info.value.status == 404
    assert str(info.value) == (
        f'Ollama at {ollama_double.url}: copy nope:1 -> x:1: model "nope:1" not found (HTTP 404)'
    )


def test_pull_reports_progress(server, ollama_double):
    seen = []
    server.pull(BASE, seen.append)
    assert seen[0].status == "pulling manifest" and seen[-1].status == "success"
    assert ollama_double.has_model(BASE)


def test_blob_is_head_checked_and_streamed_once(server, ollama_double, tmp_path):
    path = tmp_path / "model.gguf"
    data = fake_gguf(name="w") + b"\0" * (3 << 20)
    path.write_bytes(data)
    digest = server.ensure_blob(path)
    assert digest == file_sha256(path)
    assert ollama_double.blob(digest) == data
    assert ollama_double.calls.count("HEAD /api/blobs") == 1
    assert ollama_double.calls.count("POST /api/blobs") == 1
    assert ollama_double.calls["POST /api/blobs"][0].size == len(data)
    server.ensure_blob(path, digest)  # known to this Server: no call at all
    with Server(Host(ollama_double.url), FAST) as other:
        other.ensure_blob(path)  # a new process: HEAD says it is there
    assert ollama_double.calls.count("HEAD /api/blobs") == 2
    assert ollama_double.calls.count("POST /api/blobs") == 1


# --------------------------------------------------------------------------- failures


def test_unreachable_for_plain_and_streamed_calls():
    host = Host(f"http://127.0.0.1:{free_port()}")
    with Server(host, FAST) as srv:
        with pytest.raises(ServerUnreachable) as info:
            srv.version()
        assert str(info.value) == (
            f"cannot reach Ollama at {host.url} (start it with `ollama serve`, or point "
            "--host / OLLAMA_HOST at a running server)"
        )
        assert info.value.exit_code == 2
        with pytest.raises(ServerUnreachable):
            srv.create(CreateRequest(model="m:1", from_=BASE))


def test_http_error_names_model_and_server_message_and_is_not_retried(server, ollama_double):
    with pytest.raises(ServerHTTPError) as info:
        server.create(CreateRequest(model="bad:1", from_=BASE, template="{{ .Prompt"))
    assert "create bad:1: template error" in str(info.value)
    assert ollama_double.calls.count("/api/create") == 1
    with pytest.raises(ServerHTTPError) as info:
        server.create(CreateRequest(model="bad name!", from_=BASE))
    assert info.value.status == 400
    assert str(info.value) == (
        f"Ollama at {ollama_double.url}: create bad name!: invalid model name (HTTP 400)"
    )
    assert ollama_double.calls.count("/api/create") == 2


def test_transient_5xx_is_retried_with_backoff(server, ollama_double):
    ollama_double.faults.fail_next("/api/tags", times=2, status=503, error="busy")
    assert server.models() == {}
    assert ollama_double.calls.count("/api/tags") == 3


def test_retries_are_bounded(server, ollama_double):
    ollama_double.faults.fail_next("/api/tags", times=5, status=500, error="still busy")
    with pytest.raises(ServerHTTPError) as info:
        server.models()
    assert info.value.status == 500 and "still busy" in str(info.value)
    assert ollama_double.calls.count("/api/tags") == 3


def test_html_error_page_is_described(server, ollama_double):
    ollama_double.faults.fail_next("/api/version", times=3, status=502, html=True)
    with pytest.raises(ServerHTTPError) as info:
        server.version()
    assert "HTML page" in str(info.value)


def test_error_line_mid_stream_is_not_retried(server, ollama_double):
    ollama_double.client().pull(BASE)
    ollama_double.faults.fail_stream("/api/create", after_lines=1, error="disk full")
    with pytest.raises(ServerHTTPError) as info:
        server.create(CreateRequest(model="m:1", from_=BASE, system="x"))
    assert info.value.status == -1
    assert str(info.value).endswith("create m:1: disk full (during the stream)")
    assert ollama_double.calls.count("/api/create") == 1


def test_dropped_stream_is_retried(server, ollama_double):
    ollama_double.client().pull(BASE)
    ollama_double.faults.drop_stream("/api/create", after_lines=1)
    server.create(CreateRequest(model="m:1", from_=BASE, system="x"))
    assert ollama_double.calls.count("/api/create") == 2
    assert ollama_double.has_model("m:1")


def test_dropped_stream_every_time_is_a_protocol_error(server, ollama_double):
    ollama_double.client().pull(BASE)
    ollama_double.faults.drop_stream("/api/create", after_lines=1, times=3)
    with pytest.raises(ServerProtocolError, match="create m:1: connection broken"):
        server.create(CreateRequest(model="m:1", from_=BASE, system="x"))


def test_timeout_is_configurable(ollama_double):
    ollama_double.faults.latency["/api/version"] = 1.0
    opts = ServerOptions(retries=0, timeout=0.2, connect_timeout=0.2)
    with Server(Host(ollama_double.url), opts) as srv, pytest.raises(ServerTimeout):
        srv.version()  # without the read timeout, this would answer after a second


def test_only_server_module_imports_ollama():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "mfops"
    offenders = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if re.search(r"^\s*(import|from) ollama\b", p.read_text(), re.M)
        and p.relative_to(root).as_posix() != "server/client.py"
        and not p.relative_to(root).as_posix().startswith("testing/double/")  # the stand-in
    ]
    assert offenders == []
    # httpx also in server/registry.py, the registry client (tests/test_architecture.py)
    offenders = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if re.search(r"^\s*(import|from) httpx\b", p.read_text(), re.M)
        and p.relative_to(root).as_posix() not in ("server/client.py", "server/registry.py")
    ]
    assert offenders == []


# --------------------------------------------------------------------------- verification


def test_same_value_is_float32_tolerant_and_exact_otherwise():
    from mfops.server.roundtrip import same_value

    assert same_value(0.1, 0.10000000149011612)  # the float32 of 0.1, widened
    assert not same_value(0.1, 0.1001)
    assert same_value(4096, 4096.0) and not same_value(True, 1)
    assert same_value(["a", "b"], ["a", "b"]) and not same_value(["a"], ["a", "b"])


def test_compare_reports_dropped_altered_and_extra_fields():
    from mfops.server.roundtrip import Intended, compare
    from mfops.server.show import ServerConfig, ServerMessage

    want = Intended(
        texts={
            "system": ("Be terse.", "bot"),
            "template": None,
            "renderer": None,
            "parser": None,
            "requires": None,
        },
        parameters={"temperature": (0.2, "base"), "stop": (["<|end|>"], "bot")},
        exact_parameters=False,
        messages=((("user", "hi"),), "bot"),
        licenses=(("MIT",), "bot"),
        exact_licenses=False,
    )
    have = ServerConfig(
        name="bot:t",
        system="",
        parameters={"temperature": 0.2, "stop": ["<|end|>"], "num_ctx": 2048},
        messages=(ServerMessage("user", "hi"),),
        license_text="Upstream\nMIT",
    )
    found = compare(want, have)
    assert [m.describe() for m in found] == [
        "SYSTEM: intended 'Be terse.' (from bot), server has ''"
    ]
    exact = Intended(**{**want.__dict__, "exact_parameters": True, "exact_licenses": True})
    assert [m.field for m in compare(exact, have)] == ["SYSTEM", "PARAMETER num_ctx", "LICENSE"]


# --------------------------------------------------------------------------- create requests


def test_file_keys_follow_the_cli():
    from pathlib import Path

    from mfops.server.request import file_keys

    assert file_keys([Path("/r/w/model.gguf")]) == ["model.gguf"]
    assert file_keys([Path("/r/w/config.json"), Path("/r/w/2_Dense/model.safetensors")]) == [
        "config.json",
        "2_Dense/model.safetensors",
    ]


def test_directory_import_takes_what_ollama_takes(tmp_path):
    from mfops.errors import GraphError
    from mfops.server.request import dir_files

    for name in (
        "model-00001.safetensors",
        "model-00002.safetensors",
        "config.json",
        "tokenizer.model",
        "weights.bin",
        "README.md",
        "sub/config.json",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in dir_files(tmp_path)] == [
        "config.json",
        "model-00001.safetensors",
        "model-00002.safetensors",
        "sub/config.json",
        "tokenizer.model",
    ]
    other = tmp_path / "gguf-only"
    other.mkdir()
    (other / "a.gguf").write_text("x")
    assert [p.name for p in dir_files(other)] == ["a.gguf"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GraphError, match="no Modelfile or safetensors files found"):
        dir_files(empty)
