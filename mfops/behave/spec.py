"""Suites: `*.test.yaml` files (or files listed under `models.<name>.tests`), validated.

A suite names the repo model it tests, default Ollama options and a list of cases; each case
is a prompt (or a conversation), how many samples to draw and what share must pass, and a
list of assertions. Everything is checked here, before any model is called: unknown keys
and assertions, bad regexes and schemas, options Ollama does not know or of the wrong type,
an unknown model, a case without a prompt. Every error is a ConfigError at `file:line`.

A loaded case carries its *digest*, a sha256 over everything that decides its result (the
conversation, format, effective options, samples, pass rate and assertions, not its name):
the result cache keys on it, so editing a case re-runs it and renaming one does not.

Option defaults are `{temperature: 0, seed: 42}`: reproducible unless a suite asks for
sampling. A suite's `options` are merged over them and a case's `options` over the suite's.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mfops.behave.assertions import Check, Models, parse_check
from mfops.behave.located import At
from mfops.behave.schemarefs import SchemaRefError, check_schema_refs
from mfops.errors import ConfigError
from mfops.fileio.yamlfile import kind_of, load_yaml
from mfops.language.params import REGISTRY
from mfops.repo.config import normalize_modelfile_path

if TYPE_CHECKING:
    from mfops.graph.inheritance import Graph
    from mfops.repo.repository import Snapshot

SUITE_SUFFIXES = (".test.yaml", ".test.yml")
DEFAULT_OPTIONS: dict[str, Any] = {"temperature": 0, "seed": 42}
MAX_SAMPLES = 1000
ROLES = ("system", "user", "assistant", "tool")

SUITE_KEYS = ("model", "inherit", "options", "samples", "pass_rate", "cases", "description")
CASE_KEYS = (
    "name",
    "prompt",
    "messages",
    "format",
    "samples",
    "pass_rate",
    "options",
    "assert",
    "description",
)


@dataclass(frozen=True)
class Case:
    """One validated case. `messages` is the conversation sent (a `prompt` becomes one user
    message); `options` are the effective options (defaults, suite, case)."""

    name: str
    slug: str
    messages: tuple[tuple[str, str], ...]
    options: dict[str, Any]
    assertions: tuple[Check, ...]
    samples: int = 1
    pass_rate: float = 1.0
    format: str | dict[str, Any] | None = None
    prompt: str | None = None
    line: int = 0
    digest: str = ""

    @property
    def required(self) -> int:
        """How many samples must pass: ceil(pass_rate x samples), at least 1."""
        need = self.pass_rate * self.samples
        return max(1, int(need) + (1 if need - int(need) > 1e-9 else 0))

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


@dataclass(frozen=True)
class Suite:
    """One validated suite file. `path` is relative to the mfops root; `display` is how
    messages name it (`ref:path` for a version from git)."""

    path: str
    display: str
    model: str
    cases: tuple[Case, ...]
    inherit: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    line: int = 0

    @property
    def name(self) -> str:
        """The file name without `.test.yaml`: names the suite in reports and baselines."""
        base = posixpath.basename(self.path)
        for suffix in (*SUITE_SUFFIXES, ".yaml", ".yml"):
            if base.endswith(suffix):
                return base[: -len(suffix)]
        return base

    @property
    def dir(self) -> str:
        parent = posixpath.dirname(self.path)
        return "" if parent == "." else parent


def slugify(text: str) -> str:
    """A file-name-safe form of a case name: lower case, runs of other characters to `-`."""
    slug = re.sub(r"[^0-9a-z]+", "-", text.casefold()).strip("-")
    return slug[:80] or "case"


def case_digest(case: Case) -> str:
    payload = {
        "v": 1,
        "messages": [list(m) for m in case.messages],
        "format": case.format,
        "options": case.options,
        "samples": case.samples,
        "pass_rate": case.pass_rate,
        "assert": [c.canonical() for c in case.assertions],
    }
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


# --------------------------------------------------------------------------- discovery


def is_suite_path(path: str) -> bool:
    return path.endswith(SUITE_SUFFIXES)


def find_suite_files(snapshot: Snapshot) -> list[str]:
    """Every `*.test.yaml` under the root (dot and tool directories skipped), sorted."""
    return sorted(p for p, _ in snapshot.source.walk() if is_suite_path(posixpath.basename(p)))


def _listed(snapshot: Snapshot) -> list[tuple[str, str, int]]:
    """(path, model, mfops.yaml line) of each file under `models.<name>.tests`."""
    config = snapshot.config
    out = []
    for name, entry in config.models.items():
        for i, raw in enumerate(entry.tests):
            line = config.lines.line("models", name, "tests", i)
            rel = normalize_modelfile_path(raw)
            if rel is None:
                raise ConfigError(
                    f"models.{name}.tests[{i}]: {raw!r} is outside the mfops root",
                    path=config.path,
                    line=line,
                )
            out.append((rel, name, line))
    return out


def load_suites(snapshot: Snapshot, graph: Graph) -> list[Suite]:
    """Every suite of the snapshot, validated against its graph; sorted by path, model."""
    defaults = snapshot.config.defaults
    models = Models(defaults.embedding_model, defaults.judge_model)
    wanted: dict[tuple[str, str | None], int | None] = {}
    listed_paths = set()
    line: int | None
    for path, name, line in _listed(snapshot):
        wanted[(path, name)] = line
        listed_paths.add(path)
    for path in find_suite_files(snapshot):
        if path not in listed_paths:
            wanted[(path, None)] = None
    suites = []
    for (path, listed_for), line in wanted.items():
        text = snapshot.read_text(path)
        if text is None:
            problem = snapshot.file_problem(path) or "cannot be read"
            if listed_for is None:  # found by its name: the file itself is the place
                raise ConfigError(f"cannot read suite: it {problem}", path=snapshot.display(path))
            config = snapshot.config
            raise ConfigError(
                f"models.{listed_for}.tests: {path!r} {problem}", path=config.path, line=line
            )
        suites.append(
            parse_suite(text, path, snapshot.display(path), graph, models, listed_for=listed_for)
        )
    suites.sort(key=lambda s: (s.path, s.model))
    return suites


# --------------------------------------------------------------------------- parsing


def parse_suite(
    text: str,
    path: str,
    display: str,
    graph: Graph,
    models: Models,
    *,
    listed_for: str | None = None,
) -> Suite:
    """Validate one suite file's text; `display` is how errors name the file."""
    data, lines = load_yaml(text, display)
    top = At(display, lines)
    if data is None:
        raise top.fail("empty suite: expected `model:` and `cases:`")
    spec = top.mapping(data, SUITE_KEYS)
    model = _suite_model(spec, top, graph, listed_for)
    inherit = spec.get("inherit", False)
    if not isinstance(inherit, bool):
        raise (top / "inherit").fail(f"expected true or false, got {kind_of(inherit)}")
    suite_options = _options(spec.get("options"), top / "options") if "options" in spec else {}
    options = {**DEFAULT_OPTIONS, **suite_options}
    defaults = _sampling(spec, top, {"samples": 1, "pass_rate": 1.0})
    raw_cases = spec.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise (top / "cases").fail(f"expected a non-empty list of cases, got {kind_of(raw_cases)}")
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_cases):
        case = _case(raw, top / "cases" / i, options, models, defaults)
        other = seen.setdefault(case.slug, case.line)
        if other != case.line:
            raise (top / "cases" / i / "name").fail(
                f"case name {case.name!r} repeats the case at line {other} (names must be "
                "unique in a suite, ignoring case and punctuation)"
            )
        cases.append(case)
    raw_description = spec.get("description")
    description = None
    if raw_description is not None:
        description = (top / "description").text(raw_description)
    return Suite(
        path,
        display,
        model,
        tuple(cases),
        inherit,
        suite_options,
        description,
        lines.line("model") if "model" in spec else 1,
    )


def _suite_model(spec: dict[str, Any], top: At, graph: Graph, listed_for: str | None) -> str:
    if "model" not in spec:
        if listed_for is not None:
            return listed_for
        raise top.fail("missing `model:` (the repo model this suite tests)")
    name = (top / "model").text(spec["model"])
    if name not in graph.nodes:
        import difflib

        close = difflib.get_close_matches(name, list(graph.nodes), n=3)
        raise (top / "model").fail(
            f"unknown model {name!r}: no such model in the repo",
            f"did you mean {', '.join(close)}?" if close else None,
        )
    if listed_for is not None and name != listed_for:
        raise (top / "model").fail(
            f"this suite tests {name!r} but mfops.yaml lists it under models.{listed_for}.tests"
        )
    return name


def _options(raw: object, at: At) -> dict[str, Any]:
    """Ollama options, checked against the PARAMETER registry (names and types)."""
    import difflib

    if not isinstance(raw, dict):
        raise at.fail(f"expected a mapping of Ollama options, got {kind_of(raw)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        spec = REGISTRY.get(key) if isinstance(key, str) else None
        where = at / key
        if spec is None:
            close = difflib.get_close_matches(str(key), list(REGISTRY), n=1)
            raise where.fail(
                "unknown Ollama option", f"did you mean {close[0]!r}?" if close else None
            )
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if spec.type == "int" and not (isinstance(value, int) and number):
            raise where.fail(f"expected an integer, got {kind_of(value)}")
        if spec.type == "float" and not number:
            raise where.fail(f"expected a number, got {kind_of(value)}")
        if number and not math.isfinite(value):  # JSON cannot carry it to the server
            raise where.fail(f"expected a finite number, got {value!r}")
        if spec.type == "int" and not -(2**63) <= value < 2**63:
            raise where.fail(f"expected a 64-bit integer, got {value!r}")
        if spec.type == "bool" and not isinstance(value, bool):
            raise where.fail(f"expected true or false, got {kind_of(value)}")
        if spec.type == "list":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise where.fail("expected a string or a list of strings")
        out[key] = value
    return out


def _conversation(spec: dict[str, Any], at: At) -> tuple[tuple[str, str], ...]:
    has_prompt, has_messages = "prompt" in spec, "messages" in spec
    if has_prompt == has_messages:
        raise at.fail("a case needs either `prompt:` or `messages:` (exactly one)")
    if has_prompt:
        return (("user", (at / "prompt").text(spec["prompt"])),)
    raw = spec["messages"]
    if not isinstance(raw, list) or not raw:
        raise (at / "messages").fail(f"expected a non-empty list, got {kind_of(raw)}")
    out = []
    for i, item in enumerate(raw):
        where = at / "messages" / i
        msg = where.mapping(item, ("role", "content"))
        if "role" not in msg or "content" not in msg:
            raise where.fail("a message needs `role` and `content`")
        role = (where / "role").text(msg["role"])
        if role.lower() not in ROLES:
            raise (where / "role").fail(f"unknown role {role!r} (expected {', '.join(ROLES)})")
        out.append((role.lower(), (where / "content").text(msg["content"], empty=True)))
    return tuple(out)


def _sampling(spec: dict[str, Any], at: At, defaults: dict[str, Any]) -> dict[str, Any]:
    """`samples` and `pass_rate` of a suite (over `defaults`) or of a case (over the suite's)."""
    samples = (at / "samples").integer(spec.get("samples", defaults["samples"]), low=1)
    if samples > MAX_SAMPLES:  # each sample is a model call, planned up front
        raise (at / "samples").fail(f"expected at most {MAX_SAMPLES} samples, got {samples}")
    pass_rate = (at / "pass_rate").number(
        spec.get("pass_rate", defaults["pass_rate"]), low=0.0, high=1.0, low_open=True
    )
    return {"samples": samples, "pass_rate": pass_rate}


def with_samples(case: Case, samples: int) -> Case:
    """`case` drawing `samples` samples (`--samples N` overrides every case's own count)."""
    if samples < 1 or samples > MAX_SAMPLES:
        raise ConfigError(f"--samples must be between 1 and {MAX_SAMPLES}, got {samples}")
    if samples == case.samples:
        return case
    changed = replace(case, samples=samples)
    return replace(changed, digest=case_digest(changed))


def _case(
    raw: object,
    at: At,
    options: dict[str, Any],
    models: Models,
    defaults: dict[str, Any] | None = None,
) -> Case:
    spec = at.mapping(raw, CASE_KEYS)
    if "name" not in spec:
        raise at.fail("a case needs a `name`")
    name = (at / "name").text(spec["name"])
    messages = _conversation(spec, at)
    sampling = _sampling(spec, at, defaults or {"samples": 1, "pass_rate": 1.0})
    samples, pass_rate = sampling["samples"], sampling["pass_rate"]
    fmt = spec.get("format")
    if fmt is not None and fmt != "json" and not isinstance(fmt, dict):
        raise (at / "format").fail(f'expected "json" or a JSON schema mapping, got {fmt!r}')
    if isinstance(fmt, dict):
        try:
            check_schema_refs(fmt)
        except SchemaRefError as err:
            raise (at / "format").fail(f"invalid JSON schema: {err}") from None
    case_options = _options(spec["options"], at / "options") if "options" in spec else {}
    raw_asserts = spec.get("assert")
    if not isinstance(raw_asserts, list) or not raw_asserts:
        raise (at / "assert").fail(
            f"expected a non-empty list of assertions, got {kind_of(raw_asserts)}"
        )
    checks = tuple(parse_check(a, at / "assert" / i, models) for i, a in enumerate(raw_asserts))
    case = Case(
        name=name,
        slug=slugify(name),
        messages=messages,
        options={**options, **case_options},
        assertions=checks,
        samples=samples,
        pass_rate=pass_rate,
        format=fmt,
        prompt=(at / "prompt").text(spec["prompt"]) if "prompt" in spec else None,
        line=at.line,
    )
    return replace(case, digest=case_digest(case))
