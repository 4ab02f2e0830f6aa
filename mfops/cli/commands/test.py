"""`mfops test [NAME...] [--tag TAG] [--jobs N] ...`: run behavioural suites against models."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.render import rich_console, to_json, use_color

if TYPE_CHECKING:
    from mfops.behave.results import TestEvent


@click.command("test")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option(
    "--tag",
    metavar="TAG",
    help="Test NAME:TAG (default: the candidate tag `mfops build` uses, defaults.candidate_tag).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Requests at once (default: defaults.jobs in mfops.yaml, 4).",
)
@click.option(
    "--junit",
    "junit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write a JUnit XML report to PATH.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="Record this run's outputs as the baselines of `baseline` assertions.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Ignore cached results: call the models for every case (and cache nothing).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every case's outputs, not only failures.")
@server_options
@click.pass_obj
def command(
    opts: Any,
    names: tuple[str, ...],
    tag: str | None,
    jobs: int | None,
    junit: Path | None,
    fmt: str,
    update_baseline: bool,
    no_cache: bool,
    verbose: bool,
    host: str | None,
    timeout: float,
) -> int:
    """Run behavioural test suites against built models.

    Every `*.test.yaml` suite (and every file listed under `models.NAME.tests`) that applies
    to the selected models (default: all) runs against `NAME:TAG`: a model's own suites and
    the suites of its ancestors marked `inherit: true`. Suites are validated first, so a bad
    one stops the run before any model is called. Results are cached in .mfops/ by model
    and case digest: a re-run with nothing changed calls no model.

    Exit codes: 0 every case passed; 1 a case failed or could not run (model not built,
    server error); 2 bad input (an invalid suite, an unknown model, no server).
    """
    from mfops.behave import load_suites, plan_cases
    from mfops.behave.baseline import write_baselines
    from mfops.behave.runner import run_in_session
    from mfops.graph.revision import Revision

    session = open_session(opts, host, timeout)
    try:
        rev = Revision(session.repo, None)
        suites = load_suites(rev.snapshot, rev.graph)
        cases = plan_cases(suites, rev.graph, names)
        the_tag = _tag(session, rev, tag)
        progress = _Progress.maybe(len(cases), opts.color)
        try:
            report = run_in_session(
                session,
                rev,
                cases,
                tag=the_tag,
                jobs=jobs,
                use_cache=not no_cache,
                update_baseline=update_baseline,
                on_event=progress,
            )
        finally:
            if progress is not None:
                progress.close()
    finally:
        session.close()
    written = write_baselines(report, session.repo.root) if update_baseline else []
    _output(report, fmt, color=use_color(opts.color), verbose=verbose, suites=len(suites))
    for path in written:
        click.echo(f"baseline written: {path}", err=True)
    if junit is not None:
        from mfops.behave import junit_xml
        from mfops.fileio.atomic import write_atomic

        junit.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(junit, junit_xml(report))
    return 1 if report.failed else 0


def _tag(session: Any, rev: Any, tag: str | None) -> str:
    """`--tag`, else the candidate tag exactly as `mfops build` derives it."""
    from mfops.build.plan import candidate_tag, check_tag

    if tag:
        check_tag(tag)
        return tag
    return candidate_tag(session.repo, rev.snapshot.config.defaults.candidate_tag)[0]


def _output(report: Any, fmt: str, *, color: bool, verbose: bool, suites: int) -> None:
    from mfops.behave import json_report, markdown_report, text_report

    if fmt == "json":
        click.echo(to_json(json_report(report)))
    elif fmt == "markdown":
        click.echo(markdown_report(report), nl=False)
    else:
        if not report.results:
            what = "no test suites found (*.test.yaml)" if not suites else "no test cases apply"
            click.echo(f"{what}; nothing to test")
            return
        click.echo(text_report(report, color=color, verbose=verbose), nl=False)


class _Progress:
    """A progress bar on stderr while samples run, shown only on a terminal."""

    @classmethod
    def maybe(cls, cases: int, color: bool | None) -> _Progress | None:
        if not cases or not sys.stderr.isatty():
            return None
        return cls(color)

    def __init__(self, color: bool | None, file: Any = None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._lock = threading.Lock()
        self.failed = 0
        self.progress = Progress(
            TextColumn("testing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=rich_console(color, file=file),
            transient=True,
        )
        self.task = self.progress.add_task("test", total=None, status="")
        self.progress.start()

    def __call__(self, event: TestEvent) -> None:
        with self._lock:
            if event.kind == "start":
                self.progress.update(self.task, total=event.total)
            elif event.kind == "sample":
                self.progress.advance(self.task)
            elif event.result is not None and event.result.status != "passed":
                self.failed += 1
                self.progress.update(self.task, status=f"{self.failed} failing")

    def close(self) -> None:
        self.progress.stop()
