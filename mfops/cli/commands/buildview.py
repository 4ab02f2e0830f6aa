"""How `mfops build` shows plans and reports: text, JSON, and a live view on terminals.

The library (plan.py, build.py) returns data; this module, part of the CLI, turns it into
output. The live view uses `rich` (imported only when stdout is a terminal); anywhere
else (CI logs, pipes) each model gets one plain line when it finishes.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, TYPE_CHECKING, Any

from mfops.build.plan import REASONS
from mfops.cli.render import rich_console

if TYPE_CHECKING:
    from mfops.build.execute import BuildEvent, BuildReport, ModelResult
    from mfops.build.plan import Plan, PlanItem

_VERB = {"create": "create", "tag": "tag (copy)", "skip": "up to date"}


def _reason(code: str) -> str:
    return REASONS.get(code, code)


def _header(plan: Plan, *, dry_run: bool) -> list[str]:
    n = len(plan.items)
    head = "Plan" if dry_run else "Build"
    lines = [
        f"{head}: {n} model{'s' if n != 1 else ''} to build at tag {plan.tag} "
        f"({plan.tag_origin}) on {plan.host}"
    ]
    if plan.since is not None and plan.since_origin == "--since":
        lines.append(f"Changed since {plan.since} (as --since asked)")
    elif plan.since is not None:
        lines.append(f"Changed since {plan.since}: {plan.since_origin}")
    elif plan.since_origin is not None:
        lines.append(f"Changed: {plan.since_origin}")
    lines += [f"note: {note}" for note in plan.notes]
    return lines


def plan_text(plan: Plan, *, explain: bool = False) -> str:
    """The `--dry-run` output: steps (what can run in parallel), action, reason, per model."""
    lines = _header(plan, dry_run=True)
    width = max((len(i.target) for i in plan.items), default=0)
    for number, step in enumerate(plan.steps, 1):
        par = f" ({len(step)} in parallel)" if len(step) > 1 else ""
        lines.append("")
        lines.append(f"step {number}{par}:")
        for item in step:
            what = f"{_VERB[item.action]:<11} {item.target:<{width}}  {_reason(item.reason)}"
            if item.copy_from:
                what += f" (copy of {item.copy_from})"
            lines.append("  " + what)
            if explain:
                lines += [f"      {line}" for line in item.explain or (item.detail,)]
    if not plan.items:
        lines.append("")
        lines.append("Nothing to build.")
    if plan.up_to_date:
        names = ", ".join(i.target for i in plan.up_to_date[:8])
        more = f" and {len(plan.up_to_date) - 8} more" if len(plan.up_to_date) > 8 else ""
        lines.append("")
        lines.append(f"up to date ({len(plan.up_to_date)}): {names}{more}")
    return "\n".join(lines) + "\n"


def _item_json(item: PlanItem) -> dict[str, Any]:
    return {
        "model": item.name,
        "tag": item.target.rpartition(":")[2],
        "target": item.target,
        "action": item.action,
        "reason": item.reason,
        "detail": item.detail,
        "digest": item.digest,
        "from": item.from_,
        "copy_from": item.copy_from,
        "depends_on": item.parent,
        "step": item.step,
        "explain": list(item.explain),
    }


def _base_json(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "reference": b.reference,
            "locked": b.locked,
            "server": b.server,
            "state": b.state,
            "used_by": list(b.used_by),
        }
        for b in plan.bases
    ]


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "dry_run": True,
        "host": plan.host,
        "tag": plan.tag,
        "tag_origin": plan.tag_origin,
        "since": plan.since,
        "since_origin": plan.since_origin,
        "notes": list(plan.notes),
        "steps": [[i.target for i in step] for step in plan.steps],
        "models": [_item_json(i) for i in plan.items],
        "up_to_date": [_item_json(i) for i in plan.up_to_date],
        "bases": _base_json(plan),
    }


def result_line(res: ModelResult) -> str:
    """One plain line per finished model (CI logs)."""
    if res.action in ("created", "tagged"):
        return f"{res.action:<8} {res.target}  {res.seconds:.2f}s  ({_reason(res.reason)})"
    if res.action == "failed":
        first = (res.error or "").splitlines()[0] if res.error else ""
        return f"FAILED   {res.target}  {first}"
    return f"{res.action:<8} {res.target}  {res.error or res.detail}"


def header_text(plan: Plan) -> str:
    """What is about to be built; printed before the builds start."""
    return "\n".join(_header(plan, dry_run=False)) + "\n"


def report_text(report: BuildReport, *, explain: bool = False, header: bool = True) -> str:
    """The summary table after a build, then the errors in full (`header`: the plan's
    heading first, when it was not printed before the builds)."""
    rows = [r for r in report.results if r.action != "up to date"]
    lines = _header(report.plan, dry_run=False) if header else []
    if rows:
        width = max(len(r.target) for r in rows)
        lines.append("")
        lines.append(f"{'model':<{width}}  {'action':<8}  {'reason':<17}  time")
        for r in rows:
            secs = f"{r.seconds:.2f}s" if r.action in ("created", "tagged", "failed") else "-"
            lines.append(f"{r.target:<{width}}  {r.action:<8}  {_reason(r.reason):<17}  {secs}")
    failures = [r for r in rows if r.action in ("failed", "skipped")]
    if failures:
        lines.append("")
    for r in failures:
        text = (r.error or "").replace("\n", "\n    ")
        lines.append(f"{r.target}: {text}")
    if explain:
        items = {i.name: i for i in report.plan.items}
        for r in rows:
            item = items.get(r.name)
            if item is not None and item.explain:
                lines.append(f"why {r.target}:")
                lines += [f"    {x}" for x in item.explain]
    counts = [
        f"{report.count(a)} {a}"
        for a in ("created", "tagged", "up to date", "failed", "skipped")
        if report.count(a)
    ]
    lines.append("")
    lines.append((", ".join(counts) or "nothing to do") + f" in {report.seconds:.2f}s")
    return "\n".join(lines) + "\n"


def report_json(report: BuildReport) -> dict[str, Any]:
    plan = report.plan
    items = {i.name: i for i in plan.items}
    models = []
    for r in report.results:
        item = items.get(r.name)
        models.append(
            {
                "model": r.name,
                "tag": plan.tag,
                "target": r.target,
                "action": r.action,
                "reason": r.reason,
                "detail": r.detail,
                "seconds": r.seconds,
                "digest": r.digest,
                "manifest": r.manifest,
                "error": r.error,
                "mismatches": [
                    {
                        "field": m.field,
                        "expected": m.expected,
                        "actual": m.actual,
                        "origin": m.origin,
                    }
                    for m in r.mismatches
                ],
                "explain": list(item.explain) if item else [],
            }
        )
    return {
        "dry_run": False,
        "host": plan.host,
        "tag": plan.tag,
        "tag_origin": plan.tag_origin,
        "since": plan.since,
        "since_origin": plan.since_origin,
        "notes": list(plan.notes),
        "seconds": report.seconds,
        "ok": not report.failed,
        # keys are identifiers (`up_to_date`, as the dry run's key), values read as text
        "summary": {
            a.replace(" ", "_"): report.count(a)
            for a in ("created", "tagged", "up to date", "failed", "skipped")
        },
        "models": models,
        "bases": _base_json(plan),
    }


class PlainProgress:
    """One line per finished model, for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: BuildEvent) -> None:
        if event.kind == "done" and event.result is not None:
            print(result_line(event.result), file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LiveProgress:
    """A status line per running model on a terminal (rich), refreshed from the streams."""

    def __init__(self, color: bool | None = None) -> None:
        from rich.live import Live

        self._lock = threading.Lock()
        self._running: dict[str, str] = {}
        self._done: list[str] = []
        self.console = rich_console(color, stderr=False)
        self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
        self.live.start()

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        for target, status in list(self._running.items())[-20:]:
            table.add_row(Text("building", style="cyan"), Text(target), Text(status[:70]))
        return table

    def __call__(self, event: BuildEvent) -> None:
        with self._lock:
            if event.kind == "start":
                self._running[event.target] = event.status
            elif event.kind == "progress":
                status = event.status
                if event.total:
                    status += f" {100 * (event.completed or 0) // event.total}%"
                self._running[event.target] = status
            elif event.result is not None:
                self._running.pop(event.target, None)
                self.live.update(self._render(), refresh=True)  # printing shows the live area
                self.live.console.print(result_line(event.result), highlight=False, markup=False)
                return
            self.live.update(self._render())

    def close(self) -> None:
        self.live.stop()
