"""`mfops.yaml`: which models the repo defines and the defaults commands start from.

The file is small and hand-edited, so its errors must be exact: every problem is a
ConfigError at `mfops.yaml:LINE` naming the key path (`models.engine-bot.tests: expected a
list of strings`), unknown keys are refused (a typo must not silently drop a setting) and
names are checked with Ollama's grammar. The schema is declarative: one table per mapping.

Whether a listed Modelfile exists depends on the version being read, so that check lives in
the snapshot (repo.py), which reports it at the line of the `modelfile` key recorded here.
The classes are re-exported by `mfops.repo.repository`.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mfops.errors import ConfigError
from mfops.fileio.yamlfile import LineMap, dotted, kind_of, load_yaml
from mfops.language.names import check_repo_model_name, parse_name
from mfops.language.registryname import check_registry, check_registry_host


@dataclass(frozen=True)
class ModelConfig:
    """One entry of `models:`. `modelfile` is a normalised POSIX path relative to the root;
    `line` is the line of the model's key, `modelfile_line` that of its `modelfile` key."""

    name: str
    modelfile: str
    description: str | None = None
    tests: tuple[str, ...] = ()
    line: int | None = None
    modelfile_line: int | None = None


@dataclass(frozen=True)
class Defaults:
    """`defaults:`: what commands use when no option says otherwise."""

    host: str | None = None
    candidate_tag: str = "sha-{short}"
    jobs: int = 4
    embedding_model: str | None = None
    judge_model: str | None = None
    #: Where short names (`llama3.2`, `acme/bot`) are looked up upstream by `lock --check`:
    #: a mirror of Ollama's registry, or a local one in tests. `host[:port]` or a URL.
    registry: str | None = None
    #: Registries (`host[:port]`) that speak plain http; any other is reached over https.
    insecure_registries: tuple[str, ...] = ()
    #: A pool of servers that `test` and `gate` spread one run over when no --host is given
    #: (issue 16); empty means the single `host`.
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    """`environments.NAME:`: the servers a release is deployed to (`mfops deploy --env`).

    `line` is the line of the environment's key, for messages that point at it."""

    name: str
    hosts: tuple[str, ...]
    description: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Config:
    """A validated `mfops.yaml` (empty when the file is absent).

    `allow_paths` are the prefixes (absolute, `~`-relative or relative to the root) under
    which FROM/ADAPTER/DRAFT paths may leave the repository.
    """

    models: dict[str, ModelConfig] = field(default_factory=dict)
    defaults: Defaults = field(default_factory=Defaults)
    allow_paths: tuple[str, ...] = ()
    environments: dict[str, Environment] = field(default_factory=dict)
    path: str | None = None
    lines: LineMap = field(default_factory=LineMap, compare=False, repr=False)


TOP_KEYS = ("models", "defaults", "allow_paths", "environments")
MODEL_KEYS = ("modelfile", "description", "tests")
ENVIRONMENT_KEYS = ("hosts", "description")
#: Environment names are path- and flag-safe: they appear in record refs and file names.
ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DEFAULT_KEYS = (
    "host",
    "candidate_tag",
    "jobs",
    "embedding_model",
    "judge_model",
    "registry",
    "insecure_registries",
    "hosts",
)


class _Checker:
    """Raises ConfigErrors that carry the file, the line and the key path."""

    def __init__(self, path: str, lines: LineMap) -> None:
        self.path = path
        self.lines = lines

    def fail(
        self,
        key_path: tuple[object, ...],
        message: str,
        hint: str | None = None,
        *,
        where: str | None = None,
    ) -> ConfigError:
        where = where if where is not None else dotted(key_path)
        text = f"{where}: {message}" if where else message
        return ConfigError(text, path=self.path, line=self.lines.line(*key_path), hint=hint)

    def mapping(
        self, value: object, key_path: tuple[object, ...], allowed: tuple[str, ...]
    ) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key_path, f"expected a mapping, got {kind_of(value)}")
        for key in value:
            if not isinstance(key, str):
                where = f"{dotted(key_path)}.{key}" if key_path else str(key)
                raise self.fail(
                    (*key_path, key), f"keys must be strings, got {kind_of(key)}", where=where
                )
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else None
                raise self.fail(
                    (*key_path, key),
                    f"unknown key (expected one of: {', '.join(sorted(allowed))})",
                    hint,
                )
        return value

    def string(
        self, value: object, key_path: tuple[object, ...], *, optional: bool = True
    ) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key_path, f"expected a non-empty string, got {kind_of(value)}")
        return value

    def strings(self, value: object, key_path: tuple[object, ...]) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key_path, f"expected a list of strings, got {kind_of(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.fail((*key_path, i), f"expected a non-empty string, got {kind_of(item)}")
        return tuple(value)

    def name(
        self, value: object, key_path: tuple[object, ...], check: Callable[[str], object]
    ) -> str | None:
        text = self.string(value, key_path)
        if text is not None:
            try:
                check(text)
            except ValueError as err:
                raise self.fail(key_path, str(err)) from None
        return text


def normalize_modelfile_path(text: str) -> str | None:
    """A root-relative POSIX path in normal form, or None when it leaves the root."""
    if text.startswith("/"):
        return None
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


def load_config(text: str, path: str) -> Config:
    """Parse and validate `mfops.yaml` text; `path` is how errors name the file."""
    data, lines = load_yaml(text, path)
    check = _Checker(path, lines)
    if data is None:
        return Config(path=path, lines=lines)
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping at the top level (models:, defaults:, environments:, ...), "
            f"got {kind_of(data)}",
            path=path,
            line=lines.line(),
        )
    top = check.mapping(data, (), TOP_KEYS)
    models: dict[str, ModelConfig] = {}
    raw_models = top.get("models")
    if raw_models is not None and not isinstance(raw_models, dict):
        got = kind_of(raw_models)
        raise check.fail(("models",), f"expected a mapping of model names, got {got}")
    folded: dict[str, str] = {}
    for name, entry in (raw_models or {}).items():
        key = ("models", name)
        if not isinstance(name, str):
            raise check.fail(
                key, f"model names must be strings, got {kind_of(name)}", where=f"models.{name}"
            )
        try:
            check_repo_model_name(name)
        except ValueError as err:
            raise check.fail(key, str(err)) from None
        other = folded.setdefault(name.lower(), name)
        if other != name:
            raise check.fail(
                key, f"{name!r} and {other!r} are the same model name to Ollama (case-insensitive)"
            )
        if isinstance(entry, str):
            raise check.fail(
                key,
                f"expected a mapping, got {kind_of(entry)}",
                hint=f"write `{name}: {{modelfile: {entry}}}`",
            )
        spec = check.mapping(entry, key, MODEL_KEYS)
        if "modelfile" not in spec:
            raise check.fail(key, "missing required key 'modelfile'")
        raw_path = check.string(spec["modelfile"], (*key, "modelfile"), optional=False)
        assert raw_path is not None  # not optional: None was refused
        rel = normalize_modelfile_path(raw_path)
        if rel is None:
            raise check.fail(
                (*key, "modelfile"),
                f"{raw_path!r} is outside the mfops root; Modelfiles must live in the repo",
            )
        models[name] = ModelConfig(
            name=name,
            modelfile=rel,
            description=check.string(spec.get("description"), (*key, "description")),
            tests=check.strings(spec.get("tests"), (*key, "tests")),
            line=lines.line(*key),
            modelfile_line=lines.line(*key, "modelfile"),
        )
    return Config(
        models=dict(sorted(models.items())),
        defaults=_defaults(check, top.get("defaults")),
        allow_paths=check.strings(top.get("allow_paths"), ("allow_paths",)),
        environments=_environments(check, top.get("environments")),
        path=path,
        lines=lines,
    )


def _environments(check: _Checker, value: object) -> dict[str, Environment]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        got = kind_of(value)
        raise check.fail(("environments",), f"expected a mapping of environment names, got {got}")
    envs: dict[str, Environment] = {}
    for name, entry in value.items():
        key = ("environments", name)
        if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
            raise check.fail(
                key,
                f"environment names are lowercase letters, digits, '-' and '_', got {name!r}",
                where=f"environments.{name}",
            )
        spec = check.mapping(entry, key, ENVIRONMENT_KEYS)
        hosts = check.strings(spec.get("hosts"), (*key, "hosts"))
        if not hosts:
            raise check.fail((*key, "hosts"), "expected at least one host")
        if len(set(hosts)) != len(hosts):
            raise check.fail((*key, "hosts"), "a host is listed twice")
        envs[name] = Environment(
            name=name,
            hosts=hosts,
            description=check.string(spec.get("description"), (*key, "description")),
            line=check.lines.line(*key),
        )
    return dict(sorted(envs.items()))


def _defaults(check: _Checker, value: object) -> Defaults:
    spec = check.mapping(value, ("defaults",), DEFAULT_KEYS)
    jobs = spec.get("jobs", 4)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise check.fail(("defaults", "jobs"), f"expected a positive integer, got {jobs!r}")
    candidate = check.string(spec.get("candidate_tag"), ("defaults", "candidate_tag"))
    return Defaults(
        host=check.string(spec.get("host"), ("defaults", "host")),
        candidate_tag=candidate if candidate is not None else Defaults.candidate_tag,
        jobs=jobs,
        embedding_model=check.name(
            spec.get("embedding_model"), ("defaults", "embedding_model"), parse_name
        ),
        judge_model=check.name(spec.get("judge_model"), ("defaults", "judge_model"), parse_name),
        registry=check.name(spec.get("registry"), ("defaults", "registry"), check_registry),
        insecure_registries=tuple(
            check.name(item, ("defaults", "insecure_registries", i), check_registry_host) or ""
            for i, item in enumerate(
                check.strings(spec.get("insecure_registries"), ("defaults", "insecure_registries"))
            )
        ),
        hosts=_unique(check, spec.get("hosts"), ("defaults", "hosts")),
    )


def _unique(check: _Checker, value: object, key_path: tuple[object, ...]) -> tuple[str, ...]:
    items = check.strings(value, key_path)
    if len(set(items)) != len(items):
        raise check.fail(key_path, "a host is listed twice")
    return items
