"""Why a model is rebuilt: its digest changed since REF, and which fields changed where.

`change_reasons` classifies each model whose digest differs between REF and the working tree
(`changed`: its own Modelfile or FROM content; `base changed`: an ancestor, or the locked
digest of its external base; `new`). `explain_changes` goes further for `build --explain`:
the field-level differences of the effective configs (diff.py), each labelled with where the
value comes from, own file or an ancestor, so "why is this being rebuilt?" always has an
answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mfops.diff import changes as d
from mfops.diff.revisions import diff_revisions
from mfops.graph.digest import Digester
from mfops.graph.effective import declared

if TYPE_CHECKING:
    from mfops.graph.revision import Revision


def change_reasons(
    old: Revision | None, new: Revision, names: list[str]
) -> dict[str, tuple[str, str]]:
    """Why each of `names` differs from REF: (`changed` | `base changed` | `new`, detail)."""
    out: dict[str, tuple[str, str]] = {}
    if not names:
        return out  # nothing changed: REF's graph need not even be loaded
    if old is None:
        return {n: ("new", "no earlier version to compare with") for n in names}
    a = Digester(old.snapshot, old.graph, old.lock)
    b = Digester(new.snapshot, new.graph, new.lock)
    a.compute([n for n in names if n in old.graph])
    b.compute(names)

    for name in new.graph.closure(names):
        if name not in names:
            continue
        if name not in old.graph:
            out[name] = ("new", f"not at {old.label}")
            continue
        na, nb = old.graph.nodes[name], new.graph.nodes[name]
        pa, pb = a.payload(declared(na), na.base), b.payload(declared(nb), nb.base)
        base_a, base_b = pa.pop("base"), pb.pop("base")
        if pa != pb:
            out[name] = ("changed", "its Modelfile changed")
        elif na.base.kind != nb.base.kind or na.base.target != nb.base.target:
            out[name] = ("changed", f"FROM {na.base.target} -> {nb.base.target}")
        elif nb.base.kind == "source":
            parent = nb.base.target
            why = out.get(parent)
            if why is not None and why[0] == "base changed":
                out[name] = ("base changed", why[1])
            else:
                out[name] = ("base changed", f"{parent} changed")
        elif nb.base.kind == "external" and base_a != base_b:
            out[name] = ("base changed", f"mfops.lock entry of {nb.base.target} changed")
        else:
            out[name] = ("changed", "its FROM content changed")
    return out


def _where(origin: str | None, model: str) -> str:
    if origin is None:
        return ""
    return " (own file)" if origin == model else f" (inherited from {origin})"


def _value(value: object) -> str:
    """A parameter value as a user reads it: `(unset)`, never Python's `None`."""
    return "(unset)" if value is None else repr(value)


def describe_change(change: object, model: str) -> str:
    """One line for `--explain`: which field changed and where the value comes from."""
    if isinstance(change, d.TextChange):
        verb = "added" if change.old is None else "removed" if change.new is None else "changed"
        where = _where(change.origin_new or change.origin_old, model)
        return f"{change.field.upper()} {verb}{where}"
    if isinstance(change, d.ParameterChange):
        return (
            f"PARAMETER {change.key}: {_value(change.old)} -> {_value(change.new)}"
            f"{_where(change.origin_new or change.origin_old, model)}"
        )
    if isinstance(change, d.MessagesChange):
        return f"MESSAGEs changed{_where(change.origin_new or change.origin_old, model)}"
    if isinstance(change, d.LicenseChange):
        return f"LICENSE changed{_where(change.origin_new or change.origin_old, model)}"
    if isinstance(change, d.FromChange):
        if change.old.target == change.new.target:
            what = "mfops.lock" if change.new.kind == "external" else "content"
            return (
                f"base {change.new.target}: {what} {change.old.content} -> "
                f"{change.new.content} (own file)"
            )
        return f"FROM {change.old.target} -> {change.new.target} (own file)"
    if isinstance(change, d.WeightsChange):
        return (
            f"weights of {change.new.target} changed ({change.old.content} -> "
            f"{change.new.content}){_where(change.origin_new, model)}"
        )
    if isinstance(change, d.FilesChange):
        return f"{change.field} content changed"
    return str(change)


def explain_changes(
    old: Revision | None, new: Revision, names: list[str]
) -> dict[str, tuple[str, ...]]:
    """Per model, the field-level differences from REF, each with its origin."""
    if old is None or not names:
        return {}

    result = diff_revisions(old, new, names=[n for n in names if n in new.graph])
    out: dict[str, tuple[str, ...]] = {}
    for m in result.models:
        lines = [describe_change(c, m.name) for c in m.changes]
        if m.note:
            lines.append(m.note)
        out[m.name] = tuple(lines)
    return out
