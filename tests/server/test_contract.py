"""The same requests against the Ollama test double and a real Ollama, answers compared.

Where they differ the double is wrong (it mimics v0.33.0-rc2; where v0.24 answers
otherwise, the case says so). Normalised before comparing: blob paths and digests (the
double stores files elsewhere and rewrites imported GGUFs), PARAMETER order (random on a
real server) and timestamps.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mfops.testing.double import OllamaDouble
from tests.ggufedit import with_metadata
from tests.realserver import raw, real_host, tiny_gguf, version_of

pytestmark = pytest.mark.ollama


class Pair:
    """A real server and a double, with the tiny model created on both as `base_name`."""

    def __init__(self, host: str, double: OllamaDouble) -> None:
        self.host = host
        self.double = double
        self.prefix = f"ctr{uuid.uuid4().hex[:6]}"
        self.made: list[str] = []

    def both(self, method: str, path: str, body: Any = None) -> tuple[Any, Any]:
        return raw(self.host, method, path, body), raw(self.double.url, method, path, body)

    def upload(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        for url in (self.host, self.double.url):
            status, _ = raw(url, "POST", f"/api/blobs/{digest}", data)
            assert status in (200, 201)
        return digest

    def create(self, body: dict[str, Any]) -> tuple[Any, Any]:
        self.made.append(body["model"])
        return self.both("POST", "/api/create", {**body, "stream": False})

    def name(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    def cleanup(self) -> None:
        for name in reversed(self.made):
            raw(self.host, "DELETE", "/api/delete", {"model": name})


@pytest.fixture
def pair() -> Iterator[Pair]:
    host = real_host()
    with OllamaDouble() as double:
        p = Pair(host, double)
        try:
            yield p
        finally:
            p.cleanup()


_BLOB = re.compile(r"(/[^\s\"]*)?/blobs/sha256-[0-9a-f]{64}")


def normal_modelfile(text: str) -> tuple[str, ...]:
    """The modelfile text with blob paths blanked and PARAMETER lines sorted."""
    lines = _BLOB.sub("<blob>", text).split("\n")
    params = sorted(x for x in lines if x.startswith("PARAMETER "))
    rest = [x for x in lines if not x.startswith("PARAMETER ") and not x.startswith("# FROM ")]
    return (*rest, *params)


def normal_show(body: dict[str, Any]) -> dict[str, Any]:
    keep = ("license", "system", "messages", "requires", "template")
    out = {k: body.get(k) for k in keep}
    out["modelfile"] = normal_modelfile(body.get("modelfile", ""))
    out["parameters"] = sorted((body.get("parameters") or "").split("\n"))
    return out


# --------------------------------------------------------------------------- errors


ERROR_CASES = [
    ("POST", "/api/create", None),
    ("POST", "/api/create", {"model": "x"}),
    ("POST", "/api/create", {"model": "bad name!", "from": "x"}),
    ("POST", "/api/copy", {"source": "nosuch", "destination": "y"}),
    ("DELETE", "/api/delete", {"model": "nosuch"}),
    ("HEAD", "/api/blobs/sha256:" + "0" * 64, None),
    ("HEAD", "/api/blobs/sha256:xyz", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ERROR_CASES)
def test_error_answers_match(pair: Pair, method: str, path: str, body: Any):
    real, double = pair.both(method, path, body)
    assert double == real


def test_show_of_a_missing_model(pair: Pair):
    real, double = pair.both("POST", "/api/show", {"model": "nosuch"})
    assert double[0] == real[0] == 404
    if version_of(pair.host) >= (0, 30, 0):
        assert double == real  # v0.24 names it as sent: 'nosuch'


def test_create_from_an_unknown_model_fails_with_the_pull_error(pair: Pair):
    real, double = pair.create({"model": pair.name("e"), "from": "nosuch-model"})
    assert double[0] == real[0] == 500
    assert real[1]["error"].startswith("pull model manifest:")
    assert double[1]["error"].startswith("pull model manifest:")


def test_blob_digest_mismatch(pair: Pair):
    path = "/api/blobs/sha256:" + "3" * 64
    real = raw(pair.host, "POST", path, b"hello")
    double = raw(pair.double.url, "POST", path, b"hello")
    assert double == real


# --------------------------------------------------------------------------- models


def test_three_level_hierarchy_shows_the_same(pair: Pair):
    tiny = pair.upload(tiny_gguf())
    base, parent, child = pair.name("base"), pair.name("parent"), pair.name("child")
    assert pair.create({"model": base, "files": {"tiny.gguf": tiny}}) == (
        (200, {"status": "success"}),
        (200, {"status": "success"}),
    )
    template = "{{- if .System }}<|system|>{{ .System }}<|end|>{{ end }}<|assistant|>"
    real, double = pair.create(
        {
            "model": parent,
            "from": base,
            "system": "You are a tiny test model.\nPARSER qwen3\nBe brief.",
            "template": template,
            "parameters": {
                "stop": ["<|end|>", "<|user|>"],
                "num_ctx": 1048576,
                "temperature": 0.25,
                "seed": 9007199254740993,
                "top_k": 7,
                "min_p": 0.00005,
            },
            "messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}],
            "license": ["MIT License\n\nCopyright (c) 2026 Test", "Second licence"],
            "requires": "0.14.0",
            "renderer": "qwen3-coder",
            "parser": "qwen3-coder",
        }
    )
    assert real == double == (200, {"status": "success"})
    real, double = pair.create(
        {
            "model": child,
            "from": parent,
            "system": "Child system",
            "parameters": {"temperature": 0.9, "stop": ["###"]},
            "license": "Child licence line1\nline2",
        }
    )
    assert real == double
    for name in (parent, child):
        (rs, rb), (ds, db) = pair.both("POST", "/api/show", {"model": name})
        assert rs == ds == 200
        assert normal_show(db) == normal_show(rb)


def test_draft_files_make_a_draft_layer(pair: Pair):
    if version_of(pair.host) < (0, 30, 0):
        pytest.skip("the double mimics v0.33; v0.24 ignores draft_files")
    tiny = pair.upload(tiny_gguf())
    base, drafted = pair.name("b"), pair.name("d")
    pair.create({"model": base, "files": {"tiny.gguf": tiny}})
    real, double = pair.create({"model": drafted, "from": base, "draft_files": {"d.gguf": tiny}})
    assert real == double == (200, {"status": "success"})
    (_, rb), (_, db) = pair.both("POST", "/api/show", {"model": drafted})
    assert normal_show(db)["modelfile"] == normal_show(rb)["modelfile"]
    assert "DRAFT <blob>" in normal_show(rb)["modelfile"]


def test_gemma4_weights_get_renderer_parser_and_stop(pair: Pair):
    data = with_metadata(tiny_gguf(), {"general.architecture": "gemma4"})
    digest = pair.upload(data)
    g, kid = pair.name("g4"), pair.name("g4kid")
    pair.create({"model": g, "files": {"g.gguf": digest}})
    pair.create({"model": kid, "from": g, "parser": "qwen3", "parameters": {"stop": ["END"]}})
    for name in (g, kid):
        (_, rb), (_, db) = pair.both("POST", "/api/show", {"model": name})
        real_lines = [x for x in normal_show(rb)["modelfile"] if x.startswith(("RENDER", "PARS"))]
        double_lines = [x for x in normal_show(db)["modelfile"] if x.startswith(("RENDER", "PARS"))]
        assert double_lines == real_lines
        assert normal_show(db)["parameters"] == normal_show(rb)["parameters"]


def test_show_template_of_a_gguf_with_a_chat_template(pair: Pair):
    jinja = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    digest = pair.upload(with_metadata(tiny_gguf(), {"tokenizer.chat_template": jinja}))
    jt, go = pair.name("jt"), pair.name("jtgo")
    pair.create({"model": jt, "files": {"jt.gguf": digest}})
    pair.create({"model": go, "from": jt, "template": "{{ .Prompt }}!"})
    (_, rb), (_, db) = pair.both("POST", "/api/show", {"model": jt})
    if version_of(pair.host) >= (0, 30, 0):
        assert db["template"] == rb["template"] == jinja
    assert normal_show(db)["modelfile"] == normal_show(rb)["modelfile"]
    (_, rb), (_, db) = pair.both("POST", "/api/show", {"model": go})
    assert db["template"] == rb["template"] == "{{ .Prompt }}!"


def test_show_and_tags_give_one_modification_time_that_a_rewrite_changes(pair: Pair):
    """deploy binds a read-back to the listed manifest by `modified_at` (release/deploy.py
    step 5): both endpoints must give the manifest file's time, to the nanosecond, and a
    manifest written again must get a new one."""
    tiny = pair.upload(tiny_gguf())
    model = pair.name("stamp")
    pair.create({"model": model, "files": {"tiny.gguf": tiny}})
    for url in (pair.host, pair.double.url):
        times = []
        for system in ("first", "second"):
            status, _ = raw(
                url,
                "POST",
                "/api/create",
                {"model": model, "from": model, "system": system, "stream": False},
            )
            assert status == 200
            _, shown = raw(url, "POST", "/api/show", {"model": model})
            _, listed = raw(url, "GET", "/api/tags")
            entry = next(m for m in listed["models"] if m["name"] == f"{model}:latest")
            assert shown["modified_at"] == entry["modified_at"], url
            times.append(entry["modified_at"])
        assert times[0] != times[1], url


def test_a_layer_from_an_uploaded_file_names_its_path_only_on_older_servers(pair: Pair):
    """Seen on the real servers: Ollama 0.24.0 writes the blob's path in its models
    directory as the `from` of a layer made from an uploaded file (shown as
    `details.parent_model`), so the same GGUF created on two servers whose OLLAMA_MODELS
    differ gets two manifest digests; 0.33.0-rc2 writes none. A double of the real
    server's version must do the same."""
    _, about = raw(pair.host, "GET", "/api/version")
    tiny = pair.upload(tiny_gguf())
    model = pair.name("file")
    status, _ = raw(
        pair.host,
        "POST",
        "/api/create",
        {"model": model, "files": {"t.gguf": tiny}, "stream": False},
    )
    pair.made.append(model)
    assert status == 200
    with OllamaDouble(
        version=about["version"], rewrite_gguf=False
    ) as twin:  # as the server kept it
        assert raw(twin.url, "POST", f"/api/blobs/{tiny}", tiny_gguf())[0] in (200, 201)
        status, _ = raw(
            twin.url,
            "POST",
            "/api/create",
            {"model": model, "files": {"t.gguf": tiny}, "stream": False},
        )
        assert status == 200
        parents = [
            raw(url, "POST", "/api/show", {"model": model})[1]["details"]["parent_model"]
            for url in (pair.host, twin.url)
        ]
    blob = f"/blobs/sha256-{tiny[7:]}"
    if version_of(pair.host) < (0, 33, 0):
        assert all(p.endswith(blob) for p in parents), parents
    else:
        assert parents == ["", ""]
