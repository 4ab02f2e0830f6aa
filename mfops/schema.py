"""JSON Schemas for `mfops.yaml` and behaviour suites (`*.test.yaml`), for editors.

With a schema an editor (VS Code's YAML extension, any yaml-language-server client)
completes keys and flags a typo while it is typed. The schemas are built from the same
tables the validators use (the key tuples of config.py and spec.py, the assertion kinds,
Ollama's PARAMETER registry), so they cannot drift from what mfops accepts. They are a
convenience and deliberately looser than mfops: a file they accept can still be refused by
`mfops lint` (model names by Ollama's grammar, unknown repo models, file paths, ...), never
the other way round for the keys they describe.

The starter repository ships them as `schemas/*.schema.json`, and its YAML files point at
them with `# yaml-language-server: $schema=...` (tests/test_schema.py keeps those copies
equal to what this module builds).
"""

from __future__ import annotations

from typing import Any

from mfops.behave.assertions import KINDS
from mfops.behave.spec import CASE_KEYS, MAX_SAMPLES, ROLES, SUITE_KEYS
from mfops.language.params import REGISTRY
from mfops.repo.config import DEFAULT_KEYS, ENVIRONMENT_KEYS, MODEL_KEYS, TOP_KEYS

__all__ = ["SCHEMAS", "config_schema", "schema", "suite_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_STR = {"type": "string", "minLength": 1}
_STRS = {"type": "array", "items": _STR}


def _closed(properties: dict[str, Any], keys: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """An object with exactly the validator's keys (a key table change fails the test)."""
    assert set(properties) == set(keys), (sorted(properties), sorted(keys))
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


def config_schema() -> dict[str, Any]:
    model = _closed(
        {
            "modelfile": {**_STR, "description": "The Modelfile, relative to the repo root."},
            "description": {"type": "string"},
            "tests": {**_STRS, "description": "Suite files for this model."},
        },
        MODEL_KEYS,
        required=["modelfile"],
    )
    defaults = _closed(
        {
            "host": {**_STR, "description": "Ollama server when neither --host nor OLLAMA_HOST."},
            "candidate_tag": {
                **_STR,
                "description": "Tag of a build without --tag; {short} is HEAD's commit.",
            },
            "jobs": {"type": "integer", "minimum": 1},
            "embedding_model": {**_STR, "description": "For `similar` and `baseline` checks."},
            "judge_model": {**_STR, "description": "For `llm-judge` checks."},
            "registry": {
                **_STR,
                "description": "Where `lock --check` asks about short names (host[:port] or URL).",
            },
            "insecure_registries": {
                **_STRS,
                "description": "Registry hosts mfops and Ollama may reach over plain http.",
            },
            "hosts": {
                **_STRS,
                "uniqueItems": True,
                "description": "A pool of servers `test` and `gate` spread a run over.",
            },
        },
        DEFAULT_KEYS,
    )
    environment = _closed(
        {
            "hosts": {
                **_STRS,
                "minItems": 1,
                "uniqueItems": True,
                "description": "The Ollama servers of this environment (`mfops deploy --env`).",
            },
            "description": {"type": "string"},
        },
        ENVIRONMENT_KEYS,
        required=["hosts"],
    )
    return {
        "$schema": DRAFT,
        "title": "mfops.yaml",
        "description": "The models of an mfops repository and the defaults its commands use.",
        **_closed(
            {
                "models": {"type": "object", "additionalProperties": model},
                "defaults": defaults,
                "allow_paths": {
                    **_STRS,
                    "description": "Directories outside the repo that FROM/ADAPTER may name.",
                },
                "environments": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
                    "additionalProperties": environment,
                },
            },
            TOP_KEYS,
        ),
    }


def _options() -> dict[str, Any]:
    types = {
        "int": {"type": "integer"},
        "float": {"type": "number"},
        "bool": {"type": "boolean"},
        "list": {"type": "array", "items": {"type": "string"}},
    }
    return {
        "type": "object",
        "description": "Ollama options (the PARAMETER names).",
        "properties": {name: types[spec.type] for name, spec in sorted(REGISTRY.items())},
        "additionalProperties": False,
    }


def _assertion() -> dict[str, Any]:
    value: dict[str, Any] = {
        "value": {},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "model": _STR,
    }
    variants = []
    for name, kind in KINDS.items():
        props = {"type": {"const": name}, **{k: value[k] for k in kind.keys}}
        variants.append(
            {
                "type": "object",
                "description": kind.doc,
                "properties": props,
                "required": ["type"],
                "additionalProperties": False,
            }
        )
    return {"oneOf": variants}


def suite_schema() -> dict[str, Any]:
    options = _options()
    message = {
        "type": "object",
        "properties": {"role": {"enum": list(ROLES)}, "content": {"type": "string"}},
        "required": ["role", "content"],
        "additionalProperties": False,
    }
    case = _closed(
        {
            "name": _STR,
            "description": {"type": "string"},
            "prompt": {"type": "string"},
            "messages": {"type": "array", "items": message, "minItems": 1},
            "format": {"oneOf": [{"const": "json"}, {"type": "object"}]},
            "samples": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLES},
            "pass_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "options": options,
            "assert": {"type": "array", "items": _assertion(), "minItems": 1},
        },
        CASE_KEYS,
        required=["name", "assert"],
        oneOf=[{"required": ["prompt"]}, {"required": ["messages"]}],
    )
    return {
        "$schema": DRAFT,
        "title": "mfops behaviour suite (*.test.yaml)",
        "description": "Prompts sent to a built model and what its answers must satisfy.",
        **_closed(
            {
                "model": {**_STR, "description": "The repo model this suite tests."},
                "inherit": {"type": "boolean", "description": "Also run it on descendants."},
                "description": {"type": "string"},
                "options": options,
                "samples": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SAMPLES,
                    "description": "Samples of every case (a case may set its own).",
                },
                "pass_rate": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 1,
                    "description": "Share of a case's samples that must pass (a case may set "
                    "its own).",
                },
                "cases": {"type": "array", "items": case, "minItems": 1},
            },
            SUITE_KEYS,
            required=["cases"],
        ),
    }


SCHEMAS = {"config": config_schema, "suite": suite_schema}


def schema(name: str) -> dict[str, Any]:
    """The schema called `name` (`config` or `suite`)."""
    return SCHEMAS[name]()
