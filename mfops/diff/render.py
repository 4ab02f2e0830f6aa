"""Text and Markdown forms of `mfops diff` (the JSON form is in diffjson.py).

Text is for terminals: one block per model, git-like markers (`~` changed, `+` added, `-`
removed, `>` renamed), unified diffs indented under their field, ANSI colour only when the
caller says so. Markdown is for a pull-request comment or `$GITHUB_STEP_SUMMARY`: a summary
table, then one collapsible `<details>` section per model with fenced `diff` blocks.
`stat=True` keeps only one line (or table row) per model saying what kinds of things changed.
"""

from __future__ import annotations

import json

from mfops.diff.changes import (
    BaseRef,
    Change,
    DiffResult,
    FileRef,
    FilesChange,
    FromChange,
    LicenseChange,
    MessagesChange,
    ModelDiff,
    ParameterChange,
    Suggestion,
    TextChange,
    WeightsChange,
)
from mfops.fileio.markdown import code_span, fence
from mfops.graph.views import affected, mermaid_affected

#: How each kind of change is named for people.
LABELS = {
    "from": "FROM",
    "weights": "weights",
    "adapters": "ADAPTER",
    "draft": "DRAFT",
    "system": "SYSTEM",
    "template": "TEMPLATE",
    "renderer": "RENDERER",
    "parser": "PARSER",
    "requires": "REQUIRES",
    "parameter": "PARAMETER",
    "messages": "MESSAGE",
    "license": "LICENSE",
}
MARKS = {"changed": "~", "added": "+", "removed": "-", "renamed": ">"}

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
_MARK_STYLE = {"changed": "yellow", "added": "green", "removed": "red", "renamed": "cyan"}


def short(digest: str | None) -> str:
    """`sha256:` and the first 12 hex digits: enough to tell digests apart at a glance."""
    if digest is None:
        return "-"
    return ",".join(d[:19] for d in digest.split(","))


def value(v: object) -> str:
    """A typed parameter value as JSON: strings quoted, lists bracketed, booleans lower-case."""
    return json.dumps(v, ensure_ascii=False)


def base_text(ref: BaseRef) -> str:
    extra = f", {short(ref.content)}" if ref.content else ""
    return f"{ref.target} ({ref.kind}{extra})"


def files_text(files: tuple[FileRef, ...]) -> str:
    return ", ".join(f"{f.path} {short(f.digest)}" for f in files) or "(none)"


def origin_note(model: ModelDiff, old: str | None, new: str | None) -> str:
    """Where a value comes from on each side, said only when it is not the model itself."""
    here_old, here_new = model.old_name or model.name, model.name

    def who(origin: str, here: str) -> str:
        return "set here" if origin == here else f"inherited from {origin}"

    if old is None:
        return "" if new in (None, here_new) else who(new, here_new)
    if new is None:
        return "" if old == here_old else f"was {who(old, here_old)}"
    a, b = who(old, here_old), who(new, here_new)
    if a == b:
        return "" if a == "set here" else a
    return f"{b}, was {a}"


def _origins(change: Change) -> tuple[str | None, str | None]:
    if isinstance(change, FromChange):
        return None, None
    if isinstance(change, FilesChange):
        return (
            change.old[-1].origin if change.old else None,
            change.new[-1].origin if change.new else None,
        )
    return change.origin_old, change.origin_new


def describe(model: ModelDiff) -> str:
    """The kinds of change in one phrase: `SYSTEM, PARAMETER(temperature, stop)`."""
    if model.status != "changed" and not model.changes:
        return model.status
    keys = [c.key for c in model.changes if isinstance(c, ParameterChange)]
    words = [
        f"PARAMETER({', '.join(keys)})" if k == "parameter" else LABELS[k] for k in model.kinds
    ]
    if model.status == "renamed":
        words.insert(0, "renamed")
    if words:
        return ", ".join(words)
    because = model.rebuilt_because
    return f"rebuilt, {because[0]} changed" if because else "rebuilt, no difference"


def _headline(change: Change) -> str:
    """The first line of a change, without its origin."""
    label = LABELS[change.kind]
    if isinstance(change, (FromChange, WeightsChange)):
        return f"{label}: {base_text(change.old)} -> {base_text(change.new)}"
    if isinstance(change, FilesChange):
        return f"{label}: {files_text(change.old)} -> {files_text(change.new)}"
    if isinstance(change, ParameterChange):
        head = f"PARAMETER {change.key}"
        if change.op == "added":
            return f"{head}: added {value(change.new)}"
        if change.op == "removed":
            return f"{head}: removed (was {value(change.old)})"
        return f"{head}: {value(change.old)} -> {value(change.new)}"
    if isinstance(change, TextChange) and change.diff is None:
        return (
            f"{label}: {value(change.old) if change.old else '(none)'} -> "
            f"{value(change.new) if change.new else '(none)'}"
        )
    if isinstance(change, MessagesChange):
        return f"{label} history: {len(change.old)} -> {len(change.new)} messages"
    return label


def _body(change: Change) -> list[str]:
    """Lines under the headline: a unified diff, or list elements one by one."""
    if isinstance(change, ParameterChange):
        marks = {"added": "+", "removed": "-", "changed": "~"}
        return [
            f"{marks[i.op]} [{i.index}] "
            + (
                f"{value(i.old)} -> {value(i.new)}"
                if i.op == "changed"
                else value(i.new if i.op == "added" else i.old)
            )
            for i in change.items
        ]
    diff = getattr(change, "diff", None)
    return diff.splitlines() if diff else []


# --------------------------------------------------------------------------- text


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_ANSI[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def diff_line(self, line: str) -> str:
        style = {"+": "green", "-": "red", "@": "cyan", "\\": "dim"}.get(line[:1])
        return self(line, style) if style else line


def _model_head(m: ModelDiff, paint: _Painter) -> str:
    mark = paint(MARKS[m.status], _MARK_STYLE[m.status], "bold")
    if m.status == "renamed":
        name = f"{m.old_name} -> {m.name}"
        where = m.old_file if m.old_file == m.new_file else f"{m.old_file} -> {m.new_file}"
    else:
        name, where = m.name, m.new_file or m.old_file
    head = f"{mark} {paint(name, 'bold')}  {m.status}  ({where})"
    if m.status in ("added", "removed"):
        head += f"  FROM {base_text(m.base)}"
    return head


def render_text(
    result: DiffResult,
    *,
    color: bool = False,
    stat: bool = False,
    suggestion: Suggestion | None = None,
) -> str:
    """The terminal form; `stat` gives one line per model."""
    paint = _Painter(color)
    out: list[str] = []
    if stat:
        rows = [
            (
                f"{m.old_name} -> {m.name}" if m.status == "renamed" else m.name,
                paint(MARKS[m.status], _MARK_STYLE[m.status], "bold"),
                describe(m),
            )
            for m in result.models
        ]
        rows += [
            (mv.name, " ", f"moved {mv.old_file} -> {mv.new_file} (no change)")
            for mv in result.moved
        ]
        width = max((len(r[0]) for r in rows), default=0)
        for name, mark, what in rows:
            out.append(f" {mark} {name.ljust(width)} | {what}")
    else:
        out.append(
            paint(f"diff {result.old_label} -> {result.new_label} ({result.mode} configs)", "bold")
        )
        for m in result.models:
            out.append("")
            out.append(_model_head(m, paint))
            if m.note:
                out.append(f"    {paint(m.note, 'dim')}")
            for change in m.changes:
                note = origin_note(m, *_origins(change))
                out.append(
                    f"    {_headline(change)}" + (f"  {paint(f'({note})', 'dim')}" if note else "")
                )
                out.extend(f"      {paint.diff_line(line)}" for line in _body(change))
        if result.moved:
            out.append("")
            out.extend(
                f"  moved without change: {mv.name}  {mv.old_file} -> {mv.new_file}"
                for mv in result.moved
            )
        out.append("")
    out.append(result.summary())
    if suggestion is not None:
        out.append(suggestion_text(suggestion))
    return "\n".join(out) + "\n"


def suggestion_text(s: Suggestion) -> str:
    if s.next is None:
        return "no changes: no new version needed" + (
            f" (latest {s.previous})" if s.previous else ""
        )
    after = f"after {s.previous}" if s.previous else "no earlier version tag"
    why = "; ".join(s.reasons[:5]) + ("; ..." if len(s.reasons) > 5 else "")
    return f"suggested version: {s.next} ({s.level}, {after}): {why}"


# --------------------------------------------------------------------------- markdown


def _code(text: str) -> str:
    """An inline code span that survives backticks and table pipes in `text`."""
    return code_span(text)


def _fence(text: str, info: str = "diff") -> list[str]:
    """A fenced block longer than any backtick run inside it (mfops.fileio.markdown)."""
    return fence(text, info)


def _md_change(m: ModelDiff, change: Change) -> list[str]:
    note = origin_note(m, *_origins(change))
    suffix = f" _({note})_" if note else ""
    if isinstance(change, ParameterChange):
        row = (
            f"| {_code(change.key)} | {change.op} | "
            f"{_code(value(change.old)) if change.op != 'added' else ''} | "
            f"{_code(value(change.new)) if change.op != 'removed' else ''} | {note} |"
        )
        return [row]
    if isinstance(change, (FromChange, WeightsChange)):
        return [
            f"**{LABELS[change.kind]}**{suffix}: {_code(base_text(change.old))} → "
            f"{_code(base_text(change.new))}",
            "",
        ]
    if isinstance(change, FilesChange):
        return [
            f"**{LABELS[change.kind]}**{suffix}: {_code(files_text(change.old))} → "
            f"{_code(files_text(change.new))}",
            "",
        ]
    if isinstance(change, TextChange) and change.diff is None:
        return [
            f"**{LABELS[change.kind]}**{suffix}: {_code(change.old or '(none)')} → "
            f"{_code(change.new or '(none)')}",
            "",
        ]
    assert isinstance(change, (TextChange, MessagesChange, LicenseChange))
    return [f"**{LABELS[change.kind]}**{suffix}", "", *_fence(change.diff or ""), ""]


def _md_model(m: ModelDiff) -> list[str]:
    name = f"{m.old_name} → {m.name}" if m.status == "renamed" else m.name
    files = (
        (
            m.old_file
            if m.old_file == m.new_file or m.status != "renamed"
            else f"{m.old_file} → {m.new_file}"
        )
        if m.old_file
        else m.new_file
    )
    out = ["<details>", f"<summary><b>{_html(name)}</b>: {_html(describe(m))}</summary>", ""]
    out.append(
        f"File: {_code(files or '')}; FROM {_code(base_text(m.base))}; "
        f"digest {_code(short(m.old_digest))} → {_code(short(m.new_digest))}"
    )
    out.append("")
    if m.note:
        out += [f"_{m.note}_", ""]
    params = [c for c in m.changes if isinstance(c, ParameterChange)]
    for change in m.changes:
        if not isinstance(change, ParameterChange):
            out.extend(_md_change(m, change))
    if params:
        out += ["| Parameter | Change | Before | After | Origin |", "|---|---|---|---|---|"]
        for change in params:
            out.extend(_md_change(m, change))
        out.append("")
    out += ["</details>", ""]
    return out


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_markdown(
    result: DiffResult, *, stat: bool = False, suggestion: Suggestion | None = None
) -> str:
    """Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY`."""
    out = [
        f"### mfops diff {_code(result.old_label)} → {_code(result.new_label)}",
        "",
        f"**{result.summary()}** ({result.mode} configs)",
        "",
    ]
    if result.models:
        out += ["| | Model | What changed | Level |", "|---|---|---|---|"]
        for m in result.models:
            name = f"{m.old_name} → {m.name}" if m.status == "renamed" else m.name
            out.append(
                f"| {MARKS[m.status]} | {_code(name)} | "
                f"{describe(m).replace('|', '/')} | {m.level} |"
            )
        out.append("")
    picture = _md_graph(result)
    if picture:
        out += picture
    if result.moved:
        out.append(
            "Moved without change: "
            + ", ".join(
                f"{_code(mv.name)} ({_code(mv.old_file)} → {_code(mv.new_file)})"
                for mv in result.moved
            )
        )
        out.append("")
    if not stat:
        for m in result.models:
            out.extend(_md_model(m))
    if suggestion is not None:
        out += [_md_suggestion(suggestion), ""]
    return "\n".join(out)


def _md_graph(result: DiffResult) -> list[str]:
    """The inheritance graph of what changed, as a Mermaid diagram GitHub draws: changed
    and added models highlighted, their unchanged ancestors for context (views.py)."""
    graph = result.new_graph
    marked = {m.name: m.status for m in result.models if m.status != "removed"}
    if graph is None or not marked:
        return []
    picture = mermaid_affected(graph, marked)
    if picture is None:
        shown = len(affected(graph, marked))
        return [
            f"_The inheritance graph of the {shown} affected models is too large to draw "
            f"here; see `mfops graph`._",
            "",
        ]
    out = [
        "<details open>",
        "<summary>Inheritance of the changed models</summary>",
        "",
        picture,
        "",
    ]
    removed = [m.name for m in result.models if m.status == "removed"]
    if removed:
        out += [f"Removed (not drawn): {', '.join(_code(n) for n in removed)}", ""]
    return [*out, "</details>", ""]


def _md_suggestion(s: Suggestion) -> str:
    if s.next is None:
        return "**Suggested version:** none, nothing changed"
    after = f"after {_code(s.previous)}" if s.previous else "no earlier version tag"
    lines = [f"**Suggested version:** {_code(s.next)} ({s.level}, {after})", ""]
    lines += [f"- {_html(r)}" for r in s.reasons]
    return "\n".join(lines)
