"""Fuzz targets: every loader of user-controlled text, and what it may raise.

A target takes raw bytes (the interface atheris feeds) and runs one loader the way mfops
runs it; the contract is that nothing escapes but the loader's typed error (`ConfigError`,
`ModelfileError`), whatever the bytes. For the Modelfile parser a successful parse must also
survive the formatter: `parse(format(x))` gives the same commands, and formatting twice
changes nothing.

The inputs come from tests/fuzz/strategies.py (hypothesis) or from atheris; this module
imports neither, so a limits run or an atheris process pays for neither. Used by
tests/fuzz/test_fuzz.py, tests/fuzz/limits.py and benchmarks/fuzz.py.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from mfops.errors import ConfigError, ModelfileError


@dataclass(frozen=True)
class Target:
    """One fuzzed loader: `run(data)` raises nothing but `allowed`."""

    name: str
    run: Callable[[bytes], None]
    allowed: tuple[type[BaseException], ...]


# --------------------------------------------------------------------------- the targets


_LINT_DIR = Path(tempfile.mkdtemp(prefix="mfops-fuzz-lint-"))  # empty: FROM paths resolve here
atexit.register(shutil.rmtree, _LINT_DIR, ignore_errors=True)  # every process that imports it


def modelfile(data: bytes) -> None:
    from mfops.language.format import canonical_commands, format_modelfile
    from mfops.language.modelfile import parse
    from mfops.lint.engine import LintContext, lint_source

    try:
        mf = parse(data, path="Modelfile")
    except ModelfileError as err:
        try:
            parse(data, path="Modelfile", fast=False)  # the state machine alone
        except ModelfileError as ref:
            assert str(ref) == str(err), "the fast path's error differs"
        else:
            raise AssertionError("only the fast path fails") from None
        lint_source(data, "Modelfile", LintContext(base_dir=_LINT_DIR))  # one MF001, no raise
        return
    full = parse(data, path="Modelfile", fast=False)  # the state machine alone
    assert (full.nodes, full.newline) == (mf.nodes, mf.newline), "the fast path differs"
    mf.parameters()
    formatted = format_modelfile(mf)
    again = parse(formatted, path="Modelfile")
    assert again.commands == canonical_commands(mf.commands), "parse(format(x)) differs"
    assert format_modelfile(again) == formatted, "format is not idempotent"
    lint_source(data, "Modelfile", LintContext(frozenset({"base"}), _LINT_DIR))


def _text(data: bytes) -> str:
    """As mfops reads its YAML and JSON files: UTF-8 (a BOM dropped) or a ConfigError."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text ({err.reason})", path="fuzz") from None


def yaml_doc(data: bytes) -> None:
    from mfops.fileio.yamlfile import load_yaml

    load_yaml(_text(data), "fuzz.yaml")


def config(data: bytes) -> None:
    from mfops.repo.config import load_config

    load_config(_text(data), "mfops.yaml")


_GRAPH = SimpleNamespace(nodes={"base": None, "expert": None, "team/bot": None})


def suite(data: bytes) -> None:
    from mfops.behave.checks import Models
    from mfops.behave.spec import parse_suite

    parse_suite(
        _text(data),
        "t.test.yaml",
        "t.test.yaml",
        _GRAPH,  # type: ignore[arg-type]
        Models("embedder", "judge"),
    )


def lock(data: bytes) -> None:
    from mfops.repo.lockfile import loads

    loads(_text(data), "mfops.lock")


def state(data: bytes) -> None:
    from mfops.store.builds import parse_state

    parse_state(data, "state.json")


def baseline(data: bytes) -> None:
    from mfops.behave.baseline import parse_baseline

    parse_baseline(data, "baseline.json")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("modelfile", modelfile, (ModelfileError,)),
        Target("yaml", yaml_doc, (ConfigError,)),
        Target("config", config, (ConfigError,)),
        Target("suite", suite, (ConfigError,)),
        Target("lock", lock, (ConfigError,)),
        Target("state", state, (ConfigError,)),
        Target("baseline", baseline, (ConfigError,)),
    )
}


def check(target: Target, data: bytes) -> None:
    """Run one input; anything but the allowed errors propagates (a finding)."""
    with contextlib.suppress(*target.allowed):
        target.run(data)
