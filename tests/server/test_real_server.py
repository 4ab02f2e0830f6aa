"""mfops against a real Ollama (issue 13): build, verify, status, diff, import, lock,
promote, rollback and test, on the servers `.ci/run` starts (see tests/realserver.py)."""

from __future__ import annotations

import base64
import json
import os

import pytest

from mfops.server.client import CreateRequest, Server, ServerOptions
from mfops.server.hosts import resolve_host
from tests.ggufedit import with_metadata
from tests.realserver import (  # noqa: F401  (fixtures)
    RealRepo,
    built_fixture,
    needs_inference,
    raw,
    real_fixture,
    real_host,
    tiny_gguf,
    version_of,
)

pytestmark = pytest.mark.ollama


def by_model(report: dict) -> dict[str, dict]:
    return {m["model"]: m for m in report["models"]}


# --------------------------------------------------------------------------- build + verify


def test_three_level_hierarchy_with_every_command_builds_and_verifies(built: RealRepo):
    shown = built.show(built.at("leaf"))
    assert shown["system"] == "Leaf system"
    assert shown["license"] == (
        "MIT License\n\nCopyright (c) 2026 Test\nSecond licence\nLeaf licence line1\nline2"
    )
    # `PARAMETER message wizard: abracadabra` is a MESSAGE, role check skipped (item 10)
    assert shown["messages"] == [{"role": "wizard", "content": "abracadabra"}]
    assert shown["requires"] == "0.14.0"
    assert "RENDERER qwen3-coder" in shown["modelfile"]


def test_second_build_creates_nothing(built: RealRepo):
    report = built.build("--all")
    assert {m["action"] for m in report["models"]} == {"up to date"}


def test_status_is_up_to_date_after_the_build(built: RealRepo):
    report = built.json("status", "--tag", built.tag)
    assert {m["model"]: m["status"] for m in report["models"]} == {
        built.name("base"): "up to date",
        built.name("mid"): "up to date",
        built.name("leaf"): "up to date",
    }


def test_parser_line_inside_a_system_prompt_is_not_the_models_parser(built: RealRepo):
    """Item 3: the base's SYSTEM holds a line `PARSER qwen3`; only mid sets a PARSER."""
    base = built.server.show(built.at("base"))
    mid = built.server.show(built.at("mid"))
    assert base is not None and mid is not None
    assert base.parser == "" and base.renderer == ""
    assert base.system == "You are a tiny test model.\nPARSER qwen3\nBe brief."
    assert (mid.renderer, mid.parser) == ("qwen3-coder", "qwen3-coder")


def test_int_above_2_53_and_float64_printed_num_ctx_verify(built: RealRepo):
    """Item 4: the server keeps seed 9007199254740993 as 9.007199254740992e+15."""
    shown = built.show(built.at("base"))
    assert "9.007199254740992e+15" in shown["parameters"]
    assert "1.048576e+06" in shown["parameters"]
    have = built.server.show(built.at("base"))
    assert have is not None
    assert have.parameters["seed"] == 9007199254740992
    assert have.parameters["num_ctx"] == 1048576


def test_parameter_system_line_is_the_system_prompt(built: RealRepo):
    """Item 10: `PARAMETER system X` is a SYSTEM on the server and in mfops' view."""
    assert built.show(built.at("mid"))["system"] == "Mid system from a PARAMETER line"
    shown = built.ok("show", built.name("mid"), "--effective")
    assert "Mid system from a PARAMETER line" in shown


def test_adapter_layer_is_created_and_inherited(built: RealRepo):
    mid = built.server.show(built.at("mid"))
    leaf = built.server.show(built.at("leaf"))
    assert mid is not None and leaf is not None
    assert len(mid.adapters) == 1 and leaf.adapters == mid.adapters


def test_adapter_file_that_is_no_lora_is_stored_as_weights_and_fails_verification(
    real: RealRepo,
):
    """The server files an ADAPTER GGUF by its general.type: the tiny model's weights (type
    `model`) become a second weights layer, the create still succeeds and `show` lists no
    adapter, so the read-back fails, saying what the file must be."""
    a = real.name("a")
    real.write({f"{a}/Modelfile": "# a\nFROM ./tiny.gguf\nADAPTER ./tiny.gguf\n"})
    real.write({f"{a}/tiny.gguf": tiny_gguf()}, "weights")
    report = real.json("build", "--all", "--tag", real.tag, expect=1)
    (row,) = report["models"]
    assert row["action"] == "failed"
    assert row["mismatches"] == [{"field": "ADAPTER", "expected": 1, "actual": 0, "origin": None}]
    assert "a GGUF whose general.type is 'adapter'" in row["error"]
    have = real.server.show(real.at("a"))
    assert have is not None and have.adapters == ()


def test_model_changed_on_the_server_is_drifted_then_rebuilt(built: RealRepo):
    leaf, target = built.name("leaf"), built.at("leaf")
    built.server.create(CreateRequest(model=target, from_=target, system="changed by hand"))
    report = built.json("status", "--tag", built.tag)
    assert by_model(report)[leaf]["status"] == "drifted"
    again = built.build(leaf)
    # The content tag `leaf:mf-…` the fixture's build wrote still holds what the repo
    # builds, so the tag is restored by a server-side copy, not created again.
    assert by_model(again)[leaf]["action"] == "tagged"
    assert built.show(target)["system"] == "Leaf system"
    report = built.json("status", "--tag", built.tag)
    assert by_model(report)[leaf]["status"] == "up to date"


def test_diff_server_names_what_differs_between_two_levels(built: RealRepo):
    code, out, err = built.mfops("diff", "--server", built.at("base"), built.at("leaf"))
    assert code in (0, 1), err
    assert "SYSTEM" in out and "'Leaf system'" in out
    assert "RENDERER: '' -> 'qwen3-coder'" in out
    code, out, _ = built.mfops("diff", "--server", built.at("leaf"), built.at("leaf"))
    assert "1 same" in out


def test_import_writes_the_differences_from_the_parent(built: RealRepo):
    text = built.ok("import", built.at("leaf"), "--as", "copy", "--stdout")
    assert "SYSTEM Leaf system" in text
    assert "{%" not in text


def test_import_of_a_model_made_from_weights_is_a_draft(built: RealRepo):
    """Ollama 0.24 names the weights' blob path as the base (`details.parent_model`), 0.33
    nothing: either way there is no base model to read, so the import is a draft."""
    code, out, err = built.mfops("import", built.at("base"), "--as", "copy")
    assert code == 0, err
    assert out.startswith("wrote copy/Modelfile.draft (a draft: the server does not say")
    text = (built.root / "copy" / "Modelfile.draft").read_text()
    assert "# DRAFT: FROM names the weights blob" in text
    assert "\nFROM /" in text and "/blobs/sha256-" in text


# --------------------------------------------------------------------------- server-side facts


def test_show_template_is_the_stored_go_template_not_the_ggufs_jinja(real: RealRepo):
    """Item 2: with a chat template in the GGUF, v0.30+ shows the Jinja as `template`;
    verification and import use the stored Go template."""
    jinja = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    data = with_metadata(tiny_gguf(), {"tokenizer.chat_template": jinja})
    jt, kid = real.name("jt"), real.name("kid")
    real.write(
        {
            f"{jt}/Modelfile": "# jt\nFROM ./jt.gguf\nSYSTEM s\n",
            f"{jt}/jt.gguf": data,
            f"{kid}/Modelfile": f"# kid\nFROM {jt}\nSYSTEM kid\n",
        }
    )
    real.build_new("--all")
    shown = real.show(real.at("kid"))
    if version_of(real.host) >= (0, 30, 0):
        assert shown["template"] == jinja  # what the server shows ...
    have = real.server.show(real.at("kid"))
    assert have is not None and have.template == "{{ .Prompt }}"  # ... and what it stored
    text = real.ok("import", real.at("kid"), "--as", "copy", "--stdout")
    assert "{%" not in text
    status = real.json("status", "--tag", real.tag)
    assert {m["status"] for m in status["models"]} == {"up to date"}


def test_server_fills_renderer_parser_and_stop_for_gemma4_weights(real: RealRepo):
    """Item 7: not a mismatch; the server's own additions are reported as such."""
    data = with_metadata(tiny_gguf(), {"general.architecture": "gemma4"})
    g = real.name("g")
    real.write({f"{g}/Modelfile": "# g\nFROM ./g.gguf\nSYSTEM s\n", f"{g}/g.gguf": data})
    real.build_new("--all")
    have = real.server.show(real.at("g"))
    assert have is not None
    assert (have.renderer, have.parser, have.parameters.get("stop")) == (
        "gemma4",
        "gemma4",
        ["<turn|>"],
    )
    status = real.json("status", "--tag", real.tag)
    assert by_model(status)[g]["status"] == "up to date"


def test_draft_is_refused_before_create_on_a_server_that_predates_it(real: RealRepo):
    """Item 9: v0.24 would drop `draft_files` and answer success; v0.30+ stores a DRAFT."""
    d = real.name("d")
    real.write(
        {
            f"{d}/Modelfile": "# d\nFROM ./tiny.gguf\nDRAFT ./tiny.gguf\n",
            f"{d}/tiny.gguf": tiny_gguf(),
        }
    )
    if version_of(real.host) < (0, 30, 0):
        code, out, err = real.mfops("build", "--all", "--tag", real.tag)
        assert code == 1
        assert "DRAFT needs Ollama 0.30.0 or newer" in out + err
        assert f"{d}/Modelfile:3" in out + err
        status, _ = raw(real.host, "POST", "/api/show", {"model": real.at("d")})
        assert status == 404
    else:
        real.build_new("--all")
        have = real.server.show(real.at("d"))
        assert have is not None and len(have.drafts) == 1


def test_from_spelled_with_capitals_is_not_the_lower_case_model(real: RealRepo):
    """Item 8: Ollama looks FROM up by its exact spelling; mfops does not fold case."""
    base = os.environ.get("MFOPS_TEST_OLLAMA_BASE", "llama3")
    if raw(real.host, "POST", "/api/show", {"model": base})[0] != 200:
        pytest.skip(f"{base} is not on the server")
    upper = base[0].upper() + base[1:]
    real.write({"cap/Modelfile": f"# cap\nFROM {upper}\nSYSTEM s\n"})
    code, out, err = real.mfops("lint")
    assert "MF207" in out
    code, out, err = real.mfops("build", "--all", "--tag", real.tag)
    assert code != 0
    assert "Ollama looks FROM up by its exact spelling" in out + err


def test_lock_records_the_servers_digest_and_build_uses_it(real: RealRepo):
    base = os.environ.get("MFOPS_TEST_OLLAMA_BASE", "llama3")
    if raw(real.host, "POST", "/api/show", {"model": base})[0] != 200:
        pytest.skip(f"{base} is not on the server")
    locked = real.name("locked")  # a content tag of an earlier run's `locked` would be copied
    real.write({f"{locked}/Modelfile": f"# locked\nFROM {base}\nSYSTEM Locked.\n"})
    real.ok("lock")
    _, tags = raw(real.host, "GET", "/api/tags")
    wanted = base if ":" in base else f"{base}:latest"
    digest = next(m["digest"] for m in tags["models"] if m["name"] == wanted)
    assert f"sha256:{digest}" in (real.root / "mfops.lock").read_text()
    real.repo.commit("lock")
    report = real.build("--all")
    assert report["ok"] and by_model(report)[locked]["action"] == "created"


def test_promote_and_rollback_move_aliases_by_server_copies(built: RealRepo):
    first = built.tag
    r1, r2, live = f"{first}-r1", f"{first}-r2", f"{first}-live"
    built.ok("promote", "--all", "--from", first, "--to", r1, "--alias", live, "--allow-untested")
    v1 = {m["name"]: m["digest"] for m in raw(built.host, "GET", "/api/tags")[1]["models"]}
    leaf = built.name("leaf")
    assert v1[f"{leaf}:{live}"] == v1[f"{leaf}:{r1}"] == v1[f"{leaf}:{first}"]
    built.write(
        {f"{leaf}/Modelfile": f"# leaf\nFROM {built.name('mid')}\nSYSTEM Leaf two\n"}, "leaf two"
    )
    second = f"{first}-b"
    report = built.json("build", "--all", "--tag", second)
    assert report["ok"]
    built.ok("promote", "--all", "--from", second, "--to", r2, "--alias", live, "--allow-untested")
    assert built.show(f"{leaf}:{live}")["system"] == "Leaf two"
    built.ok("rollback", leaf, "--to", r1, "--alias", live)
    tags = {m["name"]: m["digest"] for m in raw(built.host, "GET", "/api/tags")[1]["models"]}
    assert tags[f"{leaf}:{live}"] == v1[f"{leaf}:{r1}"]
    assert built.show(f"{leaf}:{live}")["system"] == "Leaf system"


# --------------------------------------------------------------------------- inference


def test_mfops_test_with_real_chat_passes_and_reports_its_token_cap(real: RealRepo):
    """Items 11 and 12 on real inference: the suite's num_predict wins over the default cap
    (which the report states); latency comes from the server's timings, so a generous
    max-latency-ms holds even on a loaded machine."""
    needs_inference()
    chat = real.name("chat")
    real.write(
        {
            f"{chat}/Modelfile": "# chat\nFROM ./tiny.gguf\nPARAMETER num_ctx 256\n",
            f"{chat}/tiny.gguf": tiny_gguf(),
            "tests/chat.test.yaml": (
                f"model: {chat}\noptions: {{num_predict: 8}}\ncases:\n  - name: answers\n"
                "    prompt: hello\n    assert:\n      - {type: min-length, value: 1}\n"
                "      - {type: max-latency-ms, value: 600000}\n"
            ),
        }
    )
    real.build_new("--all")
    code, out, err = real.mfops("test", "--tag", real.tag)
    assert code == 0, out + err
    assert (
        "replies capped at num_predict 512 unless a suite or the model sets it"
        in out.splitlines()[0]
    )
    report = real.json("test", "--tag", real.tag, "--no-cache")
    assert '"num_predict": 8' in json.dumps(report)


def test_chat_latency_is_the_servers_eval_time(real: RealRepo):
    needs_inference()
    tiny_gguf()
    server = Server(resolve_host(real.host), ServerOptions(timeout=120))
    with server:
        text, latency = server.chat(
            "llama3",
            [{"role": "user", "content": "hello"}],
            {"num_predict": 8, "seed": 42, "temperature": 0},
        )
    _, answer = raw(
        real.host,
        "POST",
        "/api/chat",
        {
            "model": "llama3",
            "messages": [{"role": "user", "content": "hello"}],
            "stream": False,
            "options": {"num_predict": 8, "seed": 42, "temperature": 0},
        },
    )
    assert text == answer["message"]["content"]  # deterministic at temperature 0
    assert latency > 0 and answer["eval_duration"] > 0


# --------------------------------------------------------------------------- the client


def test_version_is_read_and_credentials_in_the_host_travel_as_basic_auth():
    """Item 1: `user:pw@` in the host is sent as an Authorization header (the server
    ignores it, so the call works; the header is checked with an httpx event hook)."""
    host = real_host()
    scheme, _, rest = host.partition("://")
    server = Server(resolve_host(f"{scheme}://ci%20user:p%40ss@{rest}"))
    seen: list[str] = []
    with server:
        server.client._client.event_hooks["request"].append(
            lambda request: seen.append(request.headers.get("authorization", ""))
        )
        assert server.version()
    token = base64.b64encode(b"ci user:p@ss").decode()
    assert seen == [f"Basic {token}"]
    assert "p@ss" not in str(server.host) and "p%40ss" not in str(server.host)


def test_mfops_test_on_a_model_built_from_the_servers_base(real: RealRepo):
    """Real chat without the tiny GGUF (the GitHub job: an official Ollama and a small
    registry model, MFOPS_TEST_OLLAMA_BASE)."""
    needs_inference()
    base = os.environ.get("MFOPS_TEST_OLLAMA_BASE", "llama3")
    if raw(real.host, "POST", "/api/show", {"model": base})[0] != 200:
        pytest.skip(f"{base} is not on the server")
    talk = real.name("talk")
    real.write(
        {
            f"{talk}/Modelfile": f"# talk\nFROM {base}\nSYSTEM Be brief.\n",
            "tests/talk.test.yaml": (
                f"model: {talk}\noptions: {{num_predict: 8}}\ncases:\n  - name: says something\n"
                "    prompt: hello\n    assert: [{type: min-length, value: 1}]\n"
            ),
        }
    )
    real.ok("lock")
    real.repo.commit("lock")
    real.build_new("--all")
    code, out, err = real.mfops("test", "--tag", real.tag)
    assert code == 0, out + err
    assert "1 case: 1 passed" in out
