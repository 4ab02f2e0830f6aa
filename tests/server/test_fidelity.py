"""Issue 13 on the double and offline: behaviours the real server showed (see
tests/server/test_real_server.py for the same on a real Ollama), each pinned without one."""

from __future__ import annotations

import base64

import pytest

from mfops.language.modelfile import parse
from mfops.lint.engine import LintContext, lint_source
from mfops.server.client import Host, Server, ServerOptions, server_latency_ms
from mfops.server.hosts import resolve_host
from mfops.server.roundtrip import same_value
from mfops.server.show import config_from_show
from mfops.testing.double import fake_gguf
from tests.buildkit import BASE, make_workspace
from tests.buildkit import ollama_double_fixture as ollama_double  # noqa: F401
from tests.ggufedit import with_metadata


def codes(text: str) -> dict[str, str]:
    return {f.code: f.message for f in lint_source(text, "Modelfile", LintContext())}


# --------------------------------------------------------------------------- item 1


def test_credentials_in_the_host_go_as_basic_auth_and_are_never_shown(ollama_double):  # noqa: F811
    url = ollama_double.url.replace("http://", "http://al%20ice:s3cr%40t@")
    host = resolve_host(url)
    assert "s3cr" not in host.display and "al" not in host.display.split("//")[1].split(":")[0]
    seen: list[str] = []
    with Server(host, ServerOptions(timeout=10)) as server:
        server.client._client.event_hooks["request"].append(
            lambda request: seen.append(request.headers.get("authorization", ""))
        )
        assert server.version() == "0.33.0-rc2"
        assert server.models() is not None
    token = base64.b64encode(b"al ice:s3cr@t").decode()
    assert seen == [f"Basic {token}"] * 2


def test_credentials_reach_the_server_from_ollama_host_and_stay_out_of_errors(
    monkeypatch,
    run_mfops,
    tmp_path,
):
    url = "http://bob:hunter2@127.0.0.1:9"
    (tmp_path / "mfops.yaml").write_text("{}\n")
    result = run_mfops("status", "--timeout", "2", env={"OLLAMA_HOST": url})
    assert result.returncode == 2
    assert "hunter2" not in result.stdout + result.stderr
    assert "http://127.0.0.1:9" in result.stderr


# --------------------------------------------------------------------------- items 2 and 3


def show_body(modelfile: str, **extra: object) -> dict[str, object]:
    return {"modelfile": modelfile, **extra}


def test_parser_line_inside_a_multi_line_system_is_not_the_parser():
    text = (
        "FROM /blobs/sha256-1\nTEMPLATE {{ .Prompt }}\n"
        'SYSTEM "Be nice.\nPARSER qwen3\nRENDERER qwen3"\nPARAMETER top_k 7\n'
    )
    cfg = config_from_show("m", show_body(text, system="Be nice.\nPARSER qwen3\nRENDERER qwen3"))
    assert (cfg.renderer, cfg.parser) == ("", "")
    cfg = config_from_show("m", show_body(text + "RENDERER r1\nPARSER p1\n"))
    assert (cfg.renderer, cfg.parser) == ("r1", "p1")


def test_template_is_the_stored_go_template_when_the_server_shows_jinja():
    jinja = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    text = "FROM /blobs/sha256-1\nTEMPLATE {{ .Prompt }}\nSYSTEM s\n"
    cfg = config_from_show("m", show_body(text, template=jinja))
    assert cfg.template == "{{ .Prompt }}" and cfg.shown_template == jinja


def test_the_double_shows_the_ggufs_jinja_like_v0_33(tmp_path, ollama_double):  # noqa: F811

    jinja = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    data = with_metadata(fake_gguf(name="jt"), {"tokenizer.chat_template": jinja})
    files = {
        "jt/Modelfile": "FROM ./jt.gguf\nSYSTEM s\n",
        "jt/jt.gguf": data,
        "go/Modelfile": "FROM jt\nTEMPLATE {{ .Prompt }}!\n",
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    assert ws.build_json("--all")["ok"]
    assert ollama_double.show(f"jt:{ws.tag()}")["template"] == jinja
    assert ollama_double.show(f"go:{ws.tag()}")["template"] == "{{ .Prompt }}!"
    code, out, _ = ws.mfops("import", f"jt:{ws.tag()}", "--as", "copy", "--stdout")
    assert code == 0 and "{%" not in out


# --------------------------------------------------------------------------- item 4


def test_ints_over_2_53_compare_as_the_float64_the_server_keeps():
    assert same_value(9007199254740993, 9007199254740992)
    assert not same_value(9007199254740995, 9007199254740992)
    assert not same_value(41, 42)


def test_lint_warns_about_ints_over_2_53():
    found = codes("# m\nFROM x:1\nPARAMETER seed 9007199254740993\nPARAMETER seed 7\n")
    assert found["MF107"] == (
        "seed 9007199254740993 is above 2^53: the server stores it as a float64, 9007199254740992"
    )
    assert "MF107" not in codes("# m\nFROM x:1\nPARAMETER seed 9007199254740992\n")


# --------------------------------------------------------------------------- item 8


def test_lint_warns_about_a_from_spelled_with_capitals():
    assert codes("# m\nFROM Llama3.2:1b\n")["MF207"].startswith(
        "FROM Llama3.2:1b has capitals: Ollama looks the base up by its exact spelling"
    )
    assert "MF207" not in codes("# m\nFROM llama3.2:1b\n")


def test_build_does_not_take_a_base_spelled_in_other_case(tmp_path, ollama_double):  # noqa: F811
    files = {"m/Modelfile": f"FROM {BASE.upper()}\nSYSTEM s\n"}
    ws = make_workspace(tmp_path, ollama_double, files, lock=False)
    ollama_double.client().pull(BASE)
    code, out, err = ws.mfops("build", "--all")
    assert code == 2, out + err
    assert (
        f"external base {BASE.upper()} (used by m) is not on {ollama_double.url}, which has "
        f"{BASE}: Ollama looks FROM up by its exact spelling" in err
    )
    assert ollama_double.calls.count("/api/create") == 0


# --------------------------------------------------------------------------- item 9


def test_lint_names_version_dependent_commands():
    found = codes("# m\nFROM x:1\nDRAFT ./d.gguf\nREQUIRES 0.14.0\n")
    assert found["MF306"].startswith("DRAFT needs Ollama 0.30.0 or newer") or found[
        "MF306"
    ].startswith("REQUIRES needs Ollama 0.14.0")


# --------------------------------------------------------------------------- item 10


def test_parameter_named_like_a_command_acts_as_that_command():
    mf = parse(
        "PARAMETER model parent\nPARAMETER system hello from parameter\n"
        "PARAMETER message wizard: abracadabra\nPARAMETER message nocolon\n"
        "PARAMETER temperature 0.5\nPARAMETER template {{ .Prompt }}?\n"
    )
    assert [i.value for i in mf.of("FROM")] == ["parent"]
    assert mf.last("SYSTEM").value == "hello from parameter"
    assert mf.last("TEMPLATE").value == "{{ .Prompt }}?"
    assert [(i.role, i.value) for i in mf.of("MESSAGE")] == [
        ("wizard", "abracadabra"),
        ("nocolon", ""),
    ]
    assert mf.parameters().values == {"temperature": 0.5}


@pytest.mark.parametrize("line", ["PARAMETER SYSTEM x", "PARAMETER from x", "PARAMETER Top_k 3"])
def test_case_and_from_keep_parameters_unknown(line: str):
    mf = parse(f"FROM base\n{line}\n")
    assert mf.parameters().error is not None
    assert mf.parameters().error.message.startswith("unknown parameter")


def test_build_sends_parameter_commands_as_fields(tmp_path, ollama_double):  # noqa: F811
    files = {
        "p/Modelfile": (
            f"PARAMETER model {BASE}\nPARAMETER system from a parameter\n"
            "PARAMETER message user: hi there\nPARAMETER top_k 3\n"
        )
    }
    ws = make_workspace(tmp_path, ollama_double, files)
    report = ws.build_json("--all")
    assert report["ok"], report
    (body,) = ollama_double.calls.bodies("/api/create")
    assert body["from"] == BASE and body["system"] == "from a parameter"
    assert body["messages"] == [{"role": "user", "content": "hi there"}]
    assert body["parameters"] == {"top_k": 3}
    code, out, _ = ws.mfops("show", "p", "--effective")
    assert code == 0 and "SYSTEM from a parameter" in out


# --------------------------------------------------------------------------- item 11


def test_latency_is_prompt_plus_eval_time_and_falls_back_to_total_minus_load():

    timed = {"prompt_eval_duration": 2_000_000, "eval_duration": 30_000_000}
    assert server_latency_ms({**timed, "total_duration": 9_000_000_000}, 1.0) == 32.0
    assert server_latency_ms({"total_duration": 50_000_000, "load_duration": 20_000_000}, 1) == 30
    assert server_latency_ms({}, 123.0) == 123.0


def test_double_reports_the_version_it_mimics(ollama_double):  # noqa: F811
    with Server(Host(ollama_double.url)) as server:
        assert server.version() == "0.33.0-rc2"
