"""`mfops promote (NAME... | --all) --from TAG --to TAG [--alias A ...]`: gated promotion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mfops.behave import json_report
from mfops.behave.compare import check_alpha
from mfops.behave.compare_report import text_comparison
from mfops.behave.report import text_report
from mfops.build.plan import candidate_tag, check_tag
from mfops.cli.commands.serveropts import open_session, server_options
from mfops.cli.commands.shardopts import ci_run
from mfops.cli.commands.test import write_reports
from mfops.cli.render import to_json
from mfops.errors import CheckFailed, MfopsError
from mfops.fileio.jsonfile import loads_json
from mfops.fileio.regular import read_regular
from mfops.fileio.reportpath import check_report_path
from mfops.graph.revision import Revision
from mfops.release.promote import (
    PromoteInterrupted,
    PromoteRequest,
    preview_promote,
    promote,
    target_of,
)
from mfops.release.sharded import VerdictUse, verdict_tester
from mfops.release.verdict import comparing_tester, suite_tester

if TYPE_CHECKING:
    from mfops.release.promote import Preview, Result


@click.command("promote")
@click.argument("names", nargs=-1, metavar="[NAME...]")
@click.option("--all", "all_", is_flag=True, help="Every model of the repo.")
@click.option(
    "--from",
    "from_tag",
    metavar="TAG",
    help="The candidate tag to promote (default: HEAD's candidate, sha-<12 hex of HEAD>).",
)
@click.option(
    "--to", "to_tag", required=True, metavar="TAG", help="The release tag to create (e.g. v1.1)."
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    metavar="TAG",
    help="Also point this alias at the release (e.g. latest, prod); repeatable.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Test requests at once (default: defaults.jobs in mfops.yaml, 4).",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also write the test results as JUnit XML to PATH.",
)
@click.option("--no-cache", is_flag=True, help="Run every test case afresh.")
@click.option(
    "--allow-untested",
    is_flag=True,
    help="Promote models that have no test cases (with a warning).",
)
@click.option(
    "--allow-drift",
    is_flag=True,
    help="Promote a candidate built from other content than the repo now describes, "
    "or changed on the server since it was built (with a warning).",
)
@click.option(
    "--overwrite", is_flag=True, help="Let --to replace an existing tag that holds another model."
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Promote a candidate built from uncommitted changes (recorded as dirty).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print which tags would move and which suites would run."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--against",
    metavar="TAG",
    help="Also refuse when a case regresses against NAME:TAG (same seeds; one-sided Fisher "
    "exact test, Holm-corrected), e.g. the release being replaced.",
)
@click.option(
    "--alpha",
    type=float,
    default=0.05,
    show_default=True,
    help="With --against: the significance level, in (0, 1).",
)
@click.option(
    "--verdict",
    "verdict_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Take each model's test verdict from this merged verdict (`mfops report merge "
    "--json`) when it comes from this workflow run, ran this promotion's own test (its "
    "--against and alpha, the suites' sample counts) and the model's content here is what "
    "the shards tested; every other model is tested again.",
)
@server_options
@click.pass_obj
def command(
    opts: Any,
    names: tuple[str, ...],
    all_: bool,
    from_tag: str | None,
    to_tag: str,
    aliases: tuple[str, ...],
    jobs: int | None,
    junit: Path | None,
    no_cache: bool,
    allow_untested: bool,
    allow_drift: bool,
    overwrite: bool,
    allow_dirty: bool,
    dry_run: bool,
    fmt: str,
    against: str | None,
    alpha: float,
    verdict_path: Path | None,
    host: str | None,
    timeout: float,
) -> int:
    """Promote tested candidates to a release tag, all or nothing.

    Runs every applicable suite (each model's own and those it inherits) against
    NAME:FROM; only when all pass are NAME:TO and each alias pointed at exactly the tested
    models, parents first. If a copy fails mid-way, the tags already moved are put back (a
    tag that did not exist is deleted again). Refused before testing: a candidate missing on
    the server; one mfops built from other content than the repo now describes, or that was
    changed on the server since (--allow-drift); a dirty candidate, built from uncommitted
    changes (--allow-dirty); an existing TO holding another model (--overwrite). Refused
    after testing: any failed or errored case, and models with no cases (--allow-untested),
    and with --against TAG any case whose pass rate is significantly lower than on
    NAME:TAG. Every attempt is recorded in git (refs/mfops/history): see `mfops history`.

    Exit codes: 0 promoted; 1 refused, or the copy failed (the tags were put back); 2 bad
    input, an invalid suite, or an unreachable server.
    """
    if bool(names) == all_:
        raise click.UsageError("give model NAMEs or --all (exactly one of them)")
    check_report_path(junit, "--junit")  # before any tag moves: a bad path is exit 2 now
    if against is not None:
        check_tag(against)
        check_alpha(alpha)
    session = open_session(opts, host, timeout)
    try:
        session.probe()
        rev = Revision(session.repo, None)
        selected = tuple(rev.graph.order) if all_ else names
        if from_tag is None:
            from_tag = candidate_tag(session.repo, rev.snapshot.config.defaults.candidate_tag)[0]
        req = PromoteRequest(
            selected,
            from_tag,
            to_tag,
            aliases,
            allow_untested=allow_untested,
            allow_drift=allow_drift,
            overwrite=overwrite,
            allow_dirty=allow_dirty,
        )
        target = target_of(session.server, session.repo, session.host.identity)
        if dry_run:
            preview = preview_promote(target, rev, req)
            click.echo(
                to_json(preview_json(preview)) if fmt == "json" else preview_text(preview), nl=False
            )
            return 0
        if against is not None:
            tester = comparing_tester(
                session, rev, against, alpha=alpha, jobs=jobs, use_cache=not no_cache
            )
        else:
            tester = suite_tester(session, rev, jobs=jobs, use_cache=not no_cache)
        use = VerdictUse()
        if verdict_path is not None:
            tester = verdict_tester(
                session.server,
                rev,
                read_verdict(verdict_path),
                tester,
                run=ci_run(),
                commit=session.repo.head_commit(),
                label=str(verdict_path),
                use=use,
                against=against,
                alpha=alpha,
            )
        try:
            result = promote(target, rev, req, tester)
        except PromoteInterrupted as stop:  # recorded as promoted (or refused): say so
            _show(stop.result, fmt)
            raise
        for note in use.notes:
            click.echo(f"note: {note}", err=True)
        if use.used:
            click.echo(
                f"verdict {verdict_path} decided {', '.join(use.used)} (tested by the shards)",
                err=True,
            )
    finally:
        session.close()
    write_junit(result, junit)
    _show(result, fmt)
    return finish(result)


def _show(result: Result, fmt: str) -> None:
    if fmt == "json":
        click.echo(to_json(result_json(result)))
    else:
        click.echo(result_text(result), nl=False)


def preview_text(preview: Preview) -> str:
    """`--dry-run`: each tag's move, the suites that would run, and what would refuse it."""
    lines = [f"Dry run of {preview.kind} (nothing is tested, moved or recorded):"]
    for m in preview.moves:
        change = (
            f"{_short(m.before)} -> {_short(m.after)}"
            if m.moves
            else f"{_short(m.after)} (already there)"
        )
        lines.append(f"  {m.destination}: {change}  (copy of {m.source})")
    if preview.tests:
        lines.append(
            f"suites would run for: {', '.join(f'{n}:{preview.tag}' for n in preview.tests)}"
        )
    lines += [f"warning: {w}" for w in preview.warnings]
    lines += [f"would refuse: {p}" for p in preview.problems]
    return "\n".join(lines) + "\n"


def preview_json(preview: Preview) -> dict[str, Any]:
    return {
        "dry_run": True,
        "kind": preview.kind,
        "tag": preview.tag,
        "moves": [
            {"destination": m.destination, "source": m.source, "before": m.before, "after": m.after}
            for m in preview.moves
        ],
        "tests": list(preview.tests),
        "problems": list(preview.problems),
        "warnings": list(preview.warnings),
    }


def write_junit(result: Result, path: Path | None) -> None:
    if path is not None and result.tests is not None and result.tests.report is not None:
        write_reports(result.tests.report, result.tests.comparison, path, None)


def finish(result: Result) -> int:
    """Exit 0 when the tags moved; otherwise raise the one-line refusal (exit 1)."""
    if result.ok:
        return 0
    raise CheckFailed(result.reason or "promotion refused")


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "absent"


def result_text(result: Result, *, tests: bool = True) -> str:
    """The tests (failures in detail; not with `tests=False`), then what moved or why
    nothing did."""
    entry = result.entry
    lines: list[str] = []
    summary = result.tests if tests else None
    if summary is not None and summary.report is not None and summary.report.results:
        if summary.comparison is not None:
            lines.append(text_comparison(summary.comparison).rstrip("\n"))
        else:
            lines.append(text_report(summary.report).rstrip("\n"))
        lines.append("")
    lines += [f"warning: {w}" for w in result.warnings]
    if entry.ok:
        verb = "Promoted" if entry.kind == "promote" else "Rolled back"
        lines.append(
            f"{verb} {len(entry.models)} model{'s' if len(entry.models) != 1 else ''}"
            f" on {entry.host}:"
        )
        for model in entry.models:
            for d in model.destinations:
                what = "moved" if d.moved else "already there"
                lines.append(
                    f"  {model.name}:{d.tag} -> {model.source} "
                    f"({_short(d.after)}; was {_short(d.before)}; {what})"
                )
    else:
        lines += [f"problem: {p}" for p in result.problems]
        if result.moves is not None and result.moves.restore_errors:
            lines += [f"NOT PUT BACK: {e}" for e in result.moves.restore_errors]
        lines.append(
            "No tag was moved."
            if entry.restored in (None, True)
            else "Some tags could not be put back; see above."
        )
    if entry.dirty:
        lines.append("note: recorded as dirty (built from uncommitted changes)")
    lines.append(f"recorded in the history as {entry.id} (refs/mfops/history)")
    return "\n".join(lines) + "\n"


def result_json(result: Result) -> dict[str, Any]:
    tests = result.tests
    out = result.entry.to_json()
    out.update(ok=result.ok, problems=list(result.problems), warnings=list(result.warnings))
    if result.moves is not None:
        out["restore_errors"] = list(result.moves.restore_errors)
        out["backups_kept"] = list(result.moves.backups_kept)
    out["test_report"] = json_report(tests.report) if tests and tests.report else None
    return out


def read_verdict(path: Path) -> Any:
    """The merged verdict file (a malformed one is exit 2; its content is checked later)."""
    try:
        raw = read_regular(path)
    except OSError as err:
        raise MfopsError(f"cannot read --verdict {path}: {err.strerror or err}") from None
    return loads_json(raw, str(path), what="a merged verdict")
