"""The README cannot drift: its command reference is the CLI's own help, every `mfops`
command line it shows names real commands and options, the files it says `mfops init`
writes are the ones it writes, and its quick start runs (against the Ollama test double)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mfops.cli.main import COMMANDS, cli
from mfops.scaffold import template_files
from tests.gitrepo import GIT_ENV

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_readme", ROOT / "scripts" / "gen_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def section(title: str) -> str:
    """The text of the `## title` section (up to the next `## ` heading)."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def test_the_command_reference_is_the_clis_own_help():
    gen = _generator()
    expected = gen.update(README)
    if expected != README:
        import difflib

        diff = "".join(
            difflib.unified_diff(
                README.splitlines(True), expected.splitlines(True), "README.md", "generated", n=1
            )
        )
        pytest.fail(
            "README.md's command reference is out of date; regenerate it with\n"
            f"    python scripts/gen_readme.py\n\n{diff[:4000]}"
        )
    for name in COMMANDS:
        assert f"### `mfops {name}`" in section("Command reference"), name


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch):
    gen = _generator()
    first = gen.render()
    monkeypatch.setenv("COLUMNS", "37")
    assert gen.render() == first


# --------------------------------------------------------------------------- command lines

_GLOBAL_WITH_VALUE = {"-C", "--repo"}
_GLOBAL_FLAGS = {"--no-color", "-V", "--version", "-h", "--help"}


def _options(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


def _check(tokens: list[str], where: str) -> None:
    """`tokens` start after `mfops`: global options, a command, its options."""
    i = 0
    while i < len(tokens) and tokens[i] in _GLOBAL_WITH_VALUE | _GLOBAL_FLAGS:
        i += 2 if tokens[i] in _GLOBAL_WITH_VALUE else 1
    if i == len(tokens):
        return
    name = tokens[i]
    assert name in COMMANDS, f"{where}: unknown command `mfops {name}`"
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None
    if isinstance(command, click.Group) and i + 1 < len(tokens):  # `mfops GROUP SUB ...`
        sub = command.get_command(None, tokens[i + 1])  # type: ignore[arg-type]
        assert sub is not None, f"{where}: unknown command `mfops {name} {tokens[i + 1]}`"
        command, name, i = sub, f"{name} {tokens[i + 1]}", i + 1
    known = _options(command)
    for token in tokens[i + 1 :]:
        option = token.split("=", 1)[0]
        if re.fullmatch(r"--?[a-zA-Z][\w-]*", option):
            assert option in known, f"{where}: `mfops {name}` has no option {option}"


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


def test_every_command_line_in_the_readme_is_real():
    checked = 0
    for line in _shell_lines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        segment: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", "|", ";"):
                if segment[:1] == ["mfops"] or segment[-2:-1] == ["bin/mfops"]:
                    _check(segment[1:], line)
                    checked += 1
                segment = []
            else:
                segment.append(word.rsplit("/", 1)[-1] if word.endswith("/mfops") else word)
    for span in re.findall(r"`(mfops [^`]+)`", README):
        if span.startswith("mfops @ "):  # a pip requirement (`mfops @ git+URL@COMMIT`)
            continue
        words = [w for w in span.split()[1:] if not re.search(r"[<>()\[\]|.]{1}", w)]
        if words:
            _check(words, span)
            checked += 1
    assert checked > 40


def test_the_quick_start_lists_exactly_what_init_writes():
    rows = re.findall(r"^\| `([^`]+)` \|", section("Quick start"), re.MULTILINE)
    written = set(template_files("starter")) | set(template_files("ci/github"))
    assert set(rows) == written


# --------------------------------------------------------------------------- the quick start


def test_the_quick_start_runs(tmp_path, ollama_double):
    """The quick start's shell block, as written, against the double (standing in for the
    local Ollama it assumes): it must end with both starter models released at v0.1.0."""
    block = re.search(r"```sh\n(.*?)```", section("Quick start"), re.DOTALL)
    assert block is not None
    ollama_double.add_registry_model("llama3.2:3b", template="{{ .System }} {{ .Prompt }}")
    env = {
        **os.environ,
        **GIT_ENV,
        "OLLAMA_HOST": ollama_double.url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.group(1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("company-bot", "expert"):
        assert ollama_double.has_model(f"{name}:v0.1.0"), ollama_double.model_names()
    assert "v0.1.0" in done.stdout.splitlines()[-1] or "v0.1.0" in done.stdout
    assert (tmp_path / "my-models" / ".github" / "workflows" / "mfops.yml").is_file()
