"""A guard on the two private `ollama.Client` methods mfops.server relies on.

mfops posts raw JSON through `Client._request` / `Client._request_raw` for the fields the
client's public methods lack (see mfops/server/client.py). They are private, so pyproject.toml caps
`ollama` below the next minor release; this file fails loudly, with what to do, the moment
an installed client changes their shape or behaviour. Nothing here needs a server: the
requests go to an httpx mock transport.
"""

from __future__ import annotations

import inspect
import json
import re
from importlib.metadata import version
from pathlib import Path

import httpx
import ollama
import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

WHAT_TO_DO = (
    "mfops.server calls the private ollama.Client._request/_request_raw; ollama "
    f"{version('ollama')} changed them. Adapt mfops/server/client.py to the new client, then move "
    "the upper bound on ollama in pyproject.toml"
)


def guard(condition: bool, detail: str) -> None:
    if not condition:
        pytest.fail(f"{WHAT_TO_DO}: {detail}", pytrace=False)


def client(handler) -> ollama.Client:
    return ollama.Client(host="http://ollama.invalid:11434",
                         transport=httpx.MockTransport(handler))  # fmt: skip


def test_ollama_is_bounded_below_the_next_minor_release():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    specs = re.findall(r'^\s*"(ollama\s*[<>=!~][^";]*)"', text, re.MULTILINE)
    assert len(specs) == 1, specs
    spec = SpecifierSet(specs[0][len("ollama") :])
    upper = [s for s in spec if s.operator == "<"]
    assert upper, f"{specs[0]}: mfops uses ollama's private API, so it needs an upper bound"
    floor = [s for s in spec if s.operator == ">="]
    assert floor, specs[0]
    low = Version(floor[0].version)
    assert Version(upper[0].version) <= Version(f"{low.major}.{low.minor + 1}"), (
        f"{specs[0]}: the bound must stay below the next minor release after the floor"
    )
    assert Version(version("ollama")) in spec, f"installed ollama {version('ollama')}"


def test_private_methods_keep_their_shape():
    for name in ("_request", "_request_raw"):
        guard(callable(getattr(ollama.Client, name, None)), f"Client.{name} is gone")
    params = inspect.signature(ollama.Client._request).parameters
    kinds = {p.kind for p in params.values()}
    shape = f"_request{inspect.signature(ollama.Client._request)}"
    guard(list(params)[:2] == ["self", "cls"], shape)
    guard("stream" in params and params["stream"].default is False, "_request lost stream=False")
    guard({inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD} <= kinds,
          "_request no longer passes method, path and keywords through to httpx")  # fmt: skip
    raw = inspect.signature(ollama.Client._request_raw).parameters
    guard({p.kind for p in raw.values()} >= {inspect.Parameter.VAR_POSITIONAL,
                                             inspect.Parameter.VAR_KEYWORD},
          f"_request_raw{inspect.signature(ollama.Client._request_raw)}")  # fmt: skip


def test_request_raw_returns_the_response_and_raises_response_error():
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.read()))
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "0.12.0"})
        if request.url.path == "/api/blobs/sha256:missing":
            return httpx.Response(404, text="not found")
        if request.url.path == "/api/tags":
            return httpx.Response(500, json={"error": "boom"})
        return httpx.Response(201)

    c = client(handler)
    answer = c._request_raw("GET", "/api/version")
    guard(answer.json() == {"version": "0.12.0"}, "_request_raw no longer returns the response")
    with pytest.raises(ollama.ResponseError) as err:
        c._request_raw("HEAD", "/api/blobs/sha256:missing")
    guard(err.value.status_code == 404, f"a 404 gave status_code {err.value.status_code}")
    with pytest.raises(ollama.ResponseError) as err:
        c._request_raw("GET", "/api/tags")
    guard(err.value.status_code == 500, f"a 500 gave status_code {err.value.status_code}")
    c._request_raw("POST", "/api/blobs/sha256:abc", content=b"weights")
    c._request_raw("POST", "/api/show", json={"model": "m"})
    guard(seen[-2] == ("POST", "/api/blobs/sha256:abc", b"weights"), "content= is not sent")
    guard(json.loads(seen[-1][2]) == {"model": "m"}, "json= is not sent")


def test_streamed_request_yields_typed_parts_and_raises_on_an_error_line():
    lines = [{"status": "parsing modelfile"}, {"status": "success"}]

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read())
        if body.get("model") == "bad":
            return httpx.Response(200, text='{"status": "x"}\n{"error": "no such base"}\n')
        return httpx.Response(200, text="".join(json.dumps(x) + "\n" for x in lines))

    c = client(handler)
    parts = list(c._request(ollama.ProgressResponse, "POST", "/api/create",
                            json={"model": "ok", "stream": True}, stream=True))  # fmt: skip
    guard([type(p) for p in parts] == [ollama.ProgressResponse] * 2, f"parts are {parts!r}")
    guard([p.status for p in parts] == ["parsing modelfile", "success"], f"{parts!r}")
    with pytest.raises(ollama.ResponseError):
        list(c._request(ollama.ProgressResponse, "POST", "/api/create",
                        json={"model": "bad", "stream": True}, stream=True))  # fmt: skip


def test_streamed_request_makes_each_part_with_cls_of_the_lines_fields():
    """mfops passes a function as `cls` (mfops.server.client._progress_part): each line's
    JSON object must reach it as keyword arguments, and what it returns is yielded."""
    lines = [{"status": "pulling", "completed": 1, "total": 2}, {"status": "success"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="".join(json.dumps(x) + "\n" for x in lines))

    made: list[dict[str, object]] = []

    def part(**fields: object) -> tuple[str, dict[str, object]]:
        made.append(fields)
        return ("made", fields)

    c = client(handler)
    parts = list(c._request(part, "POST", "/api/create", json={"model": "m"}, stream=True))
    guard(made == lines, f"cls(**line) is no longer how a part is made: {made!r}")
    guard(parts == [("made", x) for x in lines], f"the parts yielded are {parts!r}")
