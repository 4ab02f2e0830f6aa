"""`--shard K/N` and `--shard-report PATH`, shared by `mfops test` and `mfops gate`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from mfops.behave.compare_report import json_comparison
from mfops.behave.report import json_report
from mfops.behave.shard import (
    ShardPlan,
    ShardSpec,
    failed_block,
    parse_shard,
    shard_block,
    shard_contents,
)
from mfops.cli.render import to_json
from mfops.errors import MfopsError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.reportpath import check_report_path, report_write_error


def shard_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--shard K/N` and `--shard-report PATH` to a command."""
    fn = click.option(
        "--shard-report",
        "shard_report",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="PATH",
        help="With --shard: write this shard's JSON report (for `mfops report merge`) to PATH.",
    )(fn)
    return click.option(
        "--shard",
        "shard",
        metavar="K/N",
        help="Run only shard K of N of the (model, case, sample) work, split by expected "
        "cost; merge the N reports with `mfops report merge`.",
    )(fn)


def check_shard(shard: str | None, report: Path | None) -> ShardSpec | None:
    """The parsed `--shard`, checked with its report path before any work (exit 2)."""
    if shard is None:
        if report is not None:
            raise click.UsageError("--shard-report needs --shard")
        return None
    spec = parse_shard(shard)
    if report is None:
        raise click.UsageError("--shard needs --shard-report PATH (the report merge reads)")
    check_report_path(report, "--shard-report")
    return spec


def ci_run() -> dict[str, str | None]:
    """The GitHub Actions run this process belongs to (None outside Actions)."""
    return {
        "id": os.environ.get("GITHUB_RUN_ID") or None,
        "attempt": os.environ.get("GITHUB_RUN_ATTEMPT") or None,
        "repository": os.environ.get("GITHUB_REPOSITORY") or None,
    }


def write_shard_report(
    path: Path,
    plan: ShardPlan,
    *,
    session: Any,
    report: Any,
    cmp: Any,
    tag: str,
    names: Sequence[str],
    samples: int | None,
    against: str | None,
    alpha: float,
) -> None:
    """The shard's JSON report: the usual report (or comparison) plus its `shard` block.
    Call while the session is open: the models' content is read back from the server."""
    repo = session.repo
    doc = json_comparison(cmp) if cmp is not None else json_report(report)
    results = cmp.candidate.results if cmp is not None else report.results
    try:
        contents = shard_contents(session.server, results)
        baselines = shard_contents(session.server, cmp.baseline.results) if cmp else {}
    except MfopsError as err:
        raise MfopsError(f"cannot read back the tested models: {err}") from None
    doc["shard"] = shard_block(
        plan,
        commit=repo.head_commit(),
        dirty=repo.is_dirty(),
        tag=tag,
        names=names,
        samples=samples,
        against=against,
        alpha=alpha,
        run=ci_run(),
        contents=contents,
        baselines=baselines,
    )
    _write(path, doc)


def write_failed_shard_report(
    path: Path, spec: ShardSpec, why: str, *, repo: Any, tag: str | None
) -> None:
    """A shard whose gate failed before testing still leaves a report, saying why, so the
    merge names that failure (exit 1) instead of calling the shard missing."""
    doc = {
        "cases": [],
        "shard": failed_block(spec, why, commit=repo.head_commit(), tag=tag, run=ci_run()),
    }
    _write(path, doc)


def _write(path: Path, doc: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, to_json(doc) + "\n")
    except OSError as err:
        raise report_write_error(path, "--shard-report", err) from None


def shard_note(plan: ShardPlan) -> str:
    return (
        f"shard {plan.spec}: {len(plan.units)} of {plan.total_units} samples "
        f"(cost {plan.cost:g} of {plan.total_cost:g}); the verdict is `mfops report merge`'s"
    )
