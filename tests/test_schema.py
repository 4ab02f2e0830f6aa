"""`mfops schema config|suite`: JSON Schemas that accept what mfops accepts, for editors.

The example repository's and the starter's mfops.yaml and suites must validate against
them; typos mfops refuses must be refused by them too; and the copies the starter ships
(templates/starter/schemas/) must be exactly what the command prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.cli_runner import invoke_mfops

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "templates" / "starter"


def printed(which: str) -> dict:
    code, out, err = invoke_mfops("schema", which)
    assert code in (0, None), err
    return json.loads(out)


def validator(which: str) -> jsonschema.protocols.Validator:
    schema = printed(which)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(which: str, data: object) -> list[str]:
    return [e.message for e in validator(which).iter_errors(data)]


@pytest.mark.parametrize("root", [ROOT / "examples", STARTER], ids=["examples", "starter"])
def test_the_shipped_files_validate(root: Path):
    config = yaml.safe_load((root / "mfops.yaml").read_text())
    assert errors("config", config) == []
    suites = sorted(root.rglob("*.test.yaml"))
    assert suites
    for path in suites:
        assert errors("suite", yaml.safe_load(path.read_text())) == [], path


def test_typos_are_refused():
    assert errors("config", {"defaults": {"jbos": 2}})
    assert errors("config", {"models": {"a": {"tests": ["x"]}}})  # modelfile is required
    assert errors("config", {"defaults": {"jobs": 0}})
    good_case = {"name": "c", "prompt": "p", "assert": [{"type": "contains", "value": "x"}]}
    assert errors("suite", {"model": "m", "cases": [good_case]}) == []
    bad = [
        {**good_case, "assert": [{"type": "contians", "value": "x"}]},  # unknown assertion
        {**good_case, "options": {"temprature": 0}},  # unknown Ollama option
        {**good_case, "messages": [{"role": "user", "content": "x"}]},  # prompt and messages
        {k: v for k, v in good_case.items() if k != "assert"},
        {**good_case, "samples": 0},
    ]
    for case in bad:
        assert errors("suite", {"model": "m", "cases": [case]}), case


def test_the_starter_ships_the_printed_schemas_and_points_at_them():
    assert json.loads((STARTER / "schemas" / "mfops.schema.json").read_text()) == printed("config")
    assert json.loads((STARTER / "schemas" / "suite.schema.json").read_text()) == printed("suite")
    first = (STARTER / "mfops.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=schemas/mfops.schema.json"
    for path in STARTER.rglob("*.test.yaml"):
        first = path.read_text().splitlines()[0]
        target = first.removeprefix("# yaml-language-server: $schema=")
        assert target != first, path
        assert (path.parent / target).resolve() == STARTER / "schemas" / "suite.schema.json"


def test_an_unknown_schema_is_a_usage_error():
    code, _, err = invoke_mfops("schema", "lock")
    assert code == 2
    assert err.startswith("mfops: ") and err.endswith("(see `mfops schema --help`)\n")
