"""`--host` that may be given several times: the pool of servers `test` and `gate` spread
one run over (issue 16; behave/pool.py). Once, it is the everyday `--host`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mfops.cli.commands.serveropts import server_options

POOL_HELP = (
    "Ollama server; give it several times for a pool that shares the run (default: "
    "OLLAMA_HOST, then defaults.hosts, then defaults.host in mfops.yaml, then "
    "http://127.0.0.1:11434)."
)


def pool_server_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`server_options`, with `--host` repeatable (the command receives a tuple)."""
    fn = server_options(fn)
    params = getattr(fn, "__click_params__", [])
    for n, param in enumerate(params):
        if param.name == "host":
            params[n] = click.Option(["--host"], metavar="URL", multiple=True, help=POOL_HELP)
    return fn
