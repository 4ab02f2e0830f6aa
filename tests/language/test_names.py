"""mfops.language.names: Ollama's model-name grammar (ollama-reference.md §5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfops.language.names import (
    ModelName,
    check_repo_model_name,
    is_reserved_tag,
    is_valid_name,
    parse_name,
)


@pytest.mark.parametrize(
    ("text", "parts", "display"),
    [
        ("llama3.2", ("registry.ollama.ai", "library", "llama3.2", "latest"), "llama3.2:latest"),
        ("me/bot:v1", ("registry.ollama.ai", "me", "bot", "v1"), "me/bot:v1"),
        (
            "localhost:5000/team/m",
            ("localhost:5000", "team", "m", "latest"),
            "localhost:5000/team/m:latest",
        ),
        ("llama3.2:3b", ("registry.ollama.ai", "library", "llama3.2", "3b"), "llama3.2:3b"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            ("hf.co", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M"),
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        ),
        # A non-default host keeps the namespace even when it is `library`.
        (
            "example.com/library/m",
            ("example.com", "library", "m", "latest"),
            "example.com/library/m:latest",
        ),
        # Defaults are compared case-insensitively, like Ollama's DisplayShortest.
        ("Registry.Ollama.AI/Library/m:x", ("Registry.Ollama.AI", "Library", "m", "x"), "m:x"),
        ("registry.ollama.ai/me/m", ("registry.ollama.ai", "me", "m", "latest"), "me/m:latest"),
        ("_x", ("registry.ollama.ai", "library", "_x", "latest"), "_x:latest"),
    ],
)
def test_parse_and_display(text, parts, display):
    name = parse_name(text)
    assert (name.host, name.namespace, name.model, name.tag) == parts
    assert name.display == display
    assert str(name) == display
    assert name.untagged == display.rsplit(":", 1)[0]


def test_has_tag_records_whether_the_text_spelled_one():
    assert parse_name("bot").has_tag is False
    assert parse_name("bot:latest").has_tag is True
    assert parse_name("localhost:5000/ns/bot").has_tag is False  # the ':' is the port
    assert parse_name("localhost:5000/ns/bot:v2").has_tag is True


def test_scheme_is_removed_from_the_host():
    name = parse_name("http://localhost:5000/team/m:v1")
    assert (name.scheme, name.host, name.display) == (
        "http",
        "localhost:5000",
        "localhost:5000/team/m:v1",
    )
    assert parse_name("team/m").scheme == "https"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("model:", "empty tag after ':'"),
        (":tag", "empty model before ':'"),
        ("/x", "empty namespace before '/'"),
        ("x/", "empty model after '/'"),
        ("a//b", "empty namespace"),
        ("my.ns/m", "namespace 'my.ns' may only contain letters, digits, '_' and '-'"),
        ("a/b/c/d", "too many '/'"),
        ("llama3.2@sha256:abc", "'@' is not allowed"),
        ("lläma", "model 'lläma' is not ASCII"),
        ("my model", "model 'my model' may only contain"),
        ("-x", "model '-x' must start with a letter, digit or '_'"),
        (".x", "model '.x' must start with"),
        ("m:-v1", "tag '-v1' must start with"),
        ("m:v 1", "tag 'v 1' may only contain"),
        ("m:a/b", "namespace 'm:a' may only contain"),  # ':' before the last '/': no tag
        ("FROM llama3.2 # base", "may only contain"),
        ("http:///ns/m", "empty host"),
        ("h_st!/ns/m", "host 'h_st!' may only contain"),
    ],
)
def test_invalid_names(text, reason):
    with pytest.raises(ValueError, match="invalid model name") as err:
        parse_name(text)
    assert reason in str(err.value)
    assert not is_valid_name(text)


@pytest.mark.parametrize(
    ("template", "limit"),
    [("{}", 80), ("ns/{}", 80), ("{}/m", 80), ("m:{}", 80), ("{}/ns/m", 350)],
)
def test_part_lengths(template, limit):
    assert parse_name(template.format("a" * limit))
    with pytest.raises(ValueError, match=f"at most {limit}"):
        parse_name(template.format("a" * (limit + 1)))


def test_host_allows_ports_and_dots_namespace_does_not():
    assert parse_name("my-host.example:8080/ns_1/m").host == "my-host.example:8080"
    assert not is_valid_name("host/ns.x/m")


def test_with_tag():
    name = parse_name("me/bot")
    assert name.with_tag("v2") == ModelName("registry.ollama.ai", "me", "bot", "v2", True)
    with pytest.raises(ValueError, match="tag"):
        name.with_tag("bad tag")


@pytest.mark.parametrize(
    ("tag", "reserved"),
    [
        ("cloud", True),
        ("local", True),
        ("CLOUD", True),
        ("7b-cloud", True),
        ("v1", False),
        ("cloudy", False),
        ("localhost", False),
        ("latest", False),
    ],
)
def test_reserved_tags(tag, reserved):
    assert is_reserved_tag(tag) is reserved


@pytest.mark.parametrize("name", ["bot", "engine-bot", "team/bot", "a.b", "_x", "T/B"])
def test_repo_model_names(name):
    check_repo_model_name(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bot:v1", "no tag allowed"),
        ("bot:latest", "no tag allowed"),
        ("host/team/bot", "without a host"),
        ("http://host/team/bot", "without a host"),
        ("my bot", "may only contain"),
        ("", "empty"),
    ],
)
def test_invalid_repo_model_names(name, reason):
    with pytest.raises(ValueError, match="invalid") as err:
        check_repo_model_name(name)
    assert reason in str(err.value)


_FIRST = st.sampled_from("abcxyzABCXYZ0189_")
_REST = "abcxyzABCXYZ0189_-"


def _part(extra: str, size: int) -> st.SearchStrategy[str]:
    return st.builds(lambda a, b: a + b, _FIRST, st.text(_REST + extra, max_size=size - 1))


@given(
    host=st.one_of(st.none(), _part(".:", 40)),
    namespace=st.one_of(st.none(), _part("", 20)),
    model=_part(".", 20),
    tag=st.one_of(st.none(), _part(".", 20)),
)
def test_valid_names_round_trip_through_display(host, namespace, model, tag):
    text = model
    if namespace is not None or host is not None:
        text = f"{namespace or 'ns'}/{text}"
    if host is not None:
        text = f"{host}/{text}"
    if tag is not None:
        text = f"{text}:{tag}"
    name = parse_name(text)
    assert name.model == model
    again = parse_name(name.display)
    assert (again.host.lower(), again.namespace.lower(), again.model, again.tag) == (
        name.host.lower(),
        name.namespace.lower(),
        name.model,
        name.tag,
    )


@given(st.text(max_size=40))
def test_parse_name_never_raises_anything_but_value_error(text):
    try:
        name = parse_name(text)
    except ValueError:
        return
    assert text.isascii() and "@" not in text and " " not in text
    assert name.model and name.tag
