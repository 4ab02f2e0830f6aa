"""`mfops import MODEL [--as NAME]`: bring a model that exists on the server into the repo."""

from __future__ import annotations

import click

from mfops.build.tags import content_tag
from mfops.cli.commands.serveropts import open_session, server_options
from mfops.errors import MfopsError
from mfops.fileio.atomic import write_atomic
from mfops.graph.revision import Revision
from mfops.language.names import check_repo_model_name, parse_name
from mfops.repo.repository import Repo
from mfops.server.importer import import_model


def _current_builds(repo: Repo) -> dict[str, str]:
    """`name:mf-<digest>` of every repo model as the working tree builds it now; empty when
    the repo does not load that far (an unlocked base...): import then diffs against the
    server's base as it finds it."""
    try:
        digests = Revision(repo, None).digests
    except MfopsError:
        return {}
    return {name: f"{name}:{content_tag(digest)}" for name, digest in digests.items()}


@click.command("import")
@click.argument("model")
@click.option(
    "--as",
    "name",
    metavar="NAME",
    help="Repo model name (default: MODEL without namespace and tag).",
)
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the Modelfile; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite an existing NAME/Modelfile.")
@server_options
@click.pass_obj
def command(
    opts,
    model: str,
    name: str | None,
    to_stdout: bool,
    force: bool,
    host: str | None,
    timeout: float,
) -> int:
    """Write NAME/Modelfile for a model that exists on the server, so that a hand-made
    model comes under management.

    The Modelfile starts with a comment saying where it came from. When the server knows the
    model's base, it is `FROM <base>` (a repo model's base becomes a source FROM) and only
    what differs from the base is written; for a source FROM, from the repo's current build
    of that model when the server has it, since that is what the FROM will inherit. When the
    server cannot name the base (imported weights), the file is written as
    NAME/Modelfile.draft instead, which mfops does not load: its FROM names the weights blob
    on the server, which no build can use, so as NAME/Modelfile it would stop every command
    on the repository. Point its FROM at the weights file (in the repo) or a registry model,
    then rename it to NAME/Modelfile.
    """
    import time

    try:
        parsed = parse_name(model)
    except ValueError as err:
        raise MfopsError(str(err)) from None
    name = name or parsed.model
    try:
        check_repo_model_name(name)
    except ValueError as err:
        raise MfopsError(f"--as {name!r}: {err}") from None
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        models = session.repo.snapshot(None).models
        if name in models and not (force or to_stdout):
            raise MfopsError(
                f"the repo already has a model {name!r} ({models[name].path})",
                hint="choose another name with --as, or --force",
            )
        result = import_model(
            session.server,
            model,
            name=name,
            repo_models=set(models),
            host=session.host.display,
            today=time.strftime("%Y-%m-%d"),
            current=_current_builds(session.repo),
        )
    finally:
        session.close()
    if to_stdout:
        click.echo(result.text, nl=False)
        return 0
    rel = models[name].path if name in models else f"{name}/Modelfile"
    if result.base is None:
        rel = f"{name}/Modelfile.draft"  # docstring: a FROM no build can use
    target = session.repo.root / rel
    if target.exists() and not force:
        raise MfopsError(f"{rel} exists already", hint="use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, result.text, root=session.repo.root)
    if result.base is None:
        click.echo(
            f"wrote {rel} (a draft: the server does not say which model {model} was built FROM)"
        )
        click.echo(
            f"next: set its FROM to the weights file (in the repo) or a registry model, then "
            f"rename it: mv {rel} {name}/Modelfile",
        )
    else:
        click.echo(f"wrote {rel} (FROM {result.base})")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    return 0
