"""The chart's start-up step, run here: what a pod of otwld/ollama-helm does with values.

The chart's deployment template turns `ollama.models` into a shell script run after the
container starts: `ollama pull` for each `pull` entry, then for each `create` entry the
template written with an unquoted here-document and `ollama create NAME -f FILE`. Helm
indents the template (`nindent 20`) inside a YAML block scalar, which the YAML parser
strips again, so the script's lines are the template's lines, plus one empty line when the
template ends with a newline. `chart_script` writes that script; `run_pod_startup` runs it
with /bin/sh and the real Ollama CLI (`ollama_cli()`), exactly as a pod would, against a
server on 127.0.0.1. `create_from_text` is the CLI-free path (the benchmark's): the
Modelfile parsed by mfops, sent as the create fields the CLI sends.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mfops.language.modelfile import parse

#: The Ollama CLI from ../shared/ollama (the worktree's sibling), when there.
SHARED_CLI = (
    Path(__file__).resolve().parents[2] / "shared" / "ollama" / "v0.24.0" / "bin" / "ollama"
)


def ollama_cli() -> str:
    """The real `ollama` client binary: $MFOPS_TEST_OLLAMA_CLI, `ollama` on PATH, or the
    shared build; skips the test when there is none."""
    found = os.environ.get("MFOPS_TEST_OLLAMA_CLI") or shutil.which("ollama")
    if not found and SHARED_CLI.is_file():
        found = str(SHARED_CLI)
    if not found:
        pytest.skip("no ollama CLI (set MFOPS_TEST_OLLAMA_CLI)")
    return found


def chart_script(values: dict[str, Any], models_dir: Path, ollama: str) -> str:
    """The chart's postStart script for `values` (templates/deployment.yaml, pull and
    create; `set -e` added so a failed step fails the test)."""
    models = values["ollama"]["models"]
    lines = ["set -e"]
    insecure = "--insecure" if values["ollama"].get("insecure") else ""
    for name in models.get("pull", []):
        lines.append(f"{shlex.quote(ollama)} pull {insecure} {name}")
    for entry in models.get("create", []):
        path = f"{models_dir}/{entry['name']}"
        lines.append(f"cat <<EOF > {path}")
        lines.extend(entry["template"].split("\n"))
        lines.append("EOF")
        lines.append(f"{shlex.quote(ollama)} create {entry['name']} -f {path}")
    return "\n".join(lines) + "\n"


def run_pod_startup(values: dict[str, Any], host: str, workdir: Path) -> dict[str, str]:
    """Run the chart's start-up against `host`; the files the pod wrote, by model name."""
    ollama = ollama_cli()
    models_dir = workdir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OLLAMA_HOST=host, HOME=str(workdir), NO_COLOR="1")
    script = chart_script(values, models_dir, ollama)
    done = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"pod start-up failed:\n{done.stderr[-3000:]}"
    return {
        entry["name"]: (models_dir / entry["name"]).read_text(encoding="utf-8")
        for entry in values["ollama"]["models"]["create"]
    }


def create_request(text: str) -> dict[str, Any]:
    """The create fields the Ollama CLI sends for a Modelfile naming a model base."""
    mf = parse(text)
    req: dict[str, Any] = {}
    base = mf.last("FROM")
    assert base is not None
    req["from"] = base.value
    for key in ("template", "system"):
        ins = mf.last(key.upper())
        if ins is not None:
            req[key] = ins.value
    params = mf.parameters().values
    if params:
        req["parameters"] = params
    licenses = [i.value for i in mf.of("LICENSE")]
    if licenses:
        req["license"] = licenses
    messages = [{"role": i.role, "content": i.value} for i in mf.of("MESSAGE")]
    if messages:
        req["messages"] = messages
    return req


def create_from_text(client: Any, name: str, text: str) -> None:
    """`ollama create name` from Modelfile text with the python client (no CLI)."""
    req = create_request(text)
    client.create(
        model=name,
        from_=req["from"],
        template=req.get("template"),
        system=req.get("system"),
        parameters=req.get("parameters"),
        license=req.get("license"),
        messages=req.get("messages"),
        stream=False,
    )
