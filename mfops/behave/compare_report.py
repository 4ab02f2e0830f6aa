"""Reports of a comparison (compare.py): text, JSON, Markdown and JUnit.

The question a reviewer asks is "is the candidate worse than what is in production?", so
every form names the regressions first, then the other changed verdicts, then the rest; each
case carries both sides' pass counts with their Wilson intervals and the p-values (raw and
Holm-adjusted). The candidate's own report (its cases against their `pass_rate`) follows,
because a comparison never excuses a failure. The HTML page is in html.py.
"""

from __future__ import annotations

from typing import Any

from mfops.behave.compare import VERDICTS, CaseComparison, Comparison
from mfops.behave.report import (
    case_stats,
    json_report,
    junit_xml,
    markdown_report,
    stats_text,
    table_cell,
    text_report,
)
from mfops.behave.runner import CASE_DEADLINE, DEFAULT_NUM_PREDICT
from mfops.fileio.markdown import code_span

_WORD = {
    "regressed": "REGRESSED",
    "improved": "IMPROVED",
    "unchanged": "same",
    "underpowered": "UNDERPOWERED",
    "new": "new",
    "no baseline": "no baseline",
    "error": "ERROR",
}
_ICON = {
    "regressed": "❌",
    "improved": "⬆️",
    "unchanged": "➖",
    "underpowered": "❔",
    "new": "🆕",
    "no baseline": "⏭️",
    "error": "⚠️",
}


def ordered(cmp: Comparison) -> list[CaseComparison]:
    """Regressions first, then errors, improvements, underpowered, unchanged, the rest."""
    rank = {v: i for i, v in enumerate(VERDICTS)}
    return sorted(cmp.cases, key=lambda c: rank[c.verdict])


def p_text(c: CaseComparison) -> str:
    if c.p_worse is None:
        return ""
    p, adj = (
        (c.p_better, c.adjusted_better)
        if c.verdict == "improved"
        else (c.p_worse, c.adjusted_worse)
    )
    return f"p={p:.3g}, Holm-adjusted {adj:.3g}"


def baseline_text(c: CaseComparison) -> str:
    if c.baseline is None:
        return c.reason or "no baseline"
    return stats_text(c.baseline)


def detail(c: CaseComparison) -> str:
    """`14/20 ... vs 20/20 ... (p=..)` or the reason the case has no statistics."""
    cand = stats_text(c.candidate) or (c.candidate.error or "did not run")
    if c.baseline is None or c.verdict in ("error",):
        return f"{cand}; {c.reason or 'no baseline'}"
    text = f"candidate {cand} vs baseline {baseline_text(c)}"
    if c.verdict == "underpowered" and c.reason:
        return f"{text}; {c.reason}"
    p = p_text(c)
    return f"{text}; {p}" if p else text


def header(cmp: Comparison) -> str:
    env = cmp.candidate.env
    sources = sorted({b.source or str(b.tag) for b in cmp.baselines.values() if b.tag})
    against = ", ".join(sources) or "nothing"
    return (
        f"Comparing tag {env.tag} with {against} on {env.host} "
        f"(Ollama {env.server_version or 'unknown'}); alpha {cmp.alpha:g}, "
        f"Holm over {cmp.tested()} case{'s' if cmp.tested() != 1 else ''}; both sides' "
        f"replies capped at num_predict {DEFAULT_NUM_PREDICT} unless a suite or the model sets it, "
        f"{CASE_DEADLINE:g} s per chat"
    )


def baseline_lines(cmp: Comparison) -> list[str]:
    """One line per model without a usable baseline, and how each model's was chosen."""
    out = []
    for model, b in sorted(cmp.baselines.items()):
        if b.tag is None:
            out.append(f"{model}: {b.reason or 'no baseline'}")
        elif b.source and not b.source.startswith("--against"):
            out.append(f"{model}: compared with {model}:{b.tag} ({b.source})")
    return out


def power_note(cmp: Comparison) -> str | None:
    need = cmp.holm_samples()
    if need is None or cmp.tested() < 2:
        return None
    return (
        f"with {cmp.tested()} cases tested at once, a case needs at least {need} samples per "
        f"side before even a total collapse can count as a regression"
    )


# --------------------------------------------------------------------------- text


def text_comparison(cmp: Comparison, *, color: bool = False, verbose: bool = False) -> str:
    paint = {"regressed": "\x1b[31m", "improved": "\x1b[32m", "error": "\x1b[33m"}
    lines = [header(cmp)]
    lines += [f"  {x}" for x in baseline_lines(cmp)]
    lines.append("")
    width = min(48, max((len(c.candidate.run.case.name) for c in cmp.cases), default=0))
    for c in ordered(cmp):
        word = f"{_WORD[c.verdict]:<12}"
        if color and c.verdict in paint:
            word = f"{paint[c.verdict]}{word}\x1b[0m"
        run = c.candidate.run
        lines.append(f"  {word} {run.model}: {run.case.name:<{width}}  {run.origin}")
        lines.append(f"               {detail(c)}")
    lines += ["", cmp.summary()]
    note = power_note(cmp)
    if note:
        lines.append(f"note: {note}")
    lines += [
        "",
        "Candidate against its own pass rates:",
        text_report(cmp.candidate, color=color, verbose=verbose).rstrip(),
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- json


def _side(r: Any) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"target": r.target, "status": r.status, "manifest": r.manifest, **case_stats(r)}


def case_json(c: CaseComparison) -> dict[str, Any]:
    run = c.candidate.run
    return {
        "id": run.id,
        "model": run.model,
        "suite": run.suite.path,
        "case": run.case.name,
        "line": run.case.line,
        "verdict": c.verdict,
        "reason": c.reason,
        "candidate": _side(c.candidate),
        "baseline": _side(c.baseline),
        "p_worse": c.p_worse,
        "p_better": c.p_better,
        "p_worse_holm": c.adjusted_worse,
        "p_better_holm": c.adjusted_better,
        "samples_needed": c.needed,
    }


def json_comparison(cmp: Comparison) -> dict[str, Any]:
    return {
        "ok": cmp.ok,
        "alpha": cmp.alpha,
        "correction": "holm",
        "against": {
            m: {"tag": b.tag, "reason": b.reason, "new": b.new, "source": b.source}
            for m, b in sorted(cmp.baselines.items())
        },
        "summary": {
            **{v: cmp.count(v) for v in VERDICTS},
            "cases": len(cmp.cases),
            "tested": cmp.tested(),
            "holm_samples_needed": cmp.holm_samples(),
        },
        "cases": [case_json(c) for c in ordered(cmp)],
        "candidate": json_report(cmp.candidate),
        "baseline": json_report(cmp.baseline),
    }


# --------------------------------------------------------------------------- markdown


def _row(c: CaseComparison) -> str:
    run = c.candidate.run
    cand = stats_text(c.candidate) or "-"
    base = baseline_text(c) if c.baseline is not None else (c.reason or "-")
    return (
        f"| {_ICON[c.verdict]} {c.verdict} | {code_span(run.model)} | {table_cell(run.case.name)} "
        f"| {table_cell(cand)} | {table_cell(base)} | {table_cell(p_text(c) or (c.reason or ''))} |"
    )


def markdown_comparison(cmp: Comparison) -> str:
    """A PR comment: the verdict, a table of changed verdicts first, then every case, then
    the candidate's own report."""
    verdict = "passed" if cmp.ok else "failed"
    icon = "✅" if cmp.ok else "❌"
    lines = [
        f"## mfops test against the release: {icon} {verdict}",
        "",
        f"{table_cell(header(cmp))}.",
        "",
    ]
    lines += [f"- {table_cell(x)}" for x in baseline_lines(cmp)]
    head = ["| Verdict | Model | Case | Candidate | Baseline | p |", "|---|---|---|---|---|---|"]
    changed = [c for c in ordered(cmp) if c.changed]
    lines += ["", "### Changed verdicts", ""]
    lines += head + [_row(c) for c in changed] if changed else ["No case changed verdict."]
    lines += ["", f"<details><summary>All {len(cmp.cases)} cases</summary>", ""]
    lines += head + [_row(c) for c in ordered(cmp)] + ["", "</details>", ""]
    lines += [f"**{table_cell(cmp.summary())}**", ""]
    note = power_note(cmp)
    if note:
        lines += [f"> note: {note}", ""]
    own = markdown_report(cmp.candidate)
    lines.append(own.replace("## mfops test:", "### Candidate against its own pass rates:", 1))
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- junit


def junit_comparison(cmp: Comparison) -> str:
    """The candidate's JUnit report with each regression as a <failure type="regression">."""
    extra = {
        c.id: ("regression", f"regressed against the baseline: {detail(c)}")
        for c in cmp.regressions
    }
    return junit_xml(cmp.candidate, extra)
