"""`--html PATH`: one self-contained page to look at a test run or a comparison.

A reviewer wants to *see* what changed: per case the verdict and statistics, and the two
sides' outputs for the same seed next to each other with the differences marked. The page
is one file (CSS and script inline, nothing loaded from anywhere), so it can be uploaded as
a CI artifact and opened offline.

Model output and suite text are untrusted: every piece of text goes through
`html.escape` (quotes included), nothing is ever inserted as markup, and the page carries a
Content-Security-Policy that allows nothing but its own inline style and script, named by
their sha256 hashes (`default-src 'none'`): even if some text slipped through unescaped,
no other script would run and nothing could be fetched or sent.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import re
from html import escape
from typing import TYPE_CHECKING

from mfops.behave.compare_report import (
    baseline_lines,
    baseline_text,
    detail,
    header,
    ordered,
    p_text,
    power_note,
)
from mfops.behave.report import answered_by, stats_text, summary_line

if TYPE_CHECKING:
    from mfops.behave.compare import CaseComparison, Comparison
    from mfops.behave.results import CaseResult, SampleResult, TestReport

#: Sample pairs shown per case (the failing ones first).
MAX_PAIRS = 5
_OUTPUT_LIMIT = 20_000

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}
.v-regressed,.v-failed,.v-error{color:#b42318;font-weight:600}
.v-improved,.v-passed{color:#1a7f37;font-weight:600}.v-underpowered{color:#9a6700}
.case{border:1px solid #d0d7de;border-radius:6px;margin:1em 0;padding:.5em 1em}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em;margin:.5em 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.5em;margin:0}
del{background:#ffd7d5;text-decoration:line-through}ins{background:#ccffd8;text-decoration:none}
.hidden{display:none}.meta{color:#57606a}
""".strip()

SCRIPT = """
(function(){document.documentElement.setAttribute('data-ready','1');
var b=document.getElementById('only-changed');if(!b)return;
b.addEventListener('change',function(){var cs=document.querySelectorAll('.case');
for(var i=0;i<cs.length;i++){var c=cs[i];
c.classList.toggle('hidden',b.checked&&c.getAttribute('data-changed')!=='1');}});})();
""".strip()


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = f"default-src 'none'; style-src {_hash(STYLE)}; script-src {_hash(SCRIPT)}; " + (
    "img-src 'none'; base-uri 'none'; form-action 'none'"
)


def e(text: object) -> str:
    """Escaped text (quotes too), safe in element content and attribute values."""
    return escape(str(text), quote=True)


def _clip(text: str) -> str:
    return text if len(text) <= _OUTPUT_LIMIT else text[:_OUTPUT_LIMIT] + "…"


def diff_html(old: str, new: str) -> tuple[str, str]:
    """Both texts escaped, with words only in `old` in <del> and only in `new` in <ins>."""
    a, b = re.findall(r"\s+|\S+", _clip(old)), re.findall(r"\s+|\S+", _clip(new))
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        x, y = e("".join(a[i1:i2])), e("".join(b[j1:j2]))
        if op == "equal":
            left.append(x)
            right.append(y)
            continue
        if x:
            left.append(f"<del>{x}</del>")
        if y:
            right.append(f"<ins>{y}</ins>")
    return "".join(left), "".join(right)


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head><body>",
            *body,
            f"<script>{SCRIPT}</script>",
            "</body></html>",
            "",
        ]
    )


def _sample_block(s: SampleResult | None) -> str:
    if s is None:
        return "<pre>(no sample)</pre>"
    if s.error:
        return f"<pre>error: {e(s.error)}</pre>"
    return f"<pre>{e(_clip(s.output))}</pre>"


def _grades(s: SampleResult | None) -> str:
    if s is None or not s.assertions:
        return ""
    items = [
        f'<li class="{"v-passed" if a.passed else "v-failed"}">{e(a.type)}: {e(a.message)}</li>'
        for a in s.assertions
    ]
    return f"<ul>{''.join(items)}</ul>"


def _pairs(cand: CaseResult, base: CaseResult | None) -> list[str]:
    by_index = {s.index: s for s in base.samples} if base is not None else {}
    order = sorted(cand.samples, key=lambda s: (s.passed, s.index))[:MAX_PAIRS]
    out = []
    for s in order:
        other = by_index.get(s.index)
        seed = f", seed {s.seed}" if s.seed is not None else ""
        out.append(f'<h4 class="meta">sample {s.index + 1}{e(seed)}</h4>')
        if base is None:
            out.append(f'<div class="pair"><div>{_sample_block(s)}{_grades(s)}</div></div>')
            continue
        if other is not None and not s.error and not other.error:
            left, right = diff_html(other.output, s.output)
            lhs, rhs = f"<pre>{left}</pre>", f"<pre>{right}</pre>"
        else:
            lhs, rhs = _sample_block(other), _sample_block(s)
        out.append(
            '<div class="pair">'
            f'<div><div class="meta">baseline {e(base.target)}</div>{lhs}{_grades(other)}</div>'
            f'<div><div class="meta">candidate {e(cand.target)}</div>{rhs}{_grades(s)}</div>'
            "</div>"
        )
    return out


def _case_section(
    cand: CaseResult, base: CaseResult | None, verdict: str, detail: str, changed: bool
) -> list[str]:
    run = cand.run
    return [
        f'<section class="case" data-changed="{1 if changed else 0}" data-verdict="{e(verdict)}">',
        f'<h3><span class="v-{e(verdict.replace(" ", "-"))}">{e(verdict)}</span> '
        f"{e(run.model)}: {e(run.case.name)}</h3>",
        f'<p class="meta">{e(run.origin)}</p>',
        f'<p class="stats">{e(detail)}</p>',
        *_pairs(cand, base),
        "</section>",
    ]


def html_comparison(cmp: Comparison) -> str:
    """The page for `mfops test --against`: summary, a table of every case, then each case
    with its statistics and both sides' outputs side by side."""
    verdict = "passed" if cmp.ok else "failed"
    rows = []
    for c in ordered(cmp):
        rows.append(_row(c))
    body = [
        f'<h1 id="verdict">mfops test against the release: '
        f'<span class="v-{verdict}">{verdict}</span></h1>',
        f'<p id="header">{e(header(cmp))}</p>',
        *[f'<p class="meta">{e(x)}</p>' for x in baseline_lines(cmp)],
        f'<p id="summary">{e(cmp.summary())}; candidate: {e(summary_line(cmp.candidate))}</p>',
        *([f'<p class="meta">note: {e(n)}</p>' for n in [power_note(cmp)] if n]),
        '<p><label><input type="checkbox" id="only-changed"> only changed verdicts</label></p>',
        '<table id="cases"><thead><tr><th>Verdict</th><th>Model</th><th>Case</th>'
        "<th>Candidate</th><th>Baseline</th><th>p</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
        "<h2>Cases</h2>",
    ]
    for c in ordered(cmp):
        body += _case_section(c.candidate, c.baseline, c.verdict, detail(c), c.changed)
    return _page(f"mfops test: {verdict}", body)


def _row(c: CaseComparison) -> str:
    run = c.candidate.run
    base = baseline_text(c) if c.baseline is not None else (c.reason or "")
    return (
        f'<tr data-verdict="{e(c.verdict)}"><td class="v-{e(c.verdict.replace(" ", "-"))}">'
        f"{e(c.verdict)}</td><td>{e(run.model)}</td><td>{e(run.case.name)}</td>"
        f"<td>{e(stats_text(c.candidate))}</td><td>{e(base)}</td>"
        f"<td>{e(p_text(c) or c.reason or '')}</td></tr>"
    )


def html_report(report: TestReport) -> str:
    """The page for a plain `mfops test` run: the same layout with one side."""
    verdict = "passed" if report.ok else "failed"
    rows = [
        f'<tr data-verdict="{e(r.status)}"><td class="v-{e(r.status)}">{e(r.status)}</td>'
        f"<td>{e(r.run.model)}</td><td>{e(r.run.case.name)}</td><td>{e(stats_text(r))}</td>"
        + (f'<td class="hosts">{e(answered_by(r))}</td>' if report.env.hosts else "")
        + "</tr>"
        for r in report.results
    ]
    body = [
        f'<h1 id="verdict">mfops test: <span class="v-{verdict}">{verdict}</span></h1>',
        f'<p id="summary">{e(summary_line(report))}</p>',
        '<p><label><input type="checkbox" id="only-changed"> only failures</label></p>',
        '<table id="cases"><thead><tr><th>Status</th><th>Model</th><th>Case</th>'
        "<th>Samples</th>"
        + ("<th>Hosts</th>" if report.env.hosts else "")
        + "</tr></thead><tbody>",
        *rows,
        "</tbody></table>",
        "<h2>Cases</h2>",
    ]
    for r in report.results:
        body += _case_section(
            r, None, r.status, stats_text(r) or (r.error or ""), r.status != "passed"
        )
    return _page(f"mfops test: {verdict}", body)
