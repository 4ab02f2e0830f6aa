"""The assertion registry: each kind validates its own arguments when a suite is loaded and
grades one model output when a case runs.

Validation at load time is the point: a bad regex, a malformed JSON schema or a `similar`
without an embedding model is a `file:line` error before any model is called, not a failure
half-way through a long run. The names follow promptfoo's, so a promptfoo user reads a
suite without a manual.

Grading never raises for a wrong output: it returns an `AssertionResult` whose message says
what was expected and what was found (the report shows the output itself). Server problems
while grading (an embedding or judge call failing) do raise `ServerError`; the runner turns
them into an errored sample, which is not cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mfops.behave.checks import AssertionResult, Check, Grader, Models, Verdict, cosine, show
from mfops.behave.schemarefs import SchemaRefError, check_schema_refs
from mfops.behave.schemarefs import registry as schema_registry
from mfops.errors import MfopsError
from mfops.fileio.yamlfile import kind_of
from mfops.language.names import parse_name

if TYPE_CHECKING:
    from mfops.behave.located import At

__all__ = [
    "KINDS",
    "AssertionResult",
    "Check",
    "Grader",
    "Kind",
    "Models",
    "Verdict",
    "cosine",
    "grade",
    "parse_check",
    "show",
]

DEFAULT_SIMILARITY = 0.8


Parse = Callable[[dict[str, Any], "At", Models], Check]
Grade = Callable[[Check, str, float, Grader], AssertionResult]


@dataclass(frozen=True)
class Kind:
    name: str
    keys: tuple[str, ...]
    parse: Parse
    grade: Grade
    needs: str | None
    doc: str


# --------------------------------------------------------------------------- parsing


def _model(raw: dict[str, Any], at: At, default: str | None, what: str, setting: str) -> str:
    name = raw.get("model", default)
    if name is None:
        hint = f"give `model:` here or set defaults.{setting} in mfops.yaml"
        raise at.fail(f"{raw['type']} needs {what}", hint=hint)
    text = (at / "model").text(name) if "model" in raw else name
    try:
        parse_name(text)
    except ValueError as err:
        raise (at / "model").fail(f"invalid model name {text!r}: {err}") from None
    return text


def _threshold(raw: dict[str, Any], at: At, default: float | None) -> float | None:
    if "threshold" not in raw:
        return default
    return (at / "threshold").number(raw["threshold"], low=0.0, high=1.0)


def _needs_value(raw: dict[str, Any], at: At) -> Any:
    if "value" not in raw:
        raise at.fail(f"{raw['type']} needs a `value`")
    return raw["value"]


def _p_text(raw: dict[str, Any], at: At, models: Models) -> Check:
    value = (at / "value").text(_needs_value(raw, at), empty=raw["type"] == "equals")
    return Check(raw["type"], value, line=at.line)


def _p_texts(raw: dict[str, Any], at: At, models: Models) -> Check:
    value = _needs_value(raw, at)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise (at / "value").fail("expected a non-empty list of strings")
    items = tuple((at / "value" / i).text(v) for i, v in enumerate(value))
    return Check(raw["type"], list(items), line=at.line)


def _p_regex(raw: dict[str, Any], at: At, models: Models) -> Check:
    pattern = (at / "value").text(_needs_value(raw, at))
    try:
        re.compile(pattern)
    except re.error as err:
        raise (at / "value").fail(f"invalid regular expression {pattern!r}: {err}") from None
    import regex

    try:  # the engine that runs it (see REGEX_TIMEOUT) must accept it too
        regex.compile(pattern, flags=regex.V0)
    except regex.error as err:
        raise (at / "value").fail(f"invalid regular expression {pattern!r}: {err}") from None
    return Check(raw["type"], pattern, line=at.line)


def _p_none(raw: dict[str, Any], at: At, models: Models) -> Check:
    return Check(raw["type"], line=at.line)


def _p_schema(raw: dict[str, Any], at: At, models: Models) -> Check:
    schema = _needs_value(raw, at)
    if not isinstance(schema, (dict, bool)):
        raise (at / "value").fail("expected a JSON schema (a mapping)")
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        check_schema_refs(schema)
    except SchemaRefError as err:
        raise (at / "value").fail(f"invalid JSON schema: {err}") from None
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as err:
        where = "/".join(str(p) for p in err.path)
        raise (at / "value").fail(
            f"invalid JSON schema{f' at {where}' if where else ''}: {err.message}"
        ) from None
    return Check(raw["type"], schema, line=at.line)


def _p_length(raw: dict[str, Any], at: At, models: Models) -> Check:
    return Check(raw["type"], (at / "value").integer(_needs_value(raw, at), low=0), line=at.line)


def _p_latency(raw: dict[str, Any], at: At, models: Models) -> Check:
    value = (at / "value").number(_needs_value(raw, at), low=0.0, low_open=True)
    return Check(raw["type"], value, line=at.line)


def _p_similar(raw: dict[str, Any], at: At, models: Models) -> Check:
    value = (at / "value").text(_needs_value(raw, at))
    model = _model(raw, at, models.embedding, "an embedding model", "embedding_model")
    return Check(raw["type"], value, _threshold(raw, at, DEFAULT_SIMILARITY), model, at.line)


def _p_judge(raw: dict[str, Any], at: At, models: Models) -> Check:
    rubric = (at / "value").text(_needs_value(raw, at))
    model = _model(raw, at, models.judge, "a judge model", "judge_model")
    return Check(raw["type"], rubric, _threshold(raw, at, None), model, at.line)


def _p_baseline(raw: dict[str, Any], at: At, models: Models) -> Check:
    model = _model(raw, at, models.embedding, "an embedding model", "embedding_model")
    return Check(raw["type"], None, _threshold(raw, at, DEFAULT_SIMILARITY), model, at.line)


# --------------------------------------------------------------------------- grading


def _result(check: Check, passed: bool, ok: str, bad: str, **kw: Any) -> AssertionResult:
    return AssertionResult(check.type, passed, ok if passed else bad, **kw)


def _g_equals(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        out == c.value,
        "output equals the expected text",
        f"expected output to equal {show(c.value)}",
    )


def _g_contains(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        c.value in out,
        f"contains {show(c.value)}",
        f"expected output to contain {show(c.value)}",
    )


def _g_icontains(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        c.value.casefold() in out.casefold(),
        f"contains {show(c.value)}",
        f"expected output to contain {show(c.value)} (any case)",
    )


def _g_not_contains(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    at = out.find(c.value)
    return _result(
        c,
        at < 0,
        f"does not contain {show(c.value)}",
        f"expected output not to contain {show(c.value)}, found at character {at}",
    )


def _g_contains_any(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    found = [v for v in c.value if v in out]
    return _result(
        c,
        bool(found),
        f"contains {show(found[0]) if found else ''}",
        f"expected output to contain any of {c.value!r}",
    )


def _g_contains_all(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    missing = [v for v in c.value if v not in out]
    return _result(
        c,
        not missing,
        f"contains all of {c.value!r}",
        f"expected output to contain all of {c.value!r}; missing {missing!r}",
    )


def _g_starts_with(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        out.startswith(c.value),
        f"starts with {show(c.value)}",
        f"expected output to start with {show(c.value)}",
    )


#: Seconds one regex search may take. Suites are untrusted and a backtracking pattern such
#: as `(a|aa)+$` takes exponential time; Python's `re` cannot be interrupted from another
#: thread, so regex assertions use the `regex` engine (in its re-compatible V0 mode), whose
#: `timeout` really stops the match. Exceeding it is an error of the case, not a hang.
REGEX_TIMEOUT = 2.0


def _search(c: Check, out: str) -> Any:
    import regex

    try:
        return regex.search(c.value, out, flags=regex.V0, timeout=REGEX_TIMEOUT)
    except TimeoutError:
        raise MfopsError(
            f"{c.type} assertion (line {c.line}): /{c.value}/ took longer than "
            f"{REGEX_TIMEOUT:g} s on this output and was stopped",
            hint="simplify the pattern: nested quantifiers like (a+)+ backtrack without end",
        ) from None


def _g_regex(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    m = _search(c, out)
    return _result(
        c,
        m is not None,
        f"matches /{c.value}/ ({show(m.group(0) if m else '')})",
        f"expected output to match /{c.value}/",
    )


def _g_not_regex(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    m = _search(c, out)
    return _result(
        c,
        m is None,
        f"does not match /{c.value}/",
        f"expected output not to match /{c.value}/; matched {show(m.group(0) if m else '')}",
    )


def _parse_json(out: str) -> tuple[Any, str | None]:
    try:
        return json.loads(out), None
    except json.JSONDecodeError as err:
        return None, f"{err.msg} at line {err.lineno} column {err.colno}"


def _g_is_json(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    _, err = _parse_json(out)
    return _result(c, err is None, "is JSON", f"expected output to be JSON: {err}")


def _g_schema(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    data, err = _parse_json(out)
    if err is not None:
        return _result(c, False, "", f"expected JSON matching the schema; not JSON: {err}")
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    try:
        validator = validator_for(c.value)(c.value, registry=schema_registry())
        problem = best_match(validator.iter_errors(data))
    except (RecursionError, Exception) as exc:  # unresolvable: load-time checks make it rare
        return _result(c, False, "", f"the JSON schema cannot be applied: {type(exc).__name__}")
    if problem is None:
        return _result(c, True, "matches the JSON schema", "")
    where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
    return _result(
        c, False, "", f"expected JSON matching the schema; at {where}: {problem.message}"
    )


def _g_min_length(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        len(out) >= c.value,
        f"{len(out)} characters >= {c.value}",
        f"expected at least {c.value} characters, got {len(out)}",
    )


def _g_max_length(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        len(out) <= c.value,
        f"{len(out)} characters <= {c.value}",
        f"expected at most {c.value} characters, got {len(out)}",
    )


def _g_latency(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    return _result(
        c,
        ms <= c.value,
        f"answered in {ms:.0f} ms <= {c.value:g} ms",
        f"expected an answer within {c.value:g} ms, took {ms:.0f} ms",
    )


def _g_similar(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    score = g.similarity(c.model or "", out, c.value)
    return _result(
        c,
        score >= (c.threshold or 0.0),
        f"similarity {score:.3f} >= {c.threshold:g} to {show(c.value, 60)}",
        f"expected similarity >= {c.threshold:g} to {show(c.value)}, got {score:.3f} ({c.model})",
        score=round(score, 4),
    )


def _g_judge(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    v = g.judge(c.model or "", c.value, out)
    if c.threshold is not None and v.passed and v.score < c.threshold:
        bad = (
            f"expected judge {c.model} to score >= {c.threshold:g} on {show(c.value)}, "
            f"got {v.score:.2f}: {v.reason}"
        )
        return AssertionResult(c.type, False, bad, round(v.score, 4), v.note)
    return _result(
        c,
        v.passed,
        f"judge {c.model}: pass, score {v.score:.2f}: {v.reason}",
        f"expected judge {c.model} to pass it on {show(c.value)}; it said: "
        f"{v.reason} (score {v.score:.2f})",
        score=round(v.score, 4),
        note=v.note,
    )


def _g_baseline(c: Check, out: str, ms: float, g: Grader) -> AssertionResult:
    path = g.baseline_path()
    if g.update_baseline:
        return AssertionResult(c.type, True, f"baseline recorded in {path}")
    base = g.baseline()
    if base is None:
        return AssertionResult(
            c.type,
            False,
            f"no baseline recorded at {path} (record one with `mfops test --update-baseline`)",
        )
    note = None
    if base.server_version != g.server_version:
        note = (
            f"baseline recorded on Ollama {base.server_version or '(unknown)'}, this run "
            f"on {g.server_version}"
        )
    score = g.similarity(c.model or "", out, base.output)
    return _result(
        c,
        score >= (c.threshold or 0.0),
        f"similarity {score:.3f} >= {c.threshold:g} to the baseline",
        f"expected similarity >= {c.threshold:g} to the baseline "
        f"{show(base.output)} ({path}), got {score:.3f}",
        score=round(score, 4),
        note=note,
    )


_S = ("value",)
_M = ("value", "threshold", "model")

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("equals", _S, _p_text, _g_equals, None, "output is exactly `value`"),
        Kind("contains", _S, _p_text, _g_contains, None, "output contains `value`"),
        Kind("icontains", _S, _p_text, _g_icontains, None, "output contains `value`, any case"),
        Kind("not-contains", _S, _p_text, _g_not_contains, None, "output lacks `value`"),
        Kind("contains-any", _S, _p_texts, _g_contains_any, None, "output contains one of a list"),
        Kind("contains-all", _S, _p_texts, _g_contains_all, None, "output contains every item"),
        Kind("starts-with", _S, _p_text, _g_starts_with, None, "output begins with `value`"),
        Kind("regex", _S, _p_regex, _g_regex, None, "Python regex `value` is found in output"),
        Kind("not-regex", _S, _p_regex, _g_not_regex, None, "regex `value` is not found"),
        Kind("is-json", (), _p_none, _g_is_json, None, "output parses as JSON"),
        Kind("json-schema", _S, _p_schema, _g_schema, None, "output is JSON valid against `value`"),
        Kind("min-length", _S, _p_length, _g_min_length, None, "at least `value` characters"),
        Kind("max-length", _S, _p_length, _g_max_length, None, "at most `value` characters"),
        Kind("max-latency-ms", _S, _p_latency, _g_latency, None, "answered within `value` ms"),
        Kind(
            "similar",
            _M,
            _p_similar,
            _g_similar,
            "embed",
            "embedding cosine to `value` >= `threshold` (0.8)",
        ),
        Kind(
            "llm-judge",
            _M,
            _p_judge,
            _g_judge,
            "judge",
            "judge model passes the output on rubric `value` (score >= `threshold`)",
        ),
        Kind(
            "baseline",
            ("threshold", "model"),
            _p_baseline,
            _g_baseline,
            "embed",
            "embedding cosine to the recorded baseline >= `threshold` (0.8)",
        ),
    )
}


def parse_check(raw: object, at: At, models: Models) -> Check:
    """Validate one `assert:` item (a ConfigError at its line when it is wrong)."""
    import difflib

    if isinstance(raw, dict) and "type" in raw:
        name = raw["type"]
        kind = KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            close = difflib.get_close_matches(str(name), list(KINDS), n=1)
            raise (at / "type").fail(
                f"unknown assertion {name!r} (known: {', '.join(KINDS)})",
                f"did you mean {close[0]!r}?" if close else None,
            )
        at.mapping(raw, ("type", *kind.keys))
        return kind.parse(raw, at, models)
    if isinstance(raw, dict):
        raise at.fail("an assertion needs a `type`")
    raise at.fail(f"expected an assertion mapping (type: ..., value: ...), got {kind_of(raw)}")


def grade(check: Check, output: str, latency_ms: float, grader: Grader) -> AssertionResult:
    return KINDS[check.type].grade(check, output, latency_ms, grader)
