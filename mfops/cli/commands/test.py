"""`mfops test [NAME...] [--tag TAG] [--jobs N] ...`: run behavioural suites against models."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mfops.behave import (
    json_report,
    junit_xml,
    load_suites,
    markdown_report,
    plan_cases,
    text_report,
)
from mfops.behave.baseline import write_baselines
from mfops.behave.compare import check_alpha, compare_in_session
from mfops.behave.compare_report import (
    json_comparison,
    junit_comparison,
    markdown_comparison,
    text_comparison,
)
from mfops.behave.html import html_comparison, html_report
from mfops.behave.runner import run_in_session
from mfops.behave.selection import override_samples
from mfops.behave.shard import ShardSpec, select_shard
from mfops.build.plan import candidate_tag, check_tag
from mfops.cli.commands.poolopts import pool_server_options
from mfops.cli.commands.serveropts import open_session
from mfops.cli.commands.shardopts import (
    ShardGuard,
    shard_guarded,
    shard_note,
    shard_options,
    write_shard_report,
)
from mfops.cli.render import rich_console, to_json, use_color
from mfops.fileio.atomic import write_atomic
from mfops.fileio.reportpath import report_write_error
from mfops.graph.revision import Revision

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
@click.option(
    "--against",
    metavar="TAG",
    help="Also run every case on NAME:TAG with the same seeds; a case whose pass rate is "
    "significantly lower on the candidate (one-sided Fisher exact test, Holm-corrected) "
    "is a regression and fails the run.",
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="With --against: the significance level, in (0, 1).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1, max=1000),
    metavar="N",
    help="Draw N samples of every case (overrides the suites' `samples`).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write a self-contained HTML report to PATH.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every case's outputs, not only failures.")
@shard_options
@pool_server_options
@click.pass_obj
@shard_guarded
def command(
    opts: Any,
    names: tuple[str, ...],
    tag: str | None,
    jobs: int | None,
    junit: Path | None,
    fmt: str,
    update_baseline: bool,
    no_cache: bool,
    against: str | None,
    alpha: float,
    samples: int | None,
    html_path: Path | None,
    verbose: bool,
    shard: str | None,
    shard_report: Path | None,
    host: tuple[str, ...],
    timeout: float,
    spec: ShardSpec | None,
    guard: ShardGuard | None,
) -> int:
    """Run behavioural test suites against built models.

    Every `*.test.yaml` suite (and every file listed under `models.NAME.tests`) that applies
    to the selected models (default: all) runs against `NAME:TAG`: a model's own suites and
    the suites of its ancestors marked `inherit: true`. Suites are validated first, so a bad
    one stops the run before any model is called. Results are cached in .mfops/ by model
    and case digest: a re-run with nothing changed calls no model.

    With --against TAG every case also runs on NAME:TAG (the release) with the same
    options and seeds, and the report compares the two sides case by case: regressed,
    improved, unchanged, or underpowered (too few samples to tell at --alpha).

    With --host given several times (or defaults.hosts in mfops.yaml) the run is spread
    over that pool of servers: every host must hold the same manifest digest for each
    model it will be asked for (else the run is refused, naming the host and the model);
    each host runs --jobs requests at once; a host that dies mid-run hands its samples to
    the others; reports name the host that answered each sample (with --against, both
    tags are checked and both sides spread).

    Exit codes: 0 every case passed; 1 a case failed, regressed or could not run (model not
    built, server error); 2 bad input (an invalid suite, an unknown model, no server,
    NAME:TAG of --against missing, --alpha outside (0, 1), a host of the pool down at the
    start or every host gone mid-run); 1 also when the pool's hosts hold different content.

    With --shard K/N only shard K's part of the (model, case, sample) work runs, and its
    JSON report goes to --shard-report; it exits 1 only when its own samples already fail
    a case. A shard that stops (bad input, the server down, an interrupt) still writes
    its report, saying why and with its exit code. `mfops report merge` joins the N
    reports into the run's verdict.
    """
    check_alpha(alpha)
    if guard is not None and tag:
        guard.tag = tag
    if spec is not None and update_baseline:
        raise click.UsageError("--update-baseline cannot be combined with --shard")
    if against is not None and update_baseline:
        raise click.UsageError("--update-baseline cannot be combined with --against")
    session = open_session(opts, None, timeout, hosts=host)
    try:
        if guard is not None:
            guard.repo = session.repo
        rev = Revision(session.repo, None)
        suites = load_suites(rev.snapshot, rev.graph)
        cases = override_samples(plan_cases(suites, rev.graph, names), samples)
        the_tag = _tag(session, rev, tag)
        if guard is not None:
            guard.tag = the_tag
        if against is not None:
            check_tag(against)
        plan = None
        if spec is not None:
            plan = select_shard(cases, spec, comparing=against is not None)
            cases = list(plan.runs)
        progress = _Progress.maybe(len(cases), opts.color)
        try:
            if against is not None:
                cmp = compare_in_session(
                    session,
                    rev,
                    cases,
                    tag=the_tag,
                    against=against,
                    alpha=alpha,
                    jobs=jobs,
                    use_cache=not no_cache,
                    on_event=progress,
                )
                report = cmp.candidate
            else:
                cmp = None
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
        if plan is not None and shard_report is not None:
            write_shard_report(
                shard_report,
                plan,
                session=session,
                report=report,
                cmp=cmp,
                tag=the_tag,
                names=names,
                samples=samples,
                against=against,
                alpha=alpha,
            )
            if guard is not None:
                guard.written = True
    finally:
        session.close()
    written = write_baselines(report, session.repo.root) if update_baseline else []
    if cmp is not None and cmp.cases:
        _compared(cmp, fmt, color=use_color(opts.color), verbose=verbose)
    else:
        _output(report, fmt, color=use_color(opts.color), verbose=verbose, suites=len(suites))
    for path in written:
        click.echo(f"baseline written: {path}", err=True)
    write_reports(report, cmp, junit, html_path)
    if plan is not None:  # a part: only its own certain failures count here
        click.echo(shard_note(plan), err=True)
        return 1 if report.failed else 0
    if cmp is not None:
        return 0 if cmp.ok else 1
    return 1 if report.failed else 0


def write_reports(report: Any, cmp: Any, junit: Path | None, html_path: Path | None) -> None:
    """--junit and --html, each written atomically (its folder created); a write error is
    one line (exit 2)."""

    for path, what in ((junit, "--junit"), (html_path, "--html")):
        if path is None:
            continue
        if what == "--junit":
            text = junit_comparison(cmp) if cmp is not None else junit_xml(report)
        else:
            text = html_comparison(cmp) if cmp is not None else html_report(report)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
        except OSError as err:
            raise report_write_error(path, what, err) from None


def _compared(cmp: Any, fmt: str, *, color: bool, verbose: bool) -> None:

    if fmt == "json":
        click.echo(to_json(json_comparison(cmp)))
    elif fmt == "markdown":
        click.echo(markdown_comparison(cmp), nl=False)
    else:
        click.echo(text_comparison(cmp, color=color, verbose=verbose), nl=False)


def _tag(session: Any, rev: Any, tag: str | None) -> str:
    """`--tag`, else the candidate tag exactly as `mfops build` derives it."""
    if tag:
        check_tag(tag)
        return tag
    return candidate_tag(session.repo, rev.snapshot.config.defaults.candidate_tag)[0]


def _output(report: Any, fmt: str, *, color: bool, verbose: bool, suites: int) -> None:
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
