"""`mfops parse FILE [--format json]`: Ollama's two stages, grammar then parameter conversion."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mfops.cli.render import to_json
from mfops.language.modelfile import parse_file


@click.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object (schema in README).",
)
@click.option("--json", "as_json", is_flag=True, hidden=True)  # shipped spelling of --format json
def command(file: Path, fmt: str, as_json: bool) -> int:
    """Parse FILE exactly as Ollama does and show the command list.

    A grammar error exits 2 with `FILE:LINE: message`. A parameter Ollama cannot convert is
    reported as `param_error` (the grammar was fine, so the exit code is 0; `mfops lint`
    fails on it).
    """
    mf = parse_file(file)
    params = mf.parameters()
    problem = params.error
    if as_json or fmt == "json":
        click.echo(
            to_json(
                {
                    "commands": [{"name": c.name, "args": c.args} for c in mf.commands],
                    "params": params.values,
                    "deprecated": list(params.deprecated),
                    "param_error": problem.message if problem else None,
                }
            )
        )
        return 0
    width = max((len(c.name) for c in mf.commands), default=0)
    for c in mf.commands:
        click.echo(f"{c.name:<{width}}  {json.dumps(c.args, ensure_ascii=False)}")
    for name in params.deprecated:
        click.echo(f"{file}: warning: parameter {name} is deprecated (Ollama drops it)", err=True)
    if problem:
        click.echo(f"{file}:{problem.line}: {problem.message}", err=True)
    return 0
