"""The Ollama API test double, exercised through the real `ollama` client over real HTTP.

These tests pin the double to ollama-reference §4-§8 (and to Ollama's Go sources where the
reference is silent), so that mfops tests written against the double mean something: if the
double drifted from Ollama, mfops could pass here and fail against a real server.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from mfops.testing.double import OllamaDouble, fake_gguf
from mfops.testing.double.gocompat import go_fmt_sharp_v, go_fmt_v, go_json, valid_path
from mfops.testing.double.names import parse_name
from mfops.testing.double.rules import parse_rules

BASE_TEMPLATE = "{{ .System }}\n{{ .Prompt }}"


@pytest.fixture
def double(ollama_double: OllamaDouble) -> OllamaDouble:
    """A double with one registry model, `llama3.2`, that create FROM can auto-pull."""
    ollama_double.add_registry_model(
        "llama3.2",
        template=BASE_TEMPLATE,
        system="You are a helpful assistant.",
        parameters={"temperature": 0.6, "stop": ["<|eot_id|>", "<|end|>"], "num_ctx": 4096},
        license="LLAMA 3.2 COMMUNITY LICENSE",
        messages=[{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}],
    )
    return ollama_double


# Plain HTTP only: `verify=False` skips loading the CA bundle (~20 ms per client).
@pytest.fixture
def client(double: OllamaDouble) -> Iterator[ollama.Client]:
    with closing(ollama.Client(host=double.url, timeout=10, verify=False)) as c:
        yield c


@pytest.fixture
def http(double: OllamaDouble) -> Iterator[httpx.Client]:
    """Plain HTTP to the double, for what the Python client hides or drops."""
    with httpx.Client(base_url=double.url, timeout=10, verify=False) as c:
        yield c


@pytest.fixture
def local(client: ollama.Client) -> ollama.Client:
    """The client, with `llama3.2` pulled onto the server."""
    client.pull("llama3.2")
    return client


def statuses(stream: Any) -> list[str]:
    return [p.status for p in stream]


def raw_show(http: httpx.Client, model: str) -> dict[str, Any]:
    """`/api/show` as JSON: the Python client drops system, messages and requires (§8.2)."""
    r = http.post("/api/show", json={"model": model})
    r.raise_for_status()
    return r.json()


def tags(http: httpx.Client) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in http.get("/api/tags").json()["models"]}


def write_gguf(tmp_path: Path, filename: str, **kwargs: Any) -> Path:
    path = tmp_path / filename
    path.write_bytes(fake_gguf(**kwargs))
    return path


def sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# -- basics ------------------------------------------------------------------------------------


def test_root_version_and_unknown_routes(double: OllamaDouble, http: httpx.Client) -> None:
    assert http.get("/").text == "Ollama is running"
    assert http.get("/api/version").json() == {"version": "0.33.0-rc2"}
    missing = http.get("/api/nothing")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert http.get("/api/create").status_code == 405
    assert double.host == double.url.rstrip("/") and double.url.startswith("http://127.0.0.1:")


def test_version_is_configurable_and_stop_kills_the_server() -> None:
    with OllamaDouble(version="0.9.0") as d:
        c = ollama.Client(host=d.url)
        assert httpx.get(f"{d.url}/api/version").json()["version"] == "0.9.0"
        c.list()  # leaves a keep-alive connection open
    with pytest.raises(ConnectionError):
        c.list()
    with pytest.raises(httpx.ConnectError):
        next(iter(c.pull("x", stream=True)))


# -- create FROM a registry model (auto-pull) and inheritance (§4) ------------------------------


def test_create_from_registry_base_pulls_inside_the_stream(
    double: OllamaDouble, client: ollama.Client
) -> None:
    seen = statuses(client.create(model="bot", from_="llama3.2", system="Be terse.", stream=True))
    assert seen[0] == "pulling manifest"
    assert any(s.startswith("pulling ") and len(s) == len("pulling ") + 12 for s in seen)
    first_success = seen.index("success")
    assert first_success < len(seen) - 1, "the pull's own success comes early"
    assert seen[first_success - 2 : first_success] == [
        "verifying sha256 digest",
        "writing manifest",
    ]
    tail = seen[first_success + 1 :]
    assert tail[-2:] == ["writing manifest", "success"]
    assert all(
        s.startswith(("using existing layer sha256:", "creating new layer sha256:"))
        for s in tail[:-2]
    )
    assert sum(s.startswith("creating new layer") for s in tail) == 1  # only the SYSTEM layer
    assert set(double.model_names()) == {"bot:latest", "llama3.2:latest"}
    # a second create finds the base locally: no pull statuses
    again = statuses(client.create(model="bot2", from_="llama3.2", stream=True))
    assert "pulling manifest" not in again and again[-1] == "success"


def test_create_non_streaming_returns_final_success(client: ollama.Client) -> None:
    assert client.create(model="bot", from_="llama3.2").status == "success"


def test_derived_layers_record_from_and_share_blobs(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="bot", from_="llama3.2", system="Be terse.")
    base = double.manifest("llama3.2")
    derived = double.manifest("bot")
    assert base is not None and derived is not None
    assert derived["schemaVersion"] == 2
    assert derived["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert derived["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    by_type = {layer["mediaType"].rsplit(".", 1)[1]: layer for layer in derived["layers"]}
    assert by_type["model"]["from"] == "llama3.2:latest"
    assert by_type["model"]["digest"] == base["layers"][0]["digest"]
    assert "from" not in by_type["system"]  # new layer
    assert by_type["template"]["from"] == "llama3.2:latest"
    assert raw_show(http, "bot")["details"]["parent_model"] == "llama3.2:latest"


def test_system_and_template_replaced_or_inherited(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="inherit", from_="llama3.2", system="", template="")
    show = raw_show(http, "inherit")
    assert show["system"] == "You are a helpful assistant."
    assert show["template"] == BASE_TEMPLATE
    client.create(
        model="replace", from_="llama3.2", system="New system.", template="{{ .Prompt }}!"
    )
    show = raw_show(http, "replace")
    assert (show["system"], show["template"]) == ("New system.", "{{ .Prompt }}!")
    # and the derived model is a snapshot: changing the base later changes nothing
    before = double.digest("inherit")
    double.tamper("llama3.2", system="Changed base.")
    assert double.digest("inherit") == before
    assert raw_show(http, "inherit")["system"] == "You are a helpful assistant."


def test_parameters_merge_per_key_and_lists_are_replaced_whole(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="p", from_="llama3.2", parameters={"temperature": 0.2, "stop": ["###"]})
    show = raw_show(http, "p")
    assert show["parameters"].splitlines() == [
        f"{'num_ctx':<30} 4096",
        f'{"stop":<30} "###"',
        f"{'temperature':<30} 0.2",
    ]
    manifest = double.manifest("p")
    assert manifest is not None
    params_layer = manifest["layers"][-1]
    assert params_layer["mediaType"].endswith(".params") and "from" not in params_layer
    blob = double.blob(params_layer["digest"])
    assert blob == b'{"num_ctx":4096,"stop":["###"],"temperature":0.2}\n'


def test_messages_replaced_only_by_a_non_empty_list(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="keep", from_="llama3.2", messages=[])
    assert raw_show(http, "keep")["messages"] == [
        {"role": "user", "content": "ping"},
        {"role": "assistant", "content": "pong"},
    ]
    client.create(model="swap", from_="llama3.2", messages=[{"role": "user", "content": "hi"}])
    assert raw_show(http, "swap")["messages"] == [{"role": "user", "content": "hi"}]


def test_license_is_appended_as_layers(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="lic", from_="llama3.2", license=["MIT", "MIT"])
    show = raw_show(http, "lic")
    assert show["license"] == "LLAMA 3.2 COMMUNITY LICENSE\nMIT\nMIT"
    assert show["modelfile"].count("\nLICENSE ") == 3
    manifest = double.manifest("lic")
    assert manifest is not None
    assert sum(layer["mediaType"].endswith(".license") for layer in manifest["layers"]) == 3


def test_adapters_stack_across_inheritance(
    double: OllamaDouble, client: ollama.Client, tmp_path: Path, http: httpx.Client
) -> None:
    one = write_gguf(tmp_path, "one.gguf", kind="adapter", name="one")
    two = write_gguf(tmp_path, "two.gguf", kind="adapter", name="two")
    client.create_blob(one)
    client.create_blob(two)
    client.create(model="a1", from_="llama3.2", adapters={"one.gguf": sha(one)})
    client.create(model="a2", from_="a1", adapters={"two.gguf": sha(two)})
    manifest = double.manifest("a2")
    assert manifest is not None
    adapters = [layer for layer in manifest["layers"] if layer["mediaType"].endswith(".adapter")]
    assert [a["digest"] for a in adapters] == [sha(one), sha(two)]
    assert adapters[0]["from"] == "a1:latest"
    lines = raw_show(http, "a2")["modelfile"].splitlines()
    adapter_lines = [line for line in lines if line.startswith("ADAPTER ")]
    assert adapter_lines == [
        f"ADAPTER /usr/share/ollama/.ollama/models/blobs/{d['digest'].replace(':', '-')}"
        for d in adapters
    ]
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="a3", from_="a1", adapters={"one.gguf": sha(one), "two.gguf": sha(two)})
    assert (err.value.status_code, err.value.error) == (
        400,
        "only one adapter is currently supported",
    )


def test_renderer_parser_requires_inherited_unless_set(
    double: OllamaDouble, http: httpx.Client
) -> None:
    r = http.post(
        "/api/create",
        json={
            "model": "r1",
            "from": "llama3.2",
            "renderer": "qwen3",
            "requires": "0.14.0",
            "stream": False,
        },
    )
    assert r.status_code == 200 and r.json() == {"status": "success"}
    http.post("/api/create", json={"model": "r2", "from": "r1", "stream": False})
    show = raw_show(http, "r2")
    assert show["requires"] == "0.14.0"
    assert "RENDERER qwen3" in show["modelfile"] and "REQUIRES" not in show["modelfile"]
    http.post("/api/create", json={"model": "r3", "from": "r1", "renderer": "x", "stream": False})
    assert "RENDERER x" in raw_show(http, "r3")["modelfile"]


def test_from_is_case_sensitive_but_other_lookups_are_not(
    double: OllamaDouble, client: ollama.Client
) -> None:
    client.create(model="Bot", from_="llama3.2")
    assert client.show("bot").details is not None  # case-insensitive lookup
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="child", from_="bot")  # exact spelling misses, registry has no "bot"
    assert err.value.error == "pull model manifest: file does not exist"
    client.create(model="BOT", from_="Bot")  # adopts the existing spelling "Bot"
    assert double.model_names() == ["Bot:latest", "llama3.2:latest"]


# -- create from files and blobs ----------------------------------------------------------------


def test_blobs_head_and_post(
    double: OllamaDouble, client: ollama.Client, tmp_path: Path, http: httpx.Client
) -> None:
    path = write_gguf(tmp_path, "model.gguf", name="weights")
    digest = sha(path)
    assert http.head(f"/api/blobs/{digest}").status_code == 404
    assert client.create_blob(path) == digest
    assert http.head(f"/api/blobs/{digest}").status_code == 200
    assert http.post(f"/api/blobs/{digest}", content=path.read_bytes()).status_code == 200
    fresh = b"other bytes"
    fresh_digest = "sha256:" + hashlib.sha256(fresh).hexdigest()
    assert http.post(f"/api/blobs/{fresh_digest}", content=fresh).status_code == 201
    wrong = "sha256:" + "0" * 64
    r = http.post(f"/api/blobs/{wrong}", content=b"not matching")
    actual = "sha256:" + hashlib.sha256(b"not matching").hexdigest()
    assert r.status_code == 400
    assert r.json() == {"error": f'digest mismatch, expected "{wrong}", got "{actual}"'}
    assert http.head("/api/blobs/sha256:xyz").status_code == 400
    assert [c.method for c in double.calls["/api/blobs"]][:2] == ["HEAD", "POST"]
    assert double.calls.count("HEAD /api/blobs") == 3


def test_create_from_files(
    double: OllamaDouble, client: ollama.Client, tmp_path: Path, http: httpx.Client
) -> None:
    path = write_gguf(
        tmp_path, "model.gguf", architecture="qwen2", parameter_size="494M", quantization="F16"
    )
    digest = client.create_blob(path)
    seen = statuses(
        client.create(model="imported", files={"model.gguf": digest}, system="Hi.", stream=True)
    )
    assert seen[0] == "parsing GGUF" and "validating GGUF model" in seen and seen[-1] == "success"
    show = raw_show(http, "imported")
    assert show["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "494M",
        "quantization_level": "F16",
    }
    assert show["template"] == "{{ .Prompt }}"
    assert "\nTEMPLATE {{ .Prompt }}\n" in show["modelfile"]
    assert show["capabilities"] == ["completion"]
    assert show["model_info"]["general.architecture"] == "qwen2"
    manifest = double.manifest("imported")
    assert manifest is not None
    assert manifest["layers"][0]["digest"] != digest  # re-written by "llama-quantize" (§6.3)
    # identical inputs reproduce the digest
    first = double.digest("imported")
    client.create(model="imported", files={"model.gguf": digest}, system="Hi.")
    assert double.digest("imported") == first
    # quantize an F16 import; quantizing a quantized model fails
    seen = statuses(
        client.create(model="q", files={"model.gguf": digest}, quantize="q4_K_M", stream=True)
    )
    assert "quantizing F16 model to Q4_K_M" in seen
    assert raw_show(http, "q")["details"]["quantization_level"] == "Q4_K_M"
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="q2", from_="q", quantize="q8_0")
    assert err.value.error == "quantization is only supported for F16, BF16 and F32 models"


def test_from_wins_over_files(
    double: OllamaDouble, client: ollama.Client, tmp_path: Path, http: httpx.Client
) -> None:
    digest = client.create_blob(write_gguf(tmp_path, "m.gguf", architecture="gemma"))
    client.create(model="both", from_="llama3.2", files={"m.gguf": digest})
    assert raw_show(http, "both")["details"]["family"] == "llama"


def test_create_file_errors(
    double: OllamaDouble, client: ollama.Client, tmp_path: Path, http: httpx.Client
) -> None:
    missing = "sha256:" + "1" * 64
    for key in ("/abs/model.gguf", "./model.gguf", "../model.gguf", "dir/"):
        with pytest.raises(ollama.ResponseError) as err:
            client.create(model="x", files={key: missing})
        assert (err.value.status_code, err.value.error) == (400, "file path must be relative")
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="x", files={"model.gguf": missing})
    assert err.value.status_code == 500
    assert err.value.error == (
        f"open /usr/share/ollama/.ollama/models/blobs/sha256-{'1' * 64}: no such file or directory"
    )
    with pytest.raises(ollama.ResponseError) as err:  # streaming: after "parsing GGUF", as a line
        statuses(client.create(model="x", files={"model.gguf": missing}, stream=True))
    assert err.value.status_code == -1
    text = client.create_blob(write_text(tmp_path / "notes.gguf", "plain text"))
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="x", files={"notes.gguf": text})
    assert (err.value.status_code, err.value.error) == (400, "supplied file was not in GGUF format")
    r = http.post("/api/create", json={"model": "x", "stream": False})
    assert (r.status_code, r.json()) == (400, {"error": "neither 'from' or 'files' was specified"})
    r = http.post("/api/create", content=b"")
    assert (r.status_code, r.json()) == (400, {"error": "missing request body"})
    assert not double.has_model("x")


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("llama3.2", "registry.ollama.ai/library/llama3.2:latest"),
        ("me/bot:v1", "registry.ollama.ai/me/bot:v1"),
        ("localhost:5000/team/m", "localhost:5000/team/m:latest"),
        ("my.ns/m", None),
        ("a/b/c/d", None),
        ("model:", None),
        (":tag", None),
        ("m@sha256:abc", None),
        ("-bad", None),
        ("ünï", None),
    ],
)
def test_name_grammar(raw: str, expected: str | None) -> None:
    name = parse_name(raw)
    assert (str(name) if name.valid else None) == expected


def test_invalid_names_are_rejected(double: OllamaDouble, client: ollama.Client) -> None:
    for bad in ("bad name", "my.ns/m", "x:"):
        with pytest.raises(ollama.ResponseError) as err:
            client.create(model=bad, from_="llama3.2")
        assert (err.value.status_code, err.value.error) == (400, "invalid model name")
        with pytest.raises(ollama.ResponseError) as err:
            client.show(bad)
        assert (err.value.status_code, err.value.error) == (400, "invalid model name")
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="ok", from_="./mdoel.gguf")
    assert (err.value.status_code, err.value.error) == (400, "invalid model name")
    with pytest.raises(ollama.ResponseError) as err:
        client.copy("llama3.2", "bad name")
    assert err.value.error == 'destination "bad name" is invalid'
    with pytest.raises(ollama.ResponseError) as err:
        client.delete("bad name")
    assert err.value.error == 'name "bad name" is invalid'


# -- show, list, copy, delete, pull ---------------------------------------------------------------


def test_show_modelfile_text(double: OllamaDouble, client: ollama.Client) -> None:
    client.create(
        model="me/bot:v1",
        from_="llama3.2",
        system=" padded ",
        parameters={"num_ctx": 1000000, "stop": ['say "hi"\n']},
        messages=[
            {"role": "user", "content": "a: b"},
            {"role": "assistant", "content": "multi\nline"},
        ],
    )
    show = client.show("me/bot:v1")
    weights = double.manifest("me/bot:v1")["layers"][0]["digest"]  # type: ignore[index]
    assert show.modelfile == (
        '# Modelfile generated by "ollama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        "# FROM me/bot:v1\n"
        "\n"
        f"FROM /usr/share/ollama/.ollama/models/blobs/{weights.replace(':', '-')}\n"
        'TEMPLATE "{{ .System }}\n{{ .Prompt }}"\n'
        'SYSTEM " padded "\n'
        "PARAMETER num_ctx 1e+06\n"
        'PARAMETER stop """say "hi"\n"""\n'
        "PARAMETER temperature 0.6\n"
        "LICENSE LLAMA 3.2 COMMUNITY LICENSE\n"
        "MESSAGE user a: b\n"
        'MESSAGE assistant "multi\nline"\n'
    )
    assert show.parameters == (
        f'{"num_ctx":<30} 1e+06\n{"stop":<30} "say \\"hi\\"\\n"\n{"temperature":<30} 0.6'
    )


def test_show_full_json_and_what_the_client_keeps(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="bot", from_="llama3.2", system="S.")
    raw = raw_show(http, "bot")
    assert list(raw) == [
        "license",
        "modelfile",
        "parameters",
        "template",
        "system",
        "details",
        "messages",
        "model_info",
        "capabilities",
        "modified_at",
    ]
    assert raw["capabilities"] == ["completion"]
    typed = client.show("bot")
    assert typed.template == BASE_TEMPLATE and typed.license == "LLAMA 3.2 COMMUNITY LICENSE"
    assert typed.modelinfo is not None and typed.modelinfo["general.architecture"] == "llama"
    assert not hasattr(typed, "system")  # dropped by the client, present in the JSON
    assert double.show("bot")["system"] == "S."
    with pytest.raises(ollama.ResponseError) as err:
        client.show("Nope")
    assert (err.value.status_code, err.value.error) == (404, "model 'Nope:latest' not found")
    r = http.post("/api/show", json={})
    assert (r.status_code, r.json()) == (400, {"error": "model is required"})
    r = http.post("/api/show", json={"model": "bot", "system": "Other.", "options": {"seed": 7}})
    assert r.json()["system"] == "Other." and "PARAMETER seed 7" in r.json()["modelfile"]
    assert "seed" not in r.json()["parameters"]


def test_tags_digests_copy_and_recreate(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="bot", from_="llama3.2", system="S.")
    listing = tags(http)
    entry = listing["bot:latest"]
    assert entry["model"] == "bot:latest" and len(entry["digest"]) == 64
    manifest_bytes = double.store.get_manifest(parse_name("bot")).data  # type: ignore[union-attr]
    assert entry["digest"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert (
        entry["size"]
        == sum(lay["size"] for lay in json.loads(manifest_bytes)["layers"])
        + json.loads(manifest_bytes)["config"]["size"]
    )
    assert entry["details"]["parent_model"] == "llama3.2:latest"
    assert client.copy("bot", "bot:v1").status == "success"
    listing = tags(http)
    assert listing["bot:v1"]["digest"] == entry["digest"]
    assert next(iter(listing)) == "bot:v1"  # newest first
    typed = client.list()
    assert [m.model for m in typed.models] == list(listing)
    client.create(model="bot", from_="llama3.2", system="S.")  # identical inputs
    assert tags(http)["bot:latest"]["digest"] == entry["digest"]
    new_digest = double.tamper("bot:v1", system="Drifted.")
    assert new_digest != entry["digest"] and tags(http)["bot:v1"]["digest"] == new_digest
    with pytest.raises(ollama.ResponseError) as err:
        client.copy("missing", "x")
    assert (err.value.status_code, err.value.error) == (404, 'model "missing" not found')
    r = http.post("/api/copy", json={"source": "bot", "destination": "bot:v2"})
    assert (r.status_code, r.content) == (200, b"")


def test_delete_frees_only_unshared_blobs(
    double: OllamaDouble, client: ollama.Client, http: httpx.Client
) -> None:
    client.create(model="bot", from_="llama3.2", system="Only mine.")
    manifest = double.manifest("bot")
    assert manifest is not None
    system_digest = next(
        x["digest"] for x in manifest["layers"] if x["mediaType"].endswith(".system")
    )
    assert client.delete("bot").status == "success"
    assert not double.has_model("bot")
    assert double.blob(system_digest) is None
    assert double.has_model("llama3.2")  # shared blobs survive with the base
    with pytest.raises(ollama.ResponseError) as err:
        client.delete("bot")
    assert (err.value.status_code, err.value.error) == (404, "model 'bot' not found")
    r = http.request("DELETE", "/api/delete", json={"model": "llama3.2"})
    assert (r.status_code, r.content) == (200, b"")


def test_pull(double: OllamaDouble, client: ollama.Client, http: httpx.Client) -> None:
    seen = statuses(client.pull("llama3.2", stream=True))
    assert seen[0] == "pulling manifest" and seen[-3:] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    assert tags(http)["llama3.2:latest"]["digest"] == double.registry_digest("llama3.2")
    again = list(client.pull("llama3.2", stream=True))
    assert all(p.completed == p.total for p in again if p.status.startswith("pulling "))
    double.add_registry_model("llama3.2", system="Updated upstream.")  # an upstream update
    seen = statuses(client.pull("llama3.2", stream=True))
    assert "removing unused layers" in seen
    assert double.digest("llama3.2") == double.registry_digest("llama3.2")
    with pytest.raises(ollama.ResponseError) as err:
        client.pull("nothing-here")
    assert (err.value.status_code, err.value.error) == (
        500,
        "pull model manifest: file does not exist",
    )
    with pytest.raises(ollama.ResponseError) as err:
        list(client.pull("nothing-here", stream=True))
    assert err.value.status_code == -1


def test_local_model_helpers(double: OllamaDouble, http: httpx.Client) -> None:
    digest = double.add_local_model(
        "helper", system="Reply in JSON.", parameters={"temperature": 0}
    )
    assert double.digest("helper") == digest == tags(http)["helper:latest"]["digest"]
    child = double.add_local_model("child", from_="helper", system="Never discuss cats.")
    assert child != digest and double.show("child")["details"]["parent_model"] == "helper:latest"


# -- the toy model -----------------------------------------------------------------------------


def test_refusal_rule_follows_the_system_prompt(
    double: OllamaDouble, client: ollama.Client
) -> None:
    client.create(model="guard", from_="llama3.2", system="Never discuss politics or religion.")
    ask = [{"role": "user", "content": "What do you think about Politics?"}]
    reply = client.chat(model="guard", messages=ask, options={"temperature": 0}).message.content
    assert reply is not None and "cannot" in reply and "politics" in reply
    fine = [{"role": "user", "content": "How do I bake sourdough bread?"}]
    reply = client.chat(model="guard", messages=fine, options={"temperature": 0}).message.content
    assert reply is not None and "cannot" not in reply and "sourdough" in reply
    # the same question passes once SYSTEM no longer forbids it: a real reason to fail a suite
    client.create(model="guard", from_="llama3.2", system="Be friendly.")
    reply = client.chat(model="guard", messages=ask, options={"temperature": 0}).message.content
    assert reply is not None and "cannot" not in reply


def test_allow_list_canned_reply_and_persona(double: OllamaDouble, client: ollama.Client) -> None:
    system = (
        'You are Ada.\n- Only discuss Python.\nIf asked about pricing, say "Please contact sales."'
    )
    client.create(model="tutor", from_="llama3.2", system=system)

    def ask(text: str) -> str:
        r = client.generate(model="tutor", prompt=text, options={"temperature": 0})
        return r.response

    assert "cannot" in ask("What is the capital of France?")
    assert "python" in ask("How do Python decorators work?").lower()
    assert ask("What is the pricing of python courses?") == "Please contact sales."
    assert ask("Python question: who are you?") == "I am Ada."
    assert parse_rules(system).allowed == ["python"]


def test_json_rules_and_format(double: OllamaDouble, client: ollama.Client) -> None:
    client.create(model="j", from_="llama3.2", system="Always reply in JSON. Never discuss cats.")
    out = client.chat(
        model="j",
        messages=[{"role": "user", "content": "Explain dogs"}],
        options={"temperature": 0},
    )
    assert json.loads(out.message.content or "")["answer"]
    refused = client.generate(
        model="j", prompt="Tell me about cats", options={"temperature": 0}
    ).response
    assert json.loads(refused) == {
        "answer": "I'm sorry, but I cannot help with cats.",
        "refused": True,
    }
    plain = client.generate(model="llama3.2", prompt="Explain dogs", format="json").response
    assert isinstance(json.loads(plain), dict)
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "ok": {"type": "boolean"}},
    }
    shaped = json.loads(
        client.generate(model="llama3.2", prompt="Explain dogs", format=schema).response
    )
    assert set(shaped) == {"summary", "ok"} and shaped["ok"] is True


def test_language_case_brevity_and_affixes(client: ollama.Client) -> None:
    client.create(model="fr", from_="llama3.2", system="Always answer in French.")
    reply = client.generate(
        model="fr", prompt="What is bread?", options={"temperature": 0}
    ).response
    assert reply.startswith("Bonjour") and "pain" not in reply and "bread" in reply
    client.create(
        model="styled",
        from_="llama3.2",
        system='Be brief. Reply in uppercase. Always start your reply with "Ahoy".',
    )
    reply = client.generate(
        model="styled", prompt="What is bread?", options={"temperature": 0}
    ).response
    assert reply == "Ahoy HERE IS A SHORT ANSWER ABOUT BREAD."


def test_few_shot_messages_are_used(local: ollama.Client) -> None:
    # the base's MESSAGEs are "ping" -> "pong"; the model answers the repeated question alike
    assert (
        local.chat(model="llama3.2", messages=[{"role": "user", "content": "PING"}]).message.content
        == "pong"
    )
    local.create(model="m2", from_="llama3.2", messages=[{"role": "user", "content": "x"}])
    assert (
        local.chat(model="m2", messages=[{"role": "user", "content": "ping"}]).message.content
        != "pong"
    )


def test_seeded_sampling(local: ollama.Client) -> None:
    msgs = [{"role": "user", "content": "Describe the ocean"}]

    def reply(**options: Any) -> str:
        return local.chat(model="llama3.2", messages=msgs, options=options).message.content or ""

    assert reply(seed=1, temperature=0.8) == reply(seed=1, temperature=0.8)
    assert reply(seed=1, temperature=0.8) != reply(seed=2, temperature=0.8)
    assert reply(seed=1, temperature=0) == reply(seed=2, temperature=0)
    assert len({reply(temperature=1.0) for _ in range(8)}) > 1  # unseeded samples vary


def test_stop_and_num_predict(local: ollama.Client) -> None:
    msgs = [{"role": "user", "content": "Describe the ocean"}]
    full = (
        local.chat(model="llama3.2", messages=msgs, options={"temperature": 0}).message.content
        or ""
    )
    cut = local.chat(
        model="llama3.2", messages=msgs, options={"temperature": 0, "stop": ["answer"]}
    )
    assert cut.message.content == full[: full.index("answer")] and cut.done_reason == "stop"
    short = local.generate(
        model="llama3.2", prompt="Describe the ocean", options={"num_predict": 3}
    )
    assert short.done_reason == "length" and short.eval_count == 3


def test_streaming_chunks_and_final_metrics(local: ollama.Client) -> None:
    parts = list(
        local.chat(
            model="llama3.2",
            messages=[{"role": "user", "content": "hello ocean"}],
            stream=True,
            options={"seed": 1},
        )
    )
    assert (
        all(not p.done for p in parts[:-1]) and parts[-1].done and parts[-1].done_reason == "stop"
    )
    text = "".join(p.message.content or "" for p in parts)
    final = parts[-1]
    assert final.eval_count == len(parts) - 1 and final.total_duration and final.eval_duration
    assert (
        text
        == local.chat(
            model="llama3.2",
            messages=[{"role": "user", "content": "hello ocean"}],
            options={"seed": 1},
        ).message.content
    )
    gen = list(local.generate(model="llama3.2", prompt="hello", stream=True))
    assert gen[-1].done and gen[-1].context and gen[-1].response == ""


def test_inference_errors(double: OllamaDouble, client: ollama.Client) -> None:
    client.pull("llama3.2")
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="ghost", messages=[{"role": "user", "content": "hi"}])
    assert (err.value.status_code, err.value.error) == (404, "model 'ghost' not found")
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="ghost", prompt="hi")
    assert (err.value.status_code, err.value.error) == (404, "model 'ghost' not found")
    with pytest.raises(ollama.ResponseError) as err:
        client.embed(model="ghost", input="hi")
    assert (err.value.status_code, err.value.error) == (
        404,
        'model "ghost" not found, try pulling it first',
    )
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], think=True)
    assert (err.value.status_code, err.value.error) == (400, '"llama3.2" does not support thinking')
    client.create(
        model="badparam", from_="llama3.2", parameters={"temperature": "hot"}
    )  # not validated
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="badparam", prompt="hi")
    assert (err.value.status_code, err.value.error) == (
        500,
        'option "temperature" must be of type float32',
    )
    double.add_registry_model("nomic-embed-text", family="nomic-bert", embedding=True)
    client.pull("nomic-embed-text")
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="nomic-embed-text", prompt="hi")
    assert err.value.error == '"nomic-embed-text" does not support generate'
    load = client.generate(model="llama3.2", prompt="")
    assert (load.done, load.done_reason) == (True, "load")
    assert [m.model for m in client.ps().models] == ["llama3.2:latest"]
    assert client.generate(model="llama3.2", keep_alive=0).done_reason == "unload"


def test_embeddings_are_normalised_bags_of_words(
    local: ollama.Client, double: OllamaDouble, http: httpx.Client
) -> None:
    texts = ["the cat sat on the mat", "a cat sat on a mat", "quantum chromodynamics lecture"]
    vecs = local.embed(model="llama3.2", input=texts).embeddings
    assert len(vecs) == 3 and all(len(v) == 256 for v in vecs)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in vecs)

    def cos(a: Any, b: Any) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vecs[0], vecs[1]) > cos(vecs[0], vecs[2])
    assert local.embed(model="llama3.2", input="the cat sat on the mat").embeddings[0] == vecs[0]
    assert local.embed(model="llama3.2", input=[]).embeddings == []
    short = local.embed(model="llama3.2", input="cat", dimensions=16).embeddings[0]
    assert len(short) == 16
    legacy = local.embeddings(model="llama3.2", prompt="the cat sat on the mat")
    assert list(legacy.embedding) == vecs[0]
    r = http.post("/api/embed", json={"model": "llama3.2", "input": 5})
    assert (r.status_code, r.json()) == (400, {"error": "invalid input type"})


# -- faults and the call log ------------------------------------------------------------------


def test_latency_and_call_log(double: OllamaDouble, client: ollama.Client) -> None:
    double.faults.latency["/api/tags"] = 0.5
    # the latency is real: a client that waits less gives up (a slower machine waits longer)
    with closing(ollama.Client(host=double.url, timeout=0.05)) as impatient, \
            pytest.raises(httpx.ReadTimeout):  # fmt: skip
        impatient.list()
    client.list()
    assert double.calls.count("/api/create") == 0
    client.create(model="bot", from_="llama3.2", system="S.")
    body = double.calls["/api/create"][0].body
    assert body == {"model": "bot", "stream": False, "from": "llama3.2", "system": "S."}
    assert double.calls["/api/create"][0].status == 200
    assert double.calls.errors == []


def test_concurrency_is_recorded(double: OllamaDouble) -> None:
    double.add_local_model("base")
    double.faults.latency["/api/create"] = 0.15

    def create(i: int) -> None:
        with ollama.Client(host=double.url) as c:
            c.create(model=f"m{i}", from_="base")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert double.calls.count("/api/create") == 4
    assert double.calls.max_concurrency["/api/create"] == 4
    assert double.calls.in_flight("/api/create") == 0


def test_injected_errors(double: OllamaDouble, client: ollama.Client) -> None:
    double.faults.fail_next("/api/create", status=500, error="something broke")
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="bot", from_="llama3.2")
    assert (err.value.status_code, err.value.error) == (500, "something broke")
    assert client.create(model="bot", from_="llama3.2").status == "success"  # only the next call
    double.faults.fail_next("/api/show", status=502, html=True)
    with pytest.raises(ollama.ResponseError) as err:
        client.show("bot")
    assert err.value.status_code == 502 and "<title>502 Bad Gateway</title>" in err.value.error
    double.faults.fail_next("POST /api/chat", times=2, status=503, error="server busy")
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as err:
            client.chat(
                model="bot", messages=[{"role": "user", "content": "hi"}], stream=True
            ).__next__()
        assert err.value.status_code == 503
    assert [c.fault for c in double.calls["/api/chat"]] == ["fail 503", "fail 503"]
    double.faults.disconnect_next("/api/tags")
    with pytest.raises(httpx.RemoteProtocolError):
        client.list()


def test_dropped_and_slow_streams(double: OllamaDouble, client: ollama.Client) -> None:
    double.faults.drop_stream("/api/create", after_lines=2)
    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        for p in client.create(model="bot", from_="llama3.2", stream=True):
            got.append(p.status)
    assert got == ["pulling manifest", got[1]] and got[1].startswith("pulling ")
    assert not double.has_model("bot")  # the server "died" before writing the manifest
    double.faults.drop_stream("/api/show")  # non-streamed bodies are cut in half
    with pytest.raises(httpx.RemoteProtocolError):
        client.show("llama3.2")
    client.pull("llama3.2")
    double.faults.stream_delay["/api/chat"] = 0.5
    # the delay is real: a client that waits less between lines gives up mid-stream
    with closing(ollama.Client(host=double.url, timeout=0.05)) as impatient, \
            pytest.raises(httpx.ReadTimeout):  # fmt: skip
        list(impatient.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}],
                            stream=True))  # fmt: skip
    double.faults.stream_delay["/api/chat"] = 0.02
    parts = list(
        client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert len(parts) > 1 and parts[-1].done  # a slow stream still arrives whole
    assert double.calls.errors == []


def test_error_line_mid_stream(double: OllamaDouble, client: ollama.Client) -> None:
    double.faults.fail_stream("/api/create", after_lines=1, error="disk full")
    got: list[str] = []
    with pytest.raises(ollama.ResponseError) as err:
        for p in client.create(model="bot", from_="llama3.2", stream=True):
            got.append(p.status)
    assert got == ["pulling manifest"]
    assert (err.value.status_code, err.value.error) == (-1, "disk full")
    assert not double.has_model("bot")
    double.faults.fail_stream("/api/create", after_lines=3, error="disk full")
    with pytest.raises(ollama.ResponseError) as err:
        client.create(model="bot", from_="llama3.2")
    assert (err.value.status_code, err.value.error) == (500, "disk full")
    assert client.create(model="bot", from_="llama3.2").status == "success"


# -- Go formatting helpers ------------------------------------------------------------------------


def test_go_formatting_helpers() -> None:
    assert [go_fmt_v(v) for v in (4096.0, 0.1, 1e6, 1234567.0, 1e-5, True, "x")] == [
        "4096",
        "0.1",
        "1e+06",
        "1.234567e+06",
        "1e-05",
        "true",
        "x",
    ]
    assert go_fmt_sharp_v('a"b\n') == '"a\\"b\\n"'
    assert go_json({"s": "<|im_end|> & more", "n": 1e21, "f": 2.0}) == (
        b'{"s":"\\u003c|im_end|\\u003e \\u0026 more","n":1e+21,"f":2}\n'
    )
    assert [valid_path(p) for p in ("a.gguf", "d/a.gguf", "./a", "/a", "a/../b", "")] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(("version", "differ"), [("0.24.0", True), ("0.33.0-rc2", False)])
def test_one_file_created_on_two_servers_gets_digests_that_differ_only_on_older_ones(
    version: str, differ: bool
):
    """Ollama 0.24.0 records the uploaded file's path in the server's models directory in
    the manifest (seen on the real server), so two servers whose OLLAMA_MODELS differ list
    one GGUF under two manifest digests; 0.33.0-rc2 records no path, and they agree (the
    file kept as uploaded: a rewritten one is a new layer, made by the server)."""
    data = fake_gguf()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    listed = []
    for models_dir in ("/srv/a/models", "/srv/b/models"):
        with OllamaDouble(version=version, models_dir=models_dir, rewrite_gguf=False) as d:
            httpx.post(f"{d.url}/api/blobs/{digest}", content=data, timeout=10)
            body = {"model": "w", "files": {"w.gguf": digest}, "stream": False}
            assert httpx.post(f"{d.url}/api/create", json=body, timeout=10).status_code == 200
            listed.append(httpx.get(f"{d.url}/api/tags", timeout=10).json()["models"][0]["digest"])
    assert (listed[0] != listed[1]) is differ
