"""The JSON form of `mfops diff`, and the JSON Schema that promises its shape.

Tools (CI bots, dashboards) read this output, so its shape is a contract: `SCHEMA` documents
it, the tests validate real output against it, and `SCHEMA_VERSION` is bumped whenever a field
changes meaning or disappears (adding an optional field does not bump it).

Top level: `schema_version`, `mode` (`effective`|`declared`), `old`/`new` (`ref`, `label`),
`summary` (counts), `level` (the most significant change: `major`|`minor`|`patch`|null),
`models` (one object per model that differs), `moved` (files moved without any change) and
`suggestion` (null unless `--suggest-version`). Each model has a `status`
(`changed`|`added`|`removed`|`renamed`) and a list of `changes`, each with a `kind`; every
change has `old`, `new` and `origin` (`{old, new}`: the model that set the value on each side,
which differs from the model itself when the value is inherited).
"""

from __future__ import annotations

from typing import Any

from mfops.diff.changes import (
    BaseRef,
    Change,
    DiffResult,
    FileRef,
    FilesChange,
    FromChange,
    LicenseChange,
    MessagesChange,
    ModelDiff,
    ParameterChange,
    Suggestion,
    TextChange,
    WeightsChange,
)

SCHEMA_VERSION = 1


def _base(ref: BaseRef) -> dict[str, Any]:
    return {"kind": ref.kind, "target": ref.target, "content": ref.content}


def _file(ref: FileRef) -> dict[str, Any]:
    return {"path": ref.path, "digest": ref.digest, "origin": ref.origin}


def _origin(old: str | None, new: str | None) -> dict[str, str | None]:
    return {"old": old, "new": new}


def change_dict(change: Change, model: ModelDiff) -> dict[str, Any]:
    """One change as JSON; see `SCHEMA["$defs"]` for the shape of each kind."""
    out: dict[str, Any] = {"kind": change.kind}
    if isinstance(change, FromChange):
        out |= {
            "old": _base(change.old),
            "new": _base(change.new),
            "origin": _origin(model.old_name, model.name),
        }
    elif isinstance(change, WeightsChange):
        out |= {
            "old": _base(change.old),
            "new": _base(change.new),
            "origin": _origin(change.origin_old, change.origin_new),
        }
    elif isinstance(change, FilesChange):
        out |= {
            "old": [_file(f) for f in change.old],
            "new": [_file(f) for f in change.new],
            "origin": _origin(
                change.old[-1].origin if change.old else None,
                change.new[-1].origin if change.new else None,
            ),
        }
    elif isinstance(change, ParameterChange):
        out |= {
            "key": change.key,
            "op": change.op,
            "old": change.old,
            "new": change.new,
            "origin": _origin(change.origin_old, change.origin_new),
            "items": [
                {"op": i.op, "index": i.index, "old": i.old, "new": i.new} for i in change.items
            ],
        }
    elif isinstance(change, MessagesChange):
        out |= {
            "old": [{"role": m.role, "content": m.content} for m in change.old],
            "new": [{"role": m.role, "content": m.content} for m in change.new],
            "origin": _origin(change.origin_old, change.origin_new),
            "diff": change.diff,
        }
    elif isinstance(change, LicenseChange):
        out |= {
            "old": list(change.old),
            "new": list(change.new),
            "origin": _origin(change.origin_old, change.origin_new),
            "diff": change.diff,
        }
    else:
        assert isinstance(change, TextChange)
        out |= {
            "old": change.old,
            "new": change.new,
            "origin": _origin(change.origin_old, change.origin_new),
        }
        if change.diff is not None:
            out["diff"] = change.diff
    return out


def model_dict(model: ModelDiff) -> dict[str, Any]:
    return {
        "name": model.name,
        "status": model.status,
        "old_name": model.old_name,
        "old_file": model.old_file,
        "new_file": model.new_file,
        "old_digest": model.old_digest,
        "new_digest": model.new_digest,
        "from": _base(model.base),
        "level": model.level,
        "kinds": list(model.kinds),
        "rebuilt_because": list(model.rebuilt_because),
        "note": model.note,
        "changes": [change_dict(c, model) for c in model.changes],
    }


def to_dict(result: DiffResult, suggestion: Suggestion | None = None) -> dict[str, Any]:
    """The whole diff as a JSON-ready dict that validates against `SCHEMA`."""
    return {
        "schema_version": SCHEMA_VERSION,
        "mode": result.mode,
        "old": {"ref": result.old_ref, "label": result.old_label},
        "new": {"ref": result.new_ref, "label": result.new_label},
        "summary": {
            "changed": result.count("changed"),
            "added": result.count("added"),
            "removed": result.count("removed"),
            "renamed": result.count("renamed"),
            "unchanged": result.unchanged,
            "moved": len(result.moved),
        },
        "level": result.level,
        "models": [model_dict(m) for m in result.models],
        "moved": [
            {"name": m.name, "old_file": m.old_file, "new_file": m.new_file} for m in result.moved
        ],
        "suggestion": None
        if suggestion is None
        else {
            "level": suggestion.level,
            "previous": suggestion.previous,
            "next": suggestion.next,
            "reasons": list(suggestion.reasons),
        },
    }


# --------------------------------------------------------------------------- schema

_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_LEVEL = {"enum": ["major", "minor", "patch", None]}
_DIGEST = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
_ORIGIN = {
    "type": "object",
    "properties": {"old": _OPT_STR, "new": _OPT_STR},
    "required": ["old", "new"],
    "additionalProperties": False,
}
_VALUE = {"type": ["integer", "number", "boolean", "string", "array", "null"]}


def _obj(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **optional},
        "required": list(required),
        "additionalProperties": False,
    }


def _kind(kinds: list[str], old: Any, new: Any, **extra: Any) -> dict[str, Any]:
    return _obj({"kind": {"enum": kinds}, "old": old, "new": new, "origin": _ORIGIN, **extra})


_BASE = _obj(
    {
        "kind": {"enum": ["source", "pinned", "file", "external"]},
        "target": _STR,
        "content": _OPT_STR,
    }
)
_FILES = {"type": "array", "items": _obj({"path": _STR, "digest": _DIGEST, "origin": _STR})}
_MESSAGES = {
    "type": "array",
    "items": _obj({"role": {"enum": ["system", "user", "assistant"]}, "content": _STR}),
}
_ITEM = _obj(
    {
        "op": {"enum": ["added", "removed", "changed"]},
        "index": {"type": "integer", "minimum": 0},
        "old": _VALUE,
        "new": _VALUE,
    }
)

#: JSON Schema (draft 2020-12) of `mfops diff --format json`.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mfops diff",
    "type": "object",
    "required": [
        "schema_version",
        "mode",
        "old",
        "new",
        "summary",
        "level",
        "models",
        "moved",
        "suggestion",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "mode": {"enum": ["effective", "declared"]},
        "old": _obj({"ref": _OPT_STR, "label": _STR}),
        "new": _obj({"ref": _OPT_STR, "label": _STR}),
        "summary": _obj(
            {
                k: {"type": "integer", "minimum": 0}
                for k in ("changed", "added", "removed", "renamed", "unchanged", "moved")
            }
        ),
        "level": _LEVEL,
        "models": {"type": "array", "items": {"$ref": "#/$defs/model"}},
        "moved": {
            "type": "array",
            "items": _obj({"name": _STR, "old_file": _STR, "new_file": _STR}),
        },
        "suggestion": {
            "oneOf": [
                {"type": "null"},
                _obj(
                    {
                        "level": _LEVEL,
                        "previous": _OPT_STR,
                        "next": _OPT_STR,
                        "reasons": {"type": "array", "items": _STR},
                    }
                ),
            ]
        },
    },
    "$defs": {
        "model": _obj(
            {
                "name": _STR,
                "status": {"enum": ["changed", "added", "removed", "renamed"]},
                "old_name": _OPT_STR,
                "old_file": _OPT_STR,
                "new_file": _OPT_STR,
                "old_digest": {"oneOf": [_DIGEST, {"type": "null"}]},
                "new_digest": {"oneOf": [_DIGEST, {"type": "null"}]},
                "from": _BASE,
                "level": {"enum": ["major", "minor", "patch"]},
                "kinds": {"type": "array", "items": _STR},
                "rebuilt_because": {"type": "array", "items": _STR},
                "note": _OPT_STR,
                "changes": {"type": "array", "items": {"$ref": "#/$defs/change"}},
            }
        ),
        "change": {
            "oneOf": [
                _kind(["from", "weights"], _BASE, _BASE),
                _kind(["adapters", "draft"], _FILES, _FILES),
                _kind(["system", "template"], _OPT_STR, _OPT_STR, diff=_STR),
                _kind(["renderer", "parser", "requires"], _OPT_STR, _OPT_STR),
                _kind(
                    ["parameter"],
                    _VALUE,
                    _VALUE,
                    key=_STR,
                    op={"enum": ["added", "removed", "changed"]},
                    items={"type": "array", "items": _ITEM},
                ),
                _kind(["messages"], _MESSAGES, _MESSAGES, diff=_STR),
                _kind(
                    ["license"],
                    {"type": "array", "items": _STR},
                    {"type": "array", "items": _STR},
                    diff=_STR,
                ),
            ]
        },
    },
}
