"""`mfops schema config|suite`: print a JSON Schema for editors."""

from __future__ import annotations

import click

from mfops.cli.render import to_json
from mfops.schema import schema


@click.command("schema")
@click.argument("which", type=click.Choice(["config", "suite"]))
def command(which: str) -> int:
    """Print the JSON Schema of mfops.yaml (config) or of a behaviour suite (suite).

    Editors that use yaml-language-server (VS Code's YAML extension among them) complete
    keys and flag typos with it: save it in the repository and point a file at it with a
    first line `# yaml-language-server: $schema=schemas/mfops.schema.json` (the starter
    repository of `mfops init` does this). The schema is built from mfops' own validation;
    `mfops lint` remains the full check.
    """

    click.echo(to_json(schema(which)))
    return 0
