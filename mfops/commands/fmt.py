"""`mfops fmt [PATH...] [--check] [--diff]`: canonical Modelfiles, written atomically."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from mfops.atomic import write_atomic
from mfops.conventions import expand_paths
from mfops.errors import EXIT_CHECK_FAILED, EXIT_USAGE, ModelfileError
from mfops.modelfile import decode, format_text


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="Change nothing; exit 1 and list files that would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff.")
def command(paths: tuple[Path, ...], check: bool, show_diff: bool) -> int:
    """Rewrite Modelfiles in canonical form: upper-case commands, FROM first, stable quoting.

    Comments and blank-line groups are kept. Directories (default: the current one) are
    searched for `Modelfile` and `*.Modelfile`. Files that do not parse are reported and
    left untouched (exit 2).
    """
    files = expand_paths(paths or (Path("."),))
    changed: list[Path] = []
    broken = False
    for path in files:
        try:
            original = path.read_bytes()
        except OSError as err:
            click.echo(f"{path}: cannot read: {err.strerror}", err=True)
            broken = True
            continue
        try:
            formatted = format_text(original, path=str(path))
        except ModelfileError as err:
            click.echo(str(err), err=True)
            broken = True
            continue
        before = decode(original)
        if formatted == before and original.decode("utf-8", "replace") == before:
            continue
        changed.append(path)
        if show_diff:
            click.echo(
                "".join(
                    difflib.unified_diff(
                        before.splitlines(keepends=True),
                        formatted.splitlines(keepends=True),
                        fromfile=f"a/{path}",
                        tofile=f"b/{path}",
                    )
                ),
                nl=False,
            )
        elif check:
            click.echo(f"would reformat {path}")
        else:
            write_atomic(path, formatted)
            click.echo(f"reformatted {path}", err=True)
    if broken:
        return EXIT_USAGE
    if (check or show_diff) and changed:
        return EXIT_CHECK_FAILED
    return 0
