"""`mfops fmt [PATH...] [--check] [--diff]`: canonical Modelfiles, written atomically."""

from __future__ import annotations

import codecs
import difflib
import os
import re
from pathlib import Path

import click

from mfops.errors import EXIT_CHECK_FAILED, EXIT_USAGE, MfopsError, ModelfileError
from mfops.fileio.atomic import inside, write_atomic
from mfops.fileio.regular import read_regular
from mfops.language.format import format_text
from mfops.language.modelfile import decode
from mfops.repo.conventions import expand_paths
from mfops.repo.repository import Repo

#: The line breaks Ollama knows (str.splitlines would also split at \v, \f, U+2028, ...).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> list[str]:
    return _LINE.findall(text)


def undecodable(data: bytes) -> str | None:
    """Why `data` cannot be decoded exactly (None: it can). Formatting such a file would
    have to turn its bad bytes into U+FFFD, i.e. change content nobody asked to change."""
    body, codec = data, "utf-8"
    if data.startswith(codecs.BOM_UTF16_LE):
        body, codec = data[2:], "utf-16-le"
    elif data.startswith(codecs.BOM_UTF16_BE):
        body, codec = data[2:], "utf-16-be"
    elif data.startswith(codecs.BOM_UTF8):
        body = data[3:]
    try:
        body.decode(codec)
    except UnicodeDecodeError as err:
        line = body[: err.start].count(b"\n") + 1
        bad = body[err.start : err.end][:4].hex(" ")
        return f"line {line}: bytes that are not {codec.upper()} ({bad})"
    return None


def boundary(path: Path) -> Path:
    """The repository `path` belongs to: the mfops root around it, else the current folder."""
    try:
        return Repo.find(Path(os.path.abspath(path)).parent).root
    except MfopsError:
        return Path.cwd()


def escapes(path: Path) -> bool:
    """True when `path` is reached through a symlink that leaves its repository (as ls and
    lint refuse it): fmt would write outside it."""
    real = Path(os.path.realpath(path))
    return real != Path(os.path.abspath(path)) and not inside(real, boundary(path))


def unified_diff(before: str, after: str, path: Path) -> str:
    """A unified diff of one file, every line ending in a line break (as `diff` prints)."""
    out = []
    for line in difflib.unified_diff(
        _lines(before), _lines(after), fromfile=f"a/{path}", tofile=f"b/{path}"
    ):
        if not line.endswith(("\n", "\r")):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 and list files that would change."
)
@click.option("--diff", "show_diff", is_flag=True, help="Change nothing; print a unified diff.")
def command(paths: tuple[Path, ...], check: bool, show_diff: bool) -> int:
    """Rewrite Modelfiles in canonical form: upper-case commands, FROM first, stable quoting.

    Comments and blank-line groups are kept; the file's own line break (LF, CRLF or CR) is
    kept; the result is UTF-8 without a byte-order mark. Directories (default: the current
    one) are searched for `Modelfile` and `*.Modelfile`. Files are replaced atomically with
    their permissions kept. Files that do not parse are reported and left untouched (exit
    2); with --check or --diff, exit 1 when some file would change.
    """
    files = expand_paths(paths or (Path("."),))
    changed: list[Path] = []
    broken = False
    for path in files:
        if escapes(path) and os.path.isfile(path):  # a device: read_regular says so below
            click.echo(f"{path}: symlink points outside the repository; not formatted", err=True)
            broken = True
            continue
        try:
            original = read_regular(path)  # a FIFO or /dev/zero is refused, not read forever
        except OSError as err:
            click.echo(f"{path}: cannot read: {err.strerror}", err=True)
            broken = True
            continue
        why = undecodable(original)
        if why is not None:
            click.echo(
                f"{path}: {why}; not formatted: fmt would replace them with U+FFFD "
                "(fix the file's encoding first)",
                err=True,
            )
            broken = True
            continue
        try:
            formatted = format_text(original, path=str(path))
        except ModelfileError as err:
            click.echo(str(err), err=True)
            broken = True
            continue
        if formatted.encode("utf-8") == original:
            continue
        changed.append(path)
        if show_diff:
            before = decode(original)
            if before == formatted:  # a BOM, UTF-16 or bytes that are not UTF-8
                click.echo(
                    f"{path}: only the encoding changes: to UTF-8 without BOM "
                    "(the text stays the same)",
                    err=True,
                )
            click.echo(unified_diff(before, formatted, path), nl=False)
        elif check:
            click.echo(f"would reformat {path}")
        else:
            try:
                write_atomic(path, formatted, root=boundary(path))
            except OSError as err:
                click.echo(f"{path}: cannot write: {err.strerror}", err=True)
                broken = True
                continue
            click.echo(f"reformatted {path}", err=True)
    if broken:
        return EXIT_USAGE
    if (check or show_diff) and changed:
        return EXIT_CHECK_FAILED
    return 0
