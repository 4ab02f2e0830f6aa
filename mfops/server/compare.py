"""Differences as the server sees them (`mfops diff --server`).

Two questions, one comparison:

- `diff --server A B`: how do two models on the server differ? Both must exist (a missing
  one is an unknown model, exit 2). Both are read through
  `/api/show` and compared field by field: weights, projectors, adapters and drafts (by
  blob), TEMPLATE, SYSTEM, RENDERER, PARSER, REQUIRES, each PARAMETER, the MESSAGE list and
  the licenses.
- `diff --server REF`: does the server hold what the repo at REF describes? For each model
  at REF, its effective config (laid over its root base as the server has it, verify.py) is
  compared with the server's `name:TAG`, where TAG is `--tag`, else REF itself when the
  server has the model at that tag, else the candidate tag of REF (`sha-<short>`).

Parameters are compared per key, floats as float32 (verify.same_value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.errors import UnknownModelError
from mfops.language.names import is_valid_name
from mfops.repo.gitstore import short_commit
from mfops.server.roundtrip import BaseConfigs, blob_names, check_model, same_value

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.server.client import Server, ServerModel
    from mfops.server.show import ServerConfig

Status = Literal["same", "differs", "missing"]


@dataclass(frozen=True)
class FieldDiff:
    field: str
    old: object
    new: object
    origin: str | None = None


@dataclass(frozen=True)
class ModelComparison:
    """One pair: `old` and `new` name what was compared (a server model or the repo)."""

    name: str
    old: str
    new: str
    status: Status
    fields: tuple[FieldDiff, ...] = ()


@dataclass(frozen=True)
class ServerDiff:
    old_label: str
    new_label: str
    models: tuple[ModelComparison, ...]

    @property
    def differs(self) -> bool:
        return any(m.status != "same" for m in self.models)


def compare_configs(a: ServerConfig, b: ServerConfig) -> tuple[FieldDiff, ...]:
    """Field differences between two server models, in a stable display order."""
    out: list[FieldDiff] = []
    if a.weights.rpartition("/")[2] != b.weights.rpartition("/")[2]:
        out.append(FieldDiff("weights", a.weights, b.weights))
    for label, layers_a, layers_b in (
        ("projectors", a.projectors, b.projectors),
        ("ADAPTER", a.adapters, b.adapters),
        ("DRAFT", a.drafts, b.drafts),
    ):
        if blob_names(layers_a) != blob_names(layers_b):
            out.append(FieldDiff(label, list(layers_a), list(layers_b)))
    for key in ("template", "system", "renderer", "parser", "requires"):
        if a.text(key) != b.text(key):
            out.append(FieldDiff(key.upper(), a.text(key), b.text(key)))
    for key in sorted(set(a.parameters) | set(b.parameters)):
        old, new = a.parameters.get(key), b.parameters.get(key)
        if old is None or new is None or not same_value(old, new):
            out.append(FieldDiff(f"PARAMETER {key}", old, new))
    ma = [(m.role, m.content) for m in a.messages]
    mb = [(m.role, m.content) for m in b.messages]
    if ma != mb:
        out.append(FieldDiff("MESSAGE", ma, mb))
    if a.license_text != b.license_text:
        out.append(FieldDiff("LICENSE", list(a.licenses), list(b.licenses)))
    return tuple(out)


def diff_models(server: Server, old: str, new: str) -> ServerDiff:
    """Compare two models on the server. Both are named by the user, so one the server does
    not have is a mistyped name or tag (UnknownModelError, exit 2), not a difference: as a
    difference it was rendered under the other name and passed without --exit-code."""
    a, b = server.show(old), server.show(new)
    gone = [n for n, c in ((old, a), (new, b)) if c is None]
    if gone:
        what = "model" if len(gone) == 1 else "models"
        names = " and ".join(repr(n) for n in gone)
        raise UnknownModelError(
            f"no {what} {names} on {server.host.display}", hint="see `ollama list`"
        )
    assert a is not None and b is not None
    fields = compare_configs(a, b)
    status: Status = "differs" if fields else "same"
    return ServerDiff(old, new, (ModelComparison(new, old, new, status, fields),))


def tag_for(rev: Revision, listing: dict[str, ServerModel], tag: str | None) -> str:
    """The tag REF was built at: `tag`, else REF when the server has it, else `sha-<short>`."""
    if tag:
        return tag
    ref = rev.ref or "HEAD"
    if is_valid_name(f"m:{ref}") and any(k.endswith(f":{ref.casefold()}") for k in listing):
        return ref
    template = rev.snapshot.config.defaults.candidate_tag
    commit = rev.repo.resolve_ref(ref)
    return template.format(short=short_commit(commit), sha=commit)


def diff_repo(
    rev: Revision, server: Server, *, tag: str | None = None, names: tuple[str, ...] = ()
) -> ServerDiff:
    """Compare the repo at `rev` with what the server holds at the tag it was built at."""
    listing = server.models()
    the_tag = tag_for(rev, listing, tag)
    bases = BaseConfigs(server)
    wanted = [rev.graph[n].name for n in names] if names else list(rev.graph.order)
    effective = rev.effective
    models = []
    for name in wanted:
        target = f"{name}:{the_tag}"
        if target.casefold() not in listing:
            models.append(ModelComparison(name, rev.label, target, "missing"))
            continue
        found = check_model(server, effective[name], target, bases) or ()
        fields = tuple(FieldDiff(m.field, m.expected, m.actual, m.origin) for m in found)
        models.append(
            ModelComparison(name, rev.label, target, "differs" if fields else "same", fields)
        )
    return ServerDiff(
        f"repo at {rev.label}", f"{server.host.display} at tag {the_tag}", tuple(models)
    )


def _short(value: object, limit: int = 70) -> str:
    if value is None:  # a field one side does not set: never Python's `None`
        return "(unset)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_text(diff: ServerDiff) -> str:
    lines = [f"--- {diff.old_label}", f"+++ {diff.new_label}"]
    for m in diff.models:
        if m.status == "same":
            lines.append(f"{m.new}: same")
            continue
        if m.status == "missing" and not m.fields:
            lines.append(f"{m.new}: missing on the server")
            continue
        lines.append(f"{m.new}: {m.status}")
        for f in m.fields:
            origin = f" (from {f.origin})" if f.origin else ""
            lines.append(f"    {f.field}: {_short(f.old)}{origin} -> {_short(f.new)}")
    same = sum(1 for m in diff.models if m.status == "same")
    lines.append(f"{len(diff.models) - same} differ, {same} same")
    return "\n".join(lines) + "\n"


def to_json(diff: ServerDiff) -> dict[str, object]:
    return {
        "old": diff.old_label,
        "new": diff.new_label,
        "differs": diff.differs,
        "models": [
            {
                "model": m.name,
                "old": m.old,
                "new": m.new,
                "status": m.status,
                "fields": [
                    {"field": f.field, "old": f.old, "new": f.new, "origin": f.origin}
                    for f in m.fields
                ],
            }
            for m in diff.models
        ],
    }
