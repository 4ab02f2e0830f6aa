"""`mfops report merge FILE...`: join shard reports into one verdict."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mfops.behave.compare_report import (
    json_comparison,
    junit_comparison,
    markdown_comparison,
    text_comparison,
)
from mfops.behave.html import html_comparison, html_report
from mfops.behave.merge import Merged, merge
from mfops.behave.merge_report import (
    html_incomplete,
    junit_incomplete,
    markdown_incomplete,
    text_incomplete,
)
from mfops.behave.report import json_report, junit_xml, markdown_report, text_report
from mfops.cli.commands.shardopts import ci_run
from mfops.cli.render import to_json, use_color
from mfops.errors import CheckFailed, MfopsError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.jsonfile import loads_json
from mfops.fileio.regular import read_regular
from mfops.fileio.reportpath import check_report_path, report_write_error
from mfops.release.mergerecord import record_failed_merge
from mfops.repo.repository import Repo


@click.group("report")
def command() -> None:
    """Work with test reports: merge the shard reports of a sharded run."""


def merged_json(merged: Merged) -> dict[str, Any]:
    """The merged verdict as JSON: the usual report (or comparison) plus a `merged` block
    (shards, commit, candidate, CI run, per model its status and tested content), which is
    what `mfops promote --verdict` reads."""
    cmp = merged.comparison
    doc = json_comparison(cmp) if cmp is not None else json_report(merged.report)
    doc["ok"] = merged.ok
    doc["merged"] = merged.block
    return doc


@command.command("merge")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write the merged verdict as JSON to PATH (what `promote --verdict` reads).",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write a JUnit XML report to PATH.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write a self-contained HTML report to PATH.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every case's outputs, not only failures.")
@click.pass_obj
def merge_command(
    opts: Any,
    files: tuple[str, ...],
    fmt: str,
    json_path: Path | None,
    junit: Path | None,
    html_path: Path | None,
    verbose: bool,
) -> int:
    """Join the JSON reports of shards 1..N (`test` / `gate --shard K/N --shard-report
    FILE`) into one verdict, printed as text, JSON or Markdown.

    The reports must be shards 1..N of one N, each exactly once, from one commit, one
    candidate tag, one plan and one CI run; the plan is recomputed from that commit's
    suites, so run this in a checkout of the repository. Samples of a case are pooled
    across shards; with --against the statistics (Fisher per case, Holm over all cases)
    are computed once over the pooled samples, so the verdict is the unsharded run's.

    A shard that did not complete (its gate stopped before testing, an input error, the
    server down, an interrupt) writes a report saying why; the merge then fails, naming
    each such shard, its reason and exit code, in every output.

    When the shards were a release gate's (`gate --shard --promote-to`) and the merged
    verdict fails with exit 1, the failed attempt is recorded in refs/mfops/history, as
    `gate --promote-to` records its own.

    Exit codes: 0 the merged run passed; 1 a case failed, regressed or could not run, or
    a shard did not complete (its report says why); 2 the files are not one
    complete sharded run (a shard missing or given twice, mixed N, commits, candidates or
    runs, a sample of the plan not reported exactly once by the shard owning it,
    baselines that differ between shards, a malformed file).
    """
    for path, what in ((json_path, "--json"), (junit, "--junit"), (html_path, "--html")):
        check_report_path(path, what)
    loaded = []
    for name in files:
        try:
            raw = read_regular(name)
        except OSError as err:
            raise MfopsError(f"cannot read {name}: {err.strerror or err}") from None
        loaded.append((name, loads_json(raw, name, what="a shard report")))
    repo = Repo.find(explicit=opts.repo)
    merged = merge(repo, loaded, run=ci_run())
    if merged.incomplete:
        _incomplete(merged, fmt, json_path, junit, html_path)
        _record(repo, merged)
        raise CheckFailed("; ".join(b.line for b in merged.incomplete))
    cmp = merged.comparison
    color = use_color(opts.color)
    if fmt == "json":
        click.echo(to_json(merged_json(merged)))
    elif fmt == "markdown":
        text = markdown_comparison(cmp) if cmp is not None else markdown_report(merged.report)
        click.echo(text, nl=False)
    else:
        if cmp is not None:
            click.echo(text_comparison(cmp, color=color, verbose=verbose), nl=False)
        else:
            click.echo(text_report(merged.report, color=color, verbose=verbose), nl=False)
        click.echo(f"merged {merged.block['count']} shards of {merged.block['tag']}")
    _write_all(
        (json_path, "--json", lambda: to_json(merged_json(merged)) + "\n"),
        (junit, "--junit", lambda: junit_comparison(cmp) if cmp else junit_xml(merged.report)),
        (html_path, "--html", lambda: html_comparison(cmp) if cmp else html_report(merged.report)),
    )
    _record(repo, merged)
    return 0 if merged.ok else 1


def _record(repo: Repo, merged: Merged) -> None:
    """A failed release gate's merge is recorded, as `gate --promote-to` records its own."""
    record = record_failed_merge(repo, merged)
    if record is not None:
        click.echo(f"recorded in the history as {record} (refs/mfops/history)", err=True)


def _write_all(*writers: tuple[Path | None, str, Callable[[], str]]) -> None:
    for path, what, render in writers:
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, render())
        except OSError as err:
            raise report_write_error(path, what, err) from None


def _incomplete(
    merged: Merged, fmt: str, json_path: Path | None, junit: Path | None, html_path: Path | None
) -> None:
    """Some shards did not complete: every output says which and why (the merge then
    fails, exit 1, with one line per such shard)."""
    if fmt == "json":
        click.echo(to_json(merged_json(merged)))
    elif fmt == "markdown":
        click.echo(markdown_incomplete(merged), nl=False)
    else:
        click.echo(text_incomplete(merged), nl=False)
    _write_all(
        (json_path, "--json", lambda: to_json(merged_json(merged)) + "\n"),
        (junit, "--junit", lambda: junit_incomplete(merged)),
        (html_path, "--html", lambda: html_incomplete(merged)),
    )
