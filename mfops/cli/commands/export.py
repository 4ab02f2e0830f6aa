"""`mfops export helm-values --tag TAG`: the released models at TAG for other engines.

A group, so that further engines get their own subcommand. The logic lives in
mfops/release/helm.py; this module only parses options, writes and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mfops.fileio.atomic import write_atomic
from mfops.fileio.reportpath import check_report_path, report_write_error
from mfops.release.helm import export_helm, render_values
from mfops.repo.repository import Repo
from mfops.server.hosts import host_identity


@click.group("export")
def command() -> None:
    """Render released models for the engines a fleet already runs.

    The models come from the release records (refs/mfops/history), each at the commit it
    was promoted from, so what is exported is what was tested. Nothing is sent to a server.
    """


@command.command("helm-values", short_help="Values for the Ollama Helm chart (otwld/ollama-helm).")
@click.option("--tag", required=True, metavar="TAG", help="The release tag to export (e.g. v1.2).")
@click.option(
    "--host",
    metavar="URL",
    help="Only releases recorded on this server (default: the newest release on any).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the values to FILE (atomically) instead of standard output.",
)
@click.pass_obj
def helm_values(opts: Any, tag: str, host: str | None, output: Path | None) -> None:
    """Values for the Ollama Helm chart (otwld/ollama-helm) that make every pod create the
    models released at TAG when it starts.

    Writes `ollama.models.pull` (the external bases) and `ollama.models.create` (one
    `{name: NAME:TAG, template: Modelfile}` per model, parents first). Each Modelfile is
    the model's effective Modelfile at its release commit, FROM its base as mfops.lock
    locked it; Ollama cannot FROM a digest, so the locked digest is written in a comment
    and the pod pulls the base by name (use your own registry for a base that must not
    move). Models the chart cannot reproduce (local weights, adapters, an unlocked base,
    a dirty release) are refused with exit 1, each named.

    \b
    mfops export helm-values --tag v1.2 -o values-models.yaml
    helm upgrade --install ollama otwld/ollama -f values-models.yaml
    """
    check_report_path(output, "--output")
    repo = Repo.find(explicit=opts.repo)
    export = export_helm(repo, tag, host=host_identity(host) if host else None)
    text = render_values(export)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as err:
        raise report_write_error(output, "--output", err) from err
    click.echo(
        f"wrote {output}: {len(export.models)} models at {tag}, {len(export.pulls)} bases to pull",
        err=True,
    )
