"""The merged verdict of a sharded run some of whose shards did not complete, in every
form `mfops report merge` writes (text, Markdown, JUnit, HTML; JSON is the merged block).

Such a verdict has no pooled cases (the plan is not whole), so the ordinary writers would
show an empty, passing-looking run. These say what a CI user needs instead: the run
failed, which shards did not complete, why (the shard's own one-line reason) and with
which exit code, and which shards did complete.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape
from typing import Any

from mfops.behave.merge import Merged
from mfops.behave.report import table_cell

#: Characters XML 1.0 cannot hold (a shard report is an artefact: its reason may hold any).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _headline(merged: Merged) -> str:
    n = len(merged.incomplete)
    count = merged.block["count"]
    return f"{n} of {count} shard{'s' if count != 1 else ''} did not complete"


def _state(shard: dict[str, Any]) -> tuple[str, str, str]:
    """(state, exit code, reason) of one shard entry of the merged block."""
    if shard.get("state") != "failed":
        return "completed", "", ""
    code = shard.get("exit_code")
    return "did not complete", "" if code is None else str(code), str(shard.get("reason"))


def text_incomplete(merged: Merged) -> str:
    lines = [f"merge failed: {_headline(merged)}"]
    for shard in merged.block["shards"]:
        state, code, reason = _state(shard)
        where = f"shard {shard['index']}/{merged.block['count']} ({shard['file']})"
        if state != "completed":
            lines.append(f"  {where}: {state}{f' (exit {code})' if code else ''}: {reason}")
        else:
            lines.append(f"  {where}: {state}")
    return "\n".join(lines) + "\n"


def markdown_incomplete(merged: Merged) -> str:
    tag = merged.block.get("tag")
    out = [f"## mfops test: ❌ failed ({_headline(merged)})", ""]
    if tag:
        out += [f"Candidate tag `{tag}`", ""]
    out += ["| Shard | State | Exit | Reason |", "|---|---|---|---|"]
    for shard in merged.block["shards"]:
        state, code, reason = _state(shard)
        mark = "✅" if state == "completed" else "❌"
        index = f"{shard['index']}/{merged.block['count']}"
        out.append(f"| {index} | {mark} {state} | {code} | {table_cell(reason)} |")
    return "\n".join(out) + "\n"


def junit_incomplete(merged: Merged) -> str:
    """One <testcase> per shard: an <error> for each that did not complete."""
    shards = merged.block["shards"]
    bad = str(len(merged.incomplete))
    counts = {"tests": str(len(shards)), "failures": "0", "errors": bad, "skipped": "0"}
    root = ET.Element("testsuites", {"name": "mfops test", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "mfops report merge", **counts})
    props = ET.SubElement(suite, "properties")
    tag = _NOT_XML.sub("\ufffd", str(merged.block.get("tag") or ""))
    ET.SubElement(props, "property", {"name": "tag", "value": tag})
    for shard in shards:
        index = f"{shard['index']}/{merged.block['count']}"
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "mfops.shard",
                "name": f"shard {index}",
                "file": _NOT_XML.sub("\ufffd", str(shard["file"])),
            },
        )
        state, code, reason = _state(shard)
        if state != "completed":
            message = _NOT_XML.sub(
                "\ufffd", f"did not complete{f' (exit {code})' if code else ''}: {reason}"
            )
            node = ET.SubElement(case, "error", {"type": "incomplete", "message": message})
            node.text = message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def html_incomplete(merged: Merged) -> str:
    rows = []
    for shard in merged.block["shards"]:
        state, code, reason = _state(shard)
        rows.append(
            f'<tr class="{"ok" if state == "completed" else "bad"}"><td>{shard["index"]}/'
            f"{merged.block['count']}</td><td>{escape(str(shard['file']))}</td>"
            f"<td>{escape(state)}</td><td>{escape(code)}</td><td>{escape(reason)}</td></tr>"
        )
    title = escape(f"mfops test: failed ({_headline(merged)})")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>body{{font-family:sans-serif}}"
        "td,th{padding:.2em .6em;text-align:left}.bad{color:#b00}</style></head><body>"
        f"<h1>{title}</h1><p>Candidate tag {escape(str(merged.block.get('tag') or '-'))}</p>"
        "<table><tr><th>Shard</th><th>File</th><th>State</th><th>Exit</th><th>Reason</th>"
        f"</tr>{''.join(rows)}</table></body></html>\n"
    )
