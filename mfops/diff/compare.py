"""Field-by-field comparison of one model at two versions (the engine behind diff.py).

A `View` is what can differ about a model on one side, in either mode: the effective config
folded through the chain (every value with the model that set it) or the declared one (what
its own file says). `Side` builds views for one revision on demand, so that only the models
whose digests differ are ever folded, and hashes each local file once. `compare` turns two
views into typed change records, in the order renderers show them.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.diff.changes import (
    TEXT_FIELDS,
    BaseRef,
    Change,
    FileRef,
    FilesChange,
    FromChange,
    ItemChange,
    LicenseChange,
    MessagesChange,
    Mode,
    Op,
    ParameterChange,
    TextChange,
    WeightsChange,
)
from mfops.graph.declaredcache import RememberedDeclared
from mfops.graph.effective import Sourced, effective_all

if TYPE_CHECKING:
    from mfops.graph.effective import Message, Sourced
    from mfops.graph.inheritance import Base, ModelNode
    from mfops.graph.revision import Revision
    from mfops.repo.repository import ResolvedPath

# --------------------------------------------------------------------------- one side


@dataclass(frozen=True)
class View:
    """The comparable content of one model on one side, in either mode."""

    name: str
    own: BaseRef
    root: Sourced[BaseRef] | None
    texts: dict[str, Sourced[str]]
    parameters: dict[str, Sourced[object]]
    messages: Sourced[tuple[Message, ...]] | None
    licenses: tuple[Sourced[str], ...]
    adapters: tuple[FileRef, ...]
    drafts: tuple[FileRef, ...]

    def content_key(self) -> tuple[object, ...]:
        """Everything a build depends on, without names: equal keys mean the same model."""
        base = self.root.value if self.root is not None else self.own
        return (
            base,
            tuple(sorted((k, v.value) for k, v in self.texts.items())),
            tuple(sorted((k, _hashable(v.value)) for k, v in self.parameters.items())),
            self.messages.value if self.messages else (),
            tuple(x.value for x in self.licenses),
            tuple(a.digest for a in self.adapters),
            tuple(d.digest for d in self.drafts),
        )


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


class Side:
    """One revision, with the file digests and views computed on demand and kept."""

    def __init__(self, rev: Revision, mode: Mode, own: RememberedDeclared | None = None) -> None:
        """`own`: where each model's own request comes from; two sides of one repository
        share one, so a Modelfile unchanged between them is decoded once."""
        self.rev = rev
        self.mode = mode
        self.graph = rev.graph
        self.digests = rev.digests
        self._files: dict[tuple[str | None, str | None], str] = {}
        self._views: dict[str, View] = {}
        self._own = own if own is not None else RememberedDeclared(rev.repo.cache)

    def file_digest(self, resolved: ResolvedPath) -> str:
        key = (resolved.repo_path, resolved.abs_path)
        if key not in self._files:
            self._files[key] = self.rev.snapshot.sha256(resolved)
        return self._files[key]

    def file_ref(self, resolved: ResolvedPath, origin: str) -> FileRef:
        path = resolved.repo_path or resolved.abs_path or resolved.arg
        return FileRef(path, self.file_digest(resolved), origin)

    def base_ref(self, base: Base) -> BaseRef:
        if base.kind == "external":
            return BaseRef("external", base.target, self.rev.lock.get(base.target))
        if base.kind == "file":
            content = ",".join(sorted(self.file_digest(f) for f in base.files))
            return BaseRef("file", base.target, content)
        return BaseRef(base.kind, base.target)

    def file(self, name: str) -> str:
        return self.graph.paths[name]

    def views(self, names: Sequence[str]) -> dict[str, View]:
        missing = [n for n in names if n not in self._views]
        if missing:
            self._views.update(
                self._effective(missing) if self.mode == "effective" else self._declared(missing)
            )
            self.rev.repo.cache.save()  # the requests worked out (graph/declaredcache.py)
        return {n: self._views[n] for n in names}

    def declared(self, names: Sequence[str]) -> dict[str, View]:
        """What each model's own Modelfile says, whatever the mode: a model renamed while
        its base changed differs in effect but not in its own file (revisions._renames)."""
        if self.mode == "declared":
            return self.views(names)
        return self._declared(list(names))

    def _effective(self, names: list[str]) -> dict[str, View]:
        effs = effective_all(self.graph, names, own=self._own)
        out: dict[str, View] = {}
        for name in names:
            eff, node = effs[name], self.graph.nodes[name]
            root = eff.chain[0]
            drafts = eff.drafts
            out[name] = View(
                name=name,
                own=self.base_ref(node.base),
                root=Sourced(self.base_ref(eff.base), root),
                texts=eff.texts,
                parameters=eff.parameters,
                messages=eff.messages,
                licenses=eff.licenses,
                adapters=tuple(self.file_ref(a.value, a.origin) for a in eff.adapters),
                drafts=tuple(self.file_ref(d, drafts.origin) for d in drafts.value)
                if drafts
                else (),
            )
        return out

    def _declared(self, names: list[str]) -> dict[str, View]:
        out: dict[str, View] = {}
        for name in names:
            node: ModelNode = self.graph.nodes[name]
            own = self._own(node)
            out[name] = View(
                name=name,
                own=self.base_ref(node.base),
                root=None,
                texts=own.texts,
                parameters=own.parameters,
                messages=Sourced(own.messages, name, own.messages_line) if own.messages else None,
                licenses=own.licenses,
                adapters=(self.file_ref(own.adapter.value, name),) if own.adapter else (),
                drafts=tuple(self.file_ref(d.value, name) for d in own.drafts),
            )
        return out


# --------------------------------------------------------------------------- comparing


def unified(old: str | None, new: str | None) -> str:
    """A unified diff (hunks only, no file header) of two texts, git-style for a missing
    final newline, so that even a difference in trailing whitespace shows."""
    a = (old or "").splitlines(keepends=True)
    b = (new or "").splitlines(keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(a, b, lineterm="\n", n=3):
        if line.startswith(("---", "+++")):
            continue
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of text\n")
    return "".join(out)


def _messages_text(messages: tuple[Message, ...]) -> str:
    return "".join(f"{m.role}: {m.content}\n" for m in messages)


def _param_changes(old: View, new: View) -> list[ParameterChange]:
    """Typed parameter differences; deepdiff finds them, list elements one by one."""
    old_vals = {k: v.value for k, v in old.parameters.items()}
    new_vals = {k: v.value for k, v in new.parameters.items()}
    if old_vals == new_vals:
        return []
    ops: dict[str, Op] = {}
    items: dict[str, list[ItemChange]] = {}
    # Keys added, removed, or holding a different scalar are told apart here; only lists
    # that differ go to deepdiff, for their element-by-element changes (its import alone
    # costs a third of a second, which a diff of scalars need not pay).
    deep: list[str] = []
    for key in old_vals.keys() | new_vals.keys():
        if key not in old_vals:
            ops[key] = "added"
        elif key not in new_vals:
            ops[key] = "removed"
        else:
            a, b = old_vals[key], new_vals[key]
            if isinstance(a, list) and isinstance(b, list):
                if a != b or list(map(type, a)) != list(map(type, b)):
                    deep.append(key)
            elif type(a) is not type(b) or a != b:
                ops[key] = "changed"
    if not deep:
        return _parameter_changes(old, new, ops, items)
    from deepdiff import DeepDiff

    # threshold 0: always key by key, never "the whole dict changed" when few keys are shared
    tree = DeepDiff(
        {k: old_vals[k] for k in deep},
        {k: new_vals[k] for k in deep},
        view="tree",
        verbose_level=2,
        threshold_to_diff_deeper=0,
    )
    report_ops: dict[str, Op] = {
        "dictionary_item_added": "added",
        "dictionary_item_removed": "removed",
        "iterable_item_added": "added",
        "iterable_item_removed": "removed",
    }
    for report, levels in tree.items():
        op = report_ops.get(report, "changed")
        for level in levels:
            path = level.path(output_format="list")
            key = str(path[0])
            if len(path) == 1:
                ops[key] = op
                continue
            ops.setdefault(key, "changed")
            items.setdefault(key, []).append(
                ItemChange(
                    op,
                    int(path[1]),
                    old=None if op == "added" else level.t1,
                    new=None if op == "removed" else level.t2,
                )
            )
    return _parameter_changes(old, new, ops, items)


def _parameter_changes(
    old: View, new: View, ops: dict[str, Op], items: dict[str, list[ItemChange]]
) -> list[ParameterChange]:
    out = []
    for key in sorted(ops):
        o, n = old.parameters.get(key), new.parameters.get(key)
        out.append(
            ParameterChange(
                key,
                ops[key],
                o.value if o else None,
                n.value if n else None,
                o.origin if o else None,
                n.origin if n else None,
                tuple(sorted(items.get(key, ()), key=lambda i: (i.index, i.op))),
            )
        )
    return out


def _license_change(old: View, new: View) -> LicenseChange | None:
    a, b = tuple(x.value for x in old.licenses), tuple(x.value for x in new.licenses)
    if a == b:
        return None
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    tag, i1, _, j1, _ = next(op for op in matcher.get_opcodes() if op[0] != "equal")
    origin_old = old.licenses[i1].origin if i1 < len(a) and tag != "insert" else None
    origin_new = new.licenses[j1].origin if j1 < len(b) and tag != "delete" else None
    return LicenseChange(
        a,
        b,
        origin_old,
        origin_new,
        unified("\n\n".join(a) + "\n" if a else "", "\n\n".join(b) + "\n" if b else ""),
    )


def compare(old: View, new: View) -> tuple[Change, ...]:
    """Field-by-field differences between two views of a model, in display order."""
    out: list[Change] = []
    if old.own != new.own:
        out.append(FromChange(old.own, new.own))
    if old.root is not None and new.root is not None and old.root.value != new.root.value:
        own_root_both = old.root.origin == old.name and new.root.origin == new.name
        if not own_root_both:
            out.append(
                WeightsChange(old.root.value, new.root.value, old.root.origin, new.root.origin)
            )
    if [x.digest for x in old.adapters] != [x.digest for x in new.adapters]:
        out.append(FilesChange("adapters", old.adapters, new.adapters))
    if [x.digest for x in old.drafts] != [x.digest for x in new.drafts]:
        out.append(FilesChange("draft", old.drafts, new.drafts))
    for key in TEXT_FIELDS:
        a, b = old.texts.get(key), new.texts.get(key)
        va, vb = (a.value if a else None), (b.value if b else None)
        if va != vb:
            diff = unified(va, vb) if key in ("system", "template") else None
            out.append(
                TextChange(key, va, vb, a.origin if a else None, b.origin if b else None, diff)
            )
    out.extend(_param_changes(old, new))
    ma, mb = old.messages, new.messages
    msgs_a, msgs_b = (ma.value if ma else ()), (mb.value if mb else ())
    if msgs_a != msgs_b:
        out.append(
            MessagesChange(
                msgs_a,
                msgs_b,
                ma.origin if ma else None,
                mb.origin if mb else None,
                unified(_messages_text(msgs_a), _messages_text(msgs_b)),
            )
        )
    lic = _license_change(old, new)
    if lic is not None:
        out.append(lic)
    return tuple(out)
