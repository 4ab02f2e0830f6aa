"""`--shard K/N` and `--shard-report PATH`, shared by `mfops test` and `mfops gate`."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
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
from mfops.cli.render import output_closed, to_json
from mfops.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, MfopsError, OutputClosed
from mfops.fileio.atomic import write_atomic
from mfops.fileio.reportpath import check_report_path, report_write_error
from mfops.repo.repository import Repo
from mfops.server.hosts import redact


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
    release: dict[str, Any] | None = None,
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
        release=release,
    )
    _write(path, doc)


class ShardGuard:
    """What a shard knows about itself so far, for the report it writes when it does not
    complete: the repository (once opened) and the candidate tag (once known). `written`:
    a report is at the path already (the complete one, or a failed one)."""

    def __init__(self, spec: ShardSpec, path: Path, explicit_repo: Any) -> None:
        self.spec = spec
        self.path = path
        self.explicit_repo = explicit_repo
        self.repo: Any = None
        self.tag: str | None = None
        self.release: dict[str, Any] | None = None
        self.written = False
        #: the reason and stage of the failed report written, if one was
        self.failure: tuple[str, str | None] | None = None

    def failed(self, why: str, exit_code: int, *, stage: str | None = None) -> None:
        """Write the report of a shard that did not complete (shard.failed_block): what is
        known of its identity, the one-line reason (redacted: a host URL may carry
        credentials) and the exit code it exits with."""
        commit, dirty = _identity(self.repo, self.explicit_repo)
        line = redact(why.strip().splitlines()[0] if why.strip() else "stopped")
        block = failed_block(
            self.spec,
            line,
            exit_code=exit_code,
            commit=commit,
            dirty=dirty,
            tag=self.tag,
            run=ci_run(),
            stage=stage,
            release=self.release,
        )
        _write(self.path, {"cases": [], "shard": block})
        self.written = True
        self.failure = (line, stage)


def _identity(repo: Any, explicit: Any) -> tuple[str | None, bool | None]:
    """The commit HEAD is and whether the tree is dirty, as far as they can be learnt
    (None where not: no git repository, no commit yet)."""
    try:
        if repo is None:
            repo = Repo.find(explicit=explicit)
        commit = repo.head_commit()
    except (MfopsError, OSError):
        return None, None
    if commit is None:  # not a git repository, or no commit yet: nothing to be dirty against
        return None, None
    try:
        return commit, bool(repo.is_dirty())
    except (MfopsError, OSError):
        return commit, None


def _stopped(exc: BaseException) -> tuple[str, int] | None:
    """The one-line reason and exit code the CLI (main.py) gives for `exc`, None for an
    exception that is not a stop (click's normal exit)."""
    if isinstance(exc, click.exceptions.Exit):
        return None
    if isinstance(exc, MfopsError):
        return str(exc), exc.exit_code
    if isinstance(exc, OutputClosed) or output_closed(exc):
        return OutputClosed.why, OutputClosed.exit_code
    if isinstance(exc, click.UsageError):
        return exc.format_message(), EXIT_USAGE
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code if exc.exit_code != 1 else EXIT_USAGE
    if isinstance(exc, (KeyboardInterrupt, click.exceptions.Abort)):
        cause = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else exc
        signum = getattr(cause, "signum", None)
        if signum:
            return f"interrupted ({cause})", 128 + signum
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, Exception):
        return f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL
    return None


@contextmanager
def shard_guard(
    spec: ShardSpec | None, path: Path | None, explicit_repo: Any
) -> Iterator[ShardGuard | None]:
    """Around a shard's work: when it stops with an error or an interrupt before a report
    was written, write the failed report (ShardGuard.failed) and let the error go on, so
    the shard exits as it would have. Without --shard: nothing.

    A closed stdout or stderr (BrokenPipeError) replaces even a report already written: the
    process then exits 141 (errors.OutputClosed), so a complete report would say "passed"
    (or a failed one another exit code) of a shard whose process failed. The failed report
    keeps an earlier failure's reason and stage, and says what came after."""
    if spec is None or path is None:
        yield None
        return
    guard = ShardGuard(spec, path, explicit_repo)
    try:
        yield guard
    except BaseException as exc:
        stop = _stopped(exc)
        closed = isinstance(exc, OutputClosed) or output_closed(exc)
        if stop is not None and (closed or not guard.written):
            why, code = stop
            stage = None
            if closed and guard.failure is not None:
                why, stage = f"{guard.failure[0]}; then {why}", guard.failure[1]
            # best effort: when the report cannot be written either (its path fails, git
            # does not answer), the error that stopped the shard is still the one raised
            with suppress(Exception):
                guard.failed(why, code, stage=stage)
        raise


def shard_guarded(fn: Callable[..., int]) -> Callable[..., int]:
    """A command with `shard_options`, run inside `shard_guard` so that a shard that stops
    still writes its report; it is given the parsed `spec` and the `guard` (None without
    --shard) besides its options. Put it right above the function (below `pass_obj`)."""

    @functools.wraps(fn)
    def run(opts: Any, **params: Any) -> int:
        spec = check_shard(params["shard"], params["shard_report"])
        with shard_guard(spec, params["shard_report"], opts.repo) as guard:
            return fn(opts, spec=spec, guard=guard, **params)

    return run


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
