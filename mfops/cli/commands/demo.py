"""`mfops demo [--keep]`: mfops' main job on the bundled example repo, no Ollama needed."""

from __future__ import annotations

from typing import Any

import click

from mfops.testing.demo import run_demo


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary example repository.")
@click.pass_obj
def command(opts: Any, keep: bool) -> int:
    """Copy the bundled example repository (three models, an inherited suite) into a
    temporary git repository and take it through mfops' release path against the Ollama
    API double (a toy model on 127.0.0.1; see `mfops.testing`): lock --pull, gate (lint,
    diff, build, test, promote to v1.0.0), history; then a change that breaks a model's
    rule, which the gate refuses without moving a tag. Each step runs `mfops` and is shown
    before it runs.
    """
    run_demo(click.echo, keep=keep)
    return 0
