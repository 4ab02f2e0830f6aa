"""Suite JSON schemas may reference only themselves (issue 18, item 3): a `$ref` to a file
or a URL, one that leads nowhere, or a loop is a `file:line` error at load time (so the
gate's lint step stops on it, exit 2), never a read, a fetch or a traceback."""

from __future__ import annotations

import http.server
import threading

import pytest

from mfops.behave.assertions import grade
from mfops.behave.checks import Check
from mfops.errors import ConfigError
from tests.behave.test_behave_spec import MODELS, ONE, load, suite


def schema_suite(schema: str) -> str:
    return suite(
        ONE.replace("{type: contains, value: hi}", f"{{type: json-schema, value: {schema}}}")
    )


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (
            '{$ref: "file:///etc/passwd"}',
            "$ref 'file:///etc/passwd' at (top level): suite schemas "
            "may only reference themselves ('#/...'); nothing is read or fetched",
        ),
        ('{$ref: "http://127.0.0.1:9/s.json"}', "suite schemas may only reference themselves"),
        ('{$ref: "other.json#/a"}', "suite schemas may only reference themselves"),
        ('{$ref: "#/nope"}', "$ref '#/nope' at (top level): nothing there in this schema"),
        ('{$ref: "#frag"}', "no $anchor 'frag' here"),
        ('{$ref: "#"}', "$ref loop at (top level)"),
        (
            "{$defs: {a: {$ref: '#/$defs/b'}, b: {$ref: '#/$defs/a'}}, $ref: '#/$defs/a'}",
            "$ref loop at /$defs/",
        ),
        ("{allOf: [{$ref: '#'}]}", "$ref loop"),
        ('{$id: "https://example.com/s", type: object}', "suite schemas may not set a base URI"),
    ],
)
def test_schema_references_outside_the_schema_are_load_errors(git_repo, schema, reason):
    with pytest.raises(ConfigError) as info:
        load(git_repo, {"t.test.yaml": schema_suite(schema)})
    text = str(info.value)
    assert text.startswith("t.test.yaml:6: cases[0].assert[0].value: invalid JSON schema: ")
    assert reason in text
    assert info.value.exit_code == 2


def test_local_references_and_recursive_schemas_still_load(git_repo):
    schemas = [
        "{$defs: {n: {type: integer}}, type: object, properties: {a: {$ref: '#/$defs/n'}}}",
        "{type: object, properties: {kids: {type: array, items: {$ref: '#'}}}}",
        "{$defs: {n: {$anchor: num, type: integer}}, $ref: '#num'}",
        "{const: {$ref: 'http://not-a-reference.example'}}",
        "{properties: {$ref: {type: string}}}",
    ]
    for i, schema in enumerate(schemas):
        suites, _ = load(git_repo, {f"t{i}.test.yaml": schema_suite(schema)})
        assert suites


def test_a_case_format_schema_is_held_to_the_same_rule(git_repo):
    text = suite(
        ONE.replace("    assert:", "    format: {$ref: 'file:///etc/passwd'}\n    assert:")
    )
    with pytest.raises(ConfigError) as info:
        load(git_repo, {"t.test.yaml": text})
    assert str(info.value).startswith("t.test.yaml:5: cases[0].format: invalid JSON schema: ")


class Counting(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        Counting.hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"type": "string"}')

    def log_message(self, *args: object) -> None:
        pass


def test_grading_never_reads_or_fetches_what_a_schema_names(tmp_path):
    """The second line: a schema that bypassed the load checks still reads nothing."""
    secret = tmp_path / "secret.json"
    secret.write_text('{"const": "TOP-SECRET"}')
    server = http.server.HTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for ref in (secret.as_uri(), f"http://127.0.0.1:{server.server_port}/s.json"):
            check = Check("json-schema", {"$ref": ref}, line=1)
            result = grade(check, '"hello"', 1.0, None)  # type: ignore[arg-type]
            assert not result.passed
            assert "TOP-SECRET" not in result.message
            assert "cannot be applied" in result.message
    finally:
        server.shutdown()
    assert Counting.hits == 0


def test_mfops_lint_finds_a_reference_out_of_the_schema(git_repo):
    from tests.conftest import invoke_mfops

    for path, text in MODELS.items():
        git_repo.write(path, f"# {path}\n{text}")
    git_repo.write("t.test.yaml", schema_suite('{$ref: "file:///etc/passwd"}'))
    git_repo.commit("a suite that reads a file")
    code, _, err = invoke_mfops("-C", str(git_repo.root), "lint")
    assert code == 2
    assert err.splitlines()[-1].startswith(
        "t.test.yaml:6: cases[0].assert[0].value: invalid JSON schema: $ref 'file:///etc/passwd'"
    )
    git_repo.write("t.test.yaml", schema_suite("{type: object}"))
    code, _, err = invoke_mfops("-C", str(git_repo.root), "lint")
    assert code == 0, err
