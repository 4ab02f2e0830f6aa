"""Test reports: a text summary for people, JUnit XML for CI test tabs, JSON for tools and
Markdown for pull-request comments. All four say the same things: per case where it came
from (suite `file:line`, inherited from which model), pass/fail/error, and for each failure
what was expected and what the model said; plus the environment the run used (host, server
version, tag, options and seeds), so a result can be reproduced or distrusted.

Pure functions from a `TestReport` to text; the CLI decides where the text goes.
"""

from __future__ import annotations

import re
from typing import Any

from mfops.behave import stats
from mfops.behave.results import CaseResult, SampleResult, TestReport
from mfops.behave.runner import CASE_DEADLINE, DEFAULT_NUM_PREDICT
from mfops.fileio.markdown import fence

_ANSI = {"passed": "\x1b[32m", "failed": "\x1b[31m", "error": "\x1b[33m"}
_WORD = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}
_OUTPUT_LIMIT = 400
# Characters XML 1.0 cannot hold at all (a model may emit them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clip(text: str, limit: int = _OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


#: pass^k is shown for this k (and every k up to the sample count in JSON).
PASS_K = 3


def case_stats(r: CaseResult) -> dict[str, Any]:
    """Per-case statistics every report carries: passes/samples, the 95% Wilson interval,
    pass^k (chance that k fresh samples all pass) and whether the samples disagree."""
    n, k = len(r.samples), r.passed_samples
    low, high = stats.wilson(k, n)
    return {
        "passed": k,
        "samples": n,
        "rate": round(k / n, 4) if n else None,
        "wilson95": [round(low, 4), round(high, 4)],
        "pass_k": {
            str(j): round(v, 4)
            for j in (1, 3, 5, 10)
            if (v := stats.pass_hat_k(k, n, j)) is not None
        },
        "flaky": 0 < k < n,
    }


def stats_text(r: CaseResult) -> str:
    """`7/10, 95% CI 40-89%, pass^3 29%, flaky` (empty for a case without samples)."""
    st = case_stats(r)
    if not st["samples"]:
        return ""
    low, high = st["wilson95"]
    out = f"{st['passed']}/{st['samples']}, 95% CI {low:.0%}-{high:.0%}"
    if str(PASS_K) in st["pass_k"]:
        out += f", pass^{PASS_K} {st['pass_k'][str(PASS_K)]:.0%}"
    return out + (", flaky" if st["flaky"] else "")


def _samples_line(r: CaseResult) -> str:
    case = r.run.case
    if case.samples == 1:
        return ""
    line = f"{r.passed_samples}/{case.samples} samples passed (need {case.required})"
    if len(r.samples) > 1:
        line += f"; {stats_text(r).split(', ', 1)[1]}"
    return line


def answered_by(r: CaseResult) -> str:
    """Which pool hosts answered a case's samples (`cache` for cached ones); "" on one host."""
    hosts = dict.fromkeys(s.host or ("cache" if s.cached else "") for s in r.samples)
    return ", ".join(h for h in hosts if h)


def _bad_samples(r: CaseResult) -> list[SampleResult]:
    return [s for s in r.samples if not s.passed]


def summary_line(report: TestReport) -> str:
    n = len(report.results)
    cached = sum(1 for r in report.results if r.cached)
    return (
        f"{n} case{'s' if n != 1 else ''}: {report.count('passed')} passed, "
        f"{report.count('failed')} failed, {report.count('error')} errors "
        f"({cached} cached) in {report.seconds:.2f} s; {report.chat_calls} chat and "
        f"{report.embed_calls} embedding requests"
    )


def header_line(report: TestReport) -> str:
    env = report.env
    models = len({r.run.model for r in report.results})
    return (
        f"Testing {models} model{'s' if models != 1 else ''} at tag {env.tag} on "
        f"{env.host} (Ollama {env.server_version or 'unknown'}); replies capped at "
        f"num_predict {DEFAULT_NUM_PREDICT} unless a suite or the model sets it, "
        f"{CASE_DEADLINE:g} s per chat"
    )


# --------------------------------------------------------------------------- text


def text_report(report: TestReport, *, color: bool = False, verbose: bool = False) -> str:
    """Cases grouped by model; failures in detail (every case in detail with `verbose`)."""

    def paint(status: str, text: str) -> str:
        return f"{_ANSI[status]}{text}\x1b[0m" if color else text

    lines = [header_line(report)]
    width = min(48, max((len(r.run.case.name) for r in report.results), default=0))
    model = None
    for r in report.results:
        if r.run.model != model:
            model = r.run.model
            lines += ["", model]
        word = paint(r.status, f"{_WORD[r.status]:<5}")
        extra = f"  [{_samples_line(r)}]" if _samples_line(r) else ""
        cached = "  (cached)" if r.cached else ""
        if report.env.hosts and answered_by(r) and not r.cached:
            cached += f"  (on {answered_by(r)})"
        lines.append(f"  {word} {r.run.case.name:<{width}}  {r.run.origin}{extra}{cached}")
        if r.status == "passed" and not verbose:
            continue
        if r.error and not r.samples:
            lines.append(f"        {r.error}")
            continue
        shown = r.samples if verbose else _bad_samples(r)
        for s in shown[:3]:
            lines += _sample_text(r, s, paint)
        if len(shown) > 3:
            lines.append(f"        ... and {len(shown) - 3} more failing samples")
    if report.results:
        lines += ["", summary_line(report)]
    else:
        lines += ["", "No test cases apply."]
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _sample_text(r: CaseResult, s: SampleResult, paint: Any) -> list[str]:
    seed = f", seed {s.seed}" if s.seed is not None else ""
    seed += f", on {s.host}" if s.host else ""
    head = f"        sample {s.index + 1}/{r.run.case.samples}{seed}"
    if s.error:
        return [f"{head}: {paint('error', 'error')}: {s.error}"]
    out = [f"{head}, {s.latency_ms:.0f} ms:"]
    for a in s.assertions:
        mark = paint("passed", "ok ") if a.passed else paint("failed", "NO ")
        out.append(f"          {mark} {a.type}: {a.message}")
    out.append(f"          output: {_clip(s.output)!r}")
    return out


# --------------------------------------------------------------------------- json


def _sample_json(s: SampleResult) -> dict[str, Any]:
    host = {"host": s.host} if s.host else {}  # only a pool run says which host answered
    return host | {
        "index": s.index,
        "seed": s.seed,
        "options": s.options,
        "passed": s.passed,
        "output": s.output,
        "latency_ms": s.latency_ms,
        "cached": s.cached,
        "error": s.error,
        "assertions": [a.to_json() for a in s.assertions],
    }


def case_json(r: CaseResult) -> dict[str, Any]:
    run, case = r.run, r.run.case
    return {
        "id": run.id,
        "model": run.model,
        "target": r.target,
        "suite": run.suite.path,
        "case": case.name,
        "line": case.line,
        "inherited_from": run.inherited_from,
        "status": r.status,
        "error": r.error,
        "samples_required": case.required,
        "samples_passed": r.passed_samples,
        "stats": case_stats(r),
        "cached": r.cached,
        "seconds": r.seconds,
        "case_digest": case.digest,
        "manifest": r.manifest,
        "model_digest": r.model_digest,
        "options": case.options,
        "notes": list(r.notes),
        "samples": [_sample_json(s) for s in r.samples],
    }


def environment_json(report: TestReport) -> dict[str, Any]:
    env = report.env
    used = {r.target: r.manifest for r in report.results}
    for r in report.results:
        for c in r.run.case.assertions:
            if c.model is not None:
                used[c.model] = env.manifest(c.model)
    pool = {"hosts": list(env.hosts)} if env.hosts else {}
    return pool | {
        "host": env.host,
        "server_version": env.server_version,
        "tag": env.tag,
        "started_at": env.started_at,
        "mfops_version": env.mfops_version,
        "models": dict(sorted(used.items())),
    }


def json_report(report: TestReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "environment": environment_json(report),
        "summary": {
            "cases": len(report.results),
            "passed": report.count("passed"),
            "failed": report.count("failed"),
            "error": report.count("error"),
            "cached": sum(1 for r in report.results if r.cached),
            "chat_calls": report.chat_calls,
            "embed_calls": report.embed_calls,
            "cache_hits": report.cache_hits,
            "seconds": report.seconds,
        },
        "models": report.models(),
        "notes": list(report.notes),
        "cases": [case_json(r) for r in report.results],
    }


# --------------------------------------------------------------------------- markdown


def table_cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def markdown_report(report: TestReport) -> str:
    """A PR comment: verdict, environment, a table of cases, then each failure in detail."""
    icon = {"passed": "✅", "failed": "❌", "error": "⚠️"}
    env = report.env
    verdict = "passed" if report.ok else "failed"
    lines = [
        f"## mfops test: {icon[verdict]} {verdict}",
        "",
        f"Tag `{env.tag}` on `{env.host}` (Ollama {env.server_version or 'unknown'}). "
        f"{summary_line(report)}.",
        "",
    ]
    if report.results:
        pool = bool(env.hosts)
        head = "| | Model | Case | Origin | Samples |" + (" Hosts |" if pool else "")
        lines += [head, "|---|---|---|---|---|" + ("---|" if pool else "")]
        for r in report.results:
            samples = f"{r.passed_samples}/{r.run.case.samples}" if r.samples else "-"
            hosts = f" {table_cell(answered_by(r) or '-')} |" if pool else ""
            lines.append(
                f"| {icon[r.status]} | {table_cell(r.run.model)} | {table_cell(r.run.case.name)}"
                f" | {table_cell(r.run.origin)} | {samples} |{hosts}"
            )
    bad = [r for r in report.results if r.status != "passed"]
    if bad:
        lines += ["", "### Failures"]
    for r in bad:
        lines += ["", f"#### {r.run.model}: {table_cell(r.run.case.name)} ({r.status})", ""]
        if r.error and not r.samples:
            lines.append(f"- {table_cell(r.error)}")
            continue
        for s in _bad_samples(r)[:3]:
            if s.error:
                lines.append(f"- sample {s.index + 1}: error: {table_cell(s.error)}")
                continue
            on = f", on {s.host}" if s.host else ""
            lines.append(f"- sample {s.index + 1} (seed {s.seed}{on}):")
            lines += [
                f"  - `{a.type}`: {table_cell(a.message)}" for a in s.assertions if not a.passed
            ]
            lines += ["", *fence(_clip(s.output, 1500), indent="  "), ""]
    if report.notes:
        lines += ["", *[f"> note: {n}" for n in report.notes]]
    text = "\n".join(lines).rstrip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


# --------------------------------------------------------------------------- junit


def _x(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def junit_xml(report: TestReport, extra: dict[str, tuple[str, str]] | None = None) -> str:
    """JUnit XML: a <testsuite> per (model, suite file), a <testcase> per case, with
    <failure> (assertions said no) or <error> (could not run) holding the details."""
    import xml.etree.ElementTree as ET

    env = report.env
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in report.results:
        groups.setdefault((r.run.model, r.run.suite.path), []).append(r)
    root = ET.Element(
        "testsuites",
        {
            "name": "mfops test",
            "tests": str(len(report.results)),
            "failures": str(
                sum(r.status == "failed" or r.run.id in (extra or {}) for r in report.results)
            ),
            "errors": str(report.count("error")),
            "skipped": "0",
            "time": f"{report.seconds:.3f}",
            "timestamp": _x(env.started_at),
        },
    )
    for (model, path), results in groups.items():
        first = results[0]
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _x(f"{model} ({path})"),
                "tests": str(len(results)),
                "failures": str(
                    sum(r.status == "failed" or r.run.id in (extra or {}) for r in results)
                ),
                "errors": str(sum(r.status == "error" for r in results)),
                "skipped": "0",
                "time": f"{sum(r.seconds for r in results):.3f}",
                "timestamp": _x(env.started_at),
                "hostname": _x(env.host),
            },
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("target", first.target),
            ("tag", env.tag),
            ("host", env.host),
            *((("hosts", ", ".join(env.hosts)),) if env.hosts else ()),
            ("server_version", env.server_version),
            ("manifest", first.manifest or ""),
            ("model_digest", first.model_digest or ""),
            ("inherited_from", first.run.inherited_from or ""),
            ("mfops_version", env.mfops_version),
        ):
            ET.SubElement(props, "property", {"name": name, "value": _x(value)})
        for r in results:
            _testcase(suite, r, (extra or {}).get(r.run.id))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def empty_junit_xml(why: str) -> str:
    """JUnit XML for a run that tested nothing (`gate` with nothing changed, or stopped
    before its tests): one empty suite, so a CI step that reads the file finds a valid one
    rather than failing on a missing file. `why` goes into a property."""
    import xml.etree.ElementTree as ET

    zero = {"tests": "0", "failures": "0", "errors": "0", "skipped": "0", "time": "0.000"}
    root = ET.Element("testsuites", {"name": "mfops test", **zero})
    suite = ET.SubElement(root, "testsuite", {"name": "mfops gate", **zero})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "nothing_tested", "value": _x(why)})
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _testcase(parent: Any, r: CaseResult, extra: tuple[str, str] | None = None) -> None:
    import xml.etree.ElementTree as ET

    run = r.run
    case = ET.SubElement(
        parent,
        "testcase",
        {
            "classname": _x(f"{run.model}.{run.suite.name}"),
            "name": _x(run.case.name),
            "file": _x(run.suite.path),
            "line": str(run.case.line),
            "time": f"{r.seconds:.3f}",
        },
    )
    if r.status == "error":
        node = ET.SubElement(case, "error", {"type": "error", "message": _x(r.error or "")})
        node.text = _x(r.error or "")
    elif r.status == "failed":
        bad = _bad_samples(r)
        first = next((a for s in bad for a in s.assertions if not a.passed), None)
        message = first.message if first else "failed"
        kind = first.type if first else "failure"
        head = [f"{run.origin}", _samples_line(r)] if _samples_line(r) else [run.origin]
        details = head + [x.strip() for s in bad for x in _sample_text(r, s, lambda _, t: t)]
        node = ET.SubElement(case, "failure", {"type": _x(kind), "message": _x(message)})
        node.text = _x("\n".join(details))
    if extra is not None and r.status == "passed":  # e.g. a regression against the release
        node = ET.SubElement(case, "failure", {"type": _x(extra[0]), "message": _x(extra[1])})
        node.text = _x(extra[1])
    if r.samples:
        out = ET.SubElement(case, "system-out")
        out.text = _x(
            "\n".join(
                f"[sample {s.index + 1}, seed {s.seed}{f', host {s.host}' if s.host else ''}] "
                f"{s.output}"
                for s in r.samples
            )
        )
