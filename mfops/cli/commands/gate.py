"""`mfops gate [--since REF] [--tag TAG] [--promote-to TAG] ...`: the CI pipeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mfops.behave import empty_junit_xml, markdown_report
from mfops.behave.compare import check_alpha
from mfops.behave.compare_report import markdown_comparison, text_comparison
from mfops.behave.report import text_report
from mfops.behave.results import Environment, TestReport
from mfops.behave.shard import ShardSpec
from mfops.build.plan import check_build_tag, check_tag
from mfops.cli.commands.buildview import result_line
from mfops.cli.commands.lint import text_line
from mfops.cli.commands.poolopts import pool_server_options
from mfops.cli.commands.promote import result_text
from mfops.cli.commands.serveropts import open_session
from mfops.cli.commands.shardopts import (
    ShardGuard,
    shard_guarded,
    shard_options,
    write_shard_report,
)
from mfops.cli.commands.test import write_reports
from mfops.diff.render import render_markdown, render_text
from mfops.errors import EXIT_CHECK_FAILED, CheckFailed, MfopsError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.markdown import fence
from mfops.fileio.reportpath import check_report_path, check_step_summary, report_write_error
from mfops.release.current import has_releases
from mfops.release.gate import GateOptions, run_gate
from mfops.release.promote import check_tags
from mfops.repo.history import load, released_tags
from mfops.repo.repository import Repo

if TYPE_CHECKING:
    from mfops.release.gate import GateReport, Step

_MARK = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


@click.command("gate")
@click.option(
    "--since",
    metavar="REF",
    help="Compare with REF (default: the last release per the records, else the newest "
    "version tag reachable from HEAD^, else every model / HEAD~1).",
)
@click.option(
    "--tag",
    "candidate_tag",
    metavar="TAG",
    help="Build and test at TAG (default: the build's candidate tag, sha-<12 hex>).",
)
@click.option("--candidate-tag", "old_tag", metavar="TAG", hidden=True)  # shipped spelling
@click.option(
    "--promote-to",
    metavar="TAG",
    help="Release mode: promote the tested models to TAG when every step passed.",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    metavar="TAG",
    help="With --promote-to: also point this alias (latest, prod) at the release.",
)
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Cover every model of the repo, not only those changed since REF.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Write the test results as JUnit XML to PATH.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Creates and test requests at once (default: defaults.jobs, 4).",
)
@click.option("--no-cache", is_flag=True, help="Run every test case afresh.")
@click.option(
    "--against",
    metavar="TAG",
    help="Compare every tested model with NAME:TAG (default in pull-request mode: each "
    "model's current release, when the release records know one).",
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="Significance level of a regression against the baseline, in (0, 1).",
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
    help="Write the test results as a self-contained HTML page to PATH.",
)
@click.option(
    "--allow-untested",
    is_flag=True,
    help="With --promote-to: promote models that have no test cases.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="With --promote-to: promote a candidate built from uncommitted changes (recorded).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan only: the build plan, the suites that would run, the tags that would move.",
)
@shard_options
@pool_server_options
@click.pass_obj
@shard_guarded
def command(
    opts: Any,
    since: str | None,
    candidate_tag: str | None,
    old_tag: str | None,
    promote_to: str | None,
    aliases: tuple[str, ...],
    all_: bool,
    junit: Path | None,
    jobs: int | None,
    no_cache: bool,
    against: str | None,
    alpha: float,
    samples: int | None,
    html_path: Path | None,
    allow_untested: bool,
    allow_dirty: bool,
    dry_run: bool,
    shard: str | None,
    shard_report: Path | None,
    host: tuple[str, ...],
    timeout: float,
    spec: ShardSpec | None,
    guard: ShardGuard | None,
) -> int:
    """Lint, diff, build, test and (with --promote-to) promote, stopping at the first
    failure.

    The gate covers the models changed since REF (an edited model and every descendant
    of an edited base, as `build --changed` selects them) and those whose test cases were
    added or edited since REF, or every model with --all. They are built at the candidate
    tag and their suites run against them; lint also validates every suite. Without --promote-to
    (pull-request mode) that is all. With --promote-to (release mode) those same models are
    then promoted to TAG and each --alias, all or nothing; a model the gate did not cover
    keeps its earlier release tags, so no tag ever points at content this run did not
    build and test. When nothing changed, build, test and promote are skipped (and the
    server is not contacted). REF defaults to what was actually released: the commit of
    the newest successful promotion on this server per the release records, else the newest
    vX.Y / vX.Y.Z tag reachable from HEAD^, else every model; the diff step names it.

    In release mode every attempt is recorded in git (refs/mfops/history), including a
    gate that fails at lint, diff, build or test; a dirty candidate is refused unless
    --allow-dirty. --dry-run prints the plan and records nothing.

    With --host given several times (or defaults.hosts) the gate runs on a pool: it builds
    the candidate on every host (the first, then each other in turn), checks that every
    host holds the same manifest digests, and spreads the tests over the pool as `mfops
    test` does (--against TAG too); the pull-request comparison with the current release
    runs on the first host only, and --promote-to needs a single host. Hosts holding
    different content fail the test step (exit 1), naming host and model.

    Each step prints a status line. With $GITHUB_STEP_SUMMARY set, a Markdown summary
    (steps, diff, build, tests, promotion) is appended to that file.

    Exit codes: 0 every step passed; 1 lint errors, a failed build, failed tests or a
    refused promotion; 2 bad input (unknown ref, invalid suite or mfops.yaml, a FROM
    graph that does not load) or an unreachable server. The last line on failure names the step:
    `gate failed at build: 1 model failed`.

    With --shard K/N the gate builds only the models shard K's part of the (model, case,
    sample) work needs, with their ancestors, tests only that part and writes its JSON
    report to --shard-report (a shard that fails or stops before testing writes one
    saying why, with its exit code);
    `mfops report merge` joins the N reports, and `mfops promote --verdict` promotes
    after the merged verdict. With --promote-to a shard covers the
    release's models but promotes nothing and records nothing.
    """
    if aliases and not promote_to:
        raise click.UsageError("--alias needs --promote-to")
    release = {"to": promote_to, "aliases": list(aliases)} if promote_to else None
    if guard is not None:
        guard.release = release
        guard.written = dry_run  # a dry run writes no report
    candidate_tag = candidate_tag or old_tag
    check_tags(*[t for t in (candidate_tag, promote_to, *aliases) if t])  # before any work
    if candidate_tag:
        check_build_tag(candidate_tag, released_tags(load(Repo.find(explicit=opts.repo))))
    if against is not None:
        check_tag(against)
    check_alpha(alpha)
    check_report_path(junit, "--junit")  # before any tag moves: a bad path is exit 2 now
    check_report_path(html_path, "--html")
    summary_file = check_step_summary()
    options = GateOptions(
        since=since,
        candidate_tag=candidate_tag,
        promote_to=promote_to,
        aliases=aliases,
        all=all_,
        jobs=jobs,
        use_cache=not no_cache,
        allow_untested=allow_untested,
        allow_dirty=allow_dirty,
        dry_run=dry_run,
        against=against,
        alpha=alpha,
        samples=samples,
        shard=spec,
    )
    if guard is not None:
        guard.tag = candidate_tag
    session = open_session(opts, None, timeout, hosts=host)
    if guard is not None:
        guard.repo = session.repo
    if session.pool and promote_to:
        session.close()
        raise click.UsageError(
            "--promote-to on a pool of hosts: promote on one --host (a pool gate builds and "
            "tests only)"
        )
    try:
        report = run_gate(session, options, on_step=_show_step, on_build=_build_line)
        tested = report.step("test")
        wrote = False
        if report.shard is not None and shard_report is not None and not dry_run:
            # what every shard compared with: --against, else in pull-request mode the release
            pr_release = promote_to is None and has_releases(session.repo)
            compared = against or ("release" if pr_release else None)
            summary = tested.data if tested is not None else None
            if summary is not None and summary.report is not None:
                cmp = summary.comparison
                write_shard_report(
                    shard_report,
                    report.shard,
                    session=session,
                    report=summary.report,
                    cmp=cmp,
                    tag=summary.tag,
                    names=report.scope,
                    samples=samples,
                    against=compared,
                    alpha=alpha,
                    release=release,
                )
                wrote = True
            elif report.ok and report.tag is not None:  # nothing in this shard to test
                empty = TestReport(Environment(session.host.display, "", report.tag), ())
                write_shard_report(
                    shard_report,
                    report.shard,
                    session=session,
                    report=empty,
                    cmp=None,
                    tag=report.tag,
                    names=report.scope,
                    samples=samples,
                    against=compared,
                    alpha=alpha,
                    release=release,
                )
                wrote = True
        failed = report.error_line()
        if guard is not None and not dry_run and not wrote and failed:
            # stopped before testing (lint, build, a bad ref...): say so, or the merge
            # calls the shard missing
            guard.tag = report.tag or guard.tag
            stage = report.failed.name if report.failed is not None else None
            try:
                guard.failed(failed, report.exit_code, stage=stage)
            except MfopsError as err:  # said, but the gate's own failure is what it exits with
                click.echo(f"mfops: {err}", err=True)
        elif guard is not None and wrote:
            guard.written = True
    finally:
        session.close()
    tests = report.step("test")
    if tests is not None and tests.data is not None and tests.data.report is not None:
        write_reports(tests.data.report, tests.data.comparison, junit, html_path)
    elif junit is not None:  # a CI step that reads the file must find one
        why = tests.summary if tests is not None else "the gate stopped before its tests"
        try:
            junit.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(junit, empty_junit_xml(why))
        except OSError as err:
            raise report_write_error(junit, "--junit", err) from None
    if summary_file is not None:
        try:
            with open(summary_file, "a", encoding="utf-8") as fh:
                fh.write(markdown(report))
        except OSError as err:
            raise report_write_error(summary_file, "$GITHUB_STEP_SUMMARY", err) from None
    line = report.error_line()
    if report.record:
        click.echo(f"recorded in the history as {report.record} (refs/mfops/history)")
    if line is None:
        click.echo("gate passed" + (" (dry run)" if dry_run else ""))
        return 0
    raise (CheckFailed if report.exit_code == EXIT_CHECK_FAILED else MfopsError)(line)


# --------------------------------------------------------------------------- text


def _build_line(event: Any) -> None:
    if event.kind == "done" and event.result is not None:
        click.echo(f"  {result_line(event.result)}")
        sys.stdout.flush()


def _show_step(step: Step) -> None:
    """The step's status line, then what a reader needs to act on it."""
    click.echo(f"{step.name:<8} {step.status:<8} {step.summary} ({step.seconds:.2f}s)")
    data = step.data
    if data is None:
        return
    if step.name == "lint":
        for finding in data.findings:
            if finding.severity != "info":
                click.echo(f"  {text_line(finding)}")
    elif step.name == "diff":
        for line in render_text(data, stat=True).splitlines()[:-1]:  # the last: the summary
            click.echo(f"  {line.strip()}")
    elif step.name == "build" and step.status == "failed":
        for r in data.results:
            if r.action in ("failed", "skipped"):
                click.echo(f"  {r.target}: {(r.error or '').splitlines()[0] if r.error else ''}")
    elif step.name == "test" and data.report is not None and data.report.results:
        cmp = data.comparison
        text = text_comparison(cmp) if cmp is not None else text_report(data.report)
        for line in text.splitlines():
            click.echo(f"  {line}" if line else "")
    elif step.name == "promote":
        for line in result_text(data, tests=False).splitlines():
            click.echo(f"  {line}")


# --------------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _first(text: str | None) -> str:
    return _cell(text.splitlines()[0]) if text else ""


def markdown(report: GateReport) -> str:
    """The step table, then the diff, the build, the tests and the promotion in Markdown."""
    failed = report.failed
    head = "✅ passed" if failed is None else f"❌ failed at {failed.name}"
    out = [f"## mfops gate: {head}", ""]
    if report.tag:
        out += [
            f"Candidate tag `{report.tag}`"
            + (f", changes since `{report.since}`" if report.since else ""),
            "",
        ]
    out += ["| | Step | Result |", "|---|---|---|"]
    out += [f"| {_MARK[s.status]} | {s.name} | {_cell(s.summary)} |" for s in report.steps]
    out.append("")
    for step in report.steps:
        if step.data is None:
            continue
        findings = [f for f in getattr(step.data, "findings", ()) if f.severity != "info"]
        if step.name == "lint" and findings:
            lint_text = "\n".join(text_line(f) for f in findings)
            out += ["### Lint", "", *fence(lint_text), ""]
        elif step.name == "diff":
            out += [render_markdown(step.data).rstrip("\n"), ""]
        elif step.name == "build":
            out += ["### Build", "", "| Model | Action | Detail |", "|---|---|---|"]
            out += [
                f"| `{r.target}` | {r.action} | {_first(r.error or r.detail)} |"
                for r in step.data.results
            ]
            out.append("")
        elif step.name == "test" and step.data.report is not None:
            cmp = step.data.comparison
            text = (
                markdown_comparison(cmp) if cmp is not None else markdown_report(step.data.report)
            )
            out += [text.rstrip("\n"), ""]
        elif step.name == "promote":
            out += ["### Promotion", "", *fence(result_text(step.data, tests=False)), ""]
    return "\n".join(out) + "\n"
