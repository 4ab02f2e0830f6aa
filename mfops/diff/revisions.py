"""Two revisions compared model by model: which models changed, were renamed, added or removed,
and what changed in each (the `Change` records of changes.py, computed by compare.py).

Kept apart from changes.py (the vocabulary of a diff) so that compare.py can build changes
without importing the walk over models that uses it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from mfops.diff.changes import Change, DiffResult, Mode, ModelDiff, Move, Status
from mfops.diff.compare import Side, compare
from mfops.errors import UnknownModelError
from mfops.graph.declaredcache import RememberedDeclared
from mfops.graph.revision import Revision


def _pair(
    removed: list[str],
    added: list[str],
    key_old: dict[str, object],
    key_new: dict[str, object],
    file_old: dict[str, str],
    file_new: dict[str, str],
) -> list[tuple[str, str]]:
    """Pair removed and added models with equal keys; the same file first, then by name."""
    by_key: dict[object, list[str]] = {}
    for name in sorted(added):
        by_key.setdefault(key_new[name], []).append(name)
    pairs: list[tuple[str, str]] = []
    paired: set[str] = set()
    for same_file in (True, False):
        for name in sorted(removed):
            candidates = by_key.get(key_old[name], [])
            if name in paired or not candidates:
                continue
            match = next(
                (c for c in candidates if not same_file or file_new[c] == file_old[name]), None
            )
            if match is not None:
                candidates.remove(match)
                pairs.append((name, match))
                paired.add(name)
    return pairs


def diff_revisions(
    old: Revision, new: Revision, *, mode: Mode = "effective", names: Sequence[str] = ()
) -> DiffResult:
    """Compare two revisions model by model; `names` restricts the report to those models
    (by their name in either revision). Raises UnknownModelError for a name in neither.

    Models are listed changed first, then renamed, added and removed, each group in
    dependency order (parents before children).
    """
    old.load(require_models=True)
    new.load(require_models=True)
    own = RememberedDeclared(new.repo.cache) if old.repo is new.repo else None
    a, b = Side(old, mode, own), Side(new, mode, own)
    for name in names:
        if name not in a.graph and name not in b.graph:
            raise UnknownModelError(
                f"unknown model {name!r} (not at {old.label} nor at {new.label})",
                hint=_suggest(name, [*a.graph.order, *b.graph.order]),
            )
    # Only the models listed are put in order (graph.sort): a stored graph makes a node
    # when it is first used, and 10,000 unchanged models need neither (stored.py).
    # Set operations on the digest and path tables (in C): 10,000 names each.
    da, db = a.digests, b.digests
    common = db.keys() & da.keys()
    changed = b.graph.sort({n for n, _ in db.items() - da.items()} & common)
    removed = a.graph.sort(da.keys() - db.keys())
    added = b.graph.sort(db.keys() - da.keys())
    renamed_to = _renames(a, b, removed, added)  # new name -> old name
    renamed_from = set(renamed_to.values())
    dirty = (
        set(changed)
        | {n for n in added if n not in renamed_to}
        | {n for n, o in renamed_to.items() if a.digests[o] != b.digests[n]}
    )

    def keep(*candidates: str) -> bool:
        return not names or any(c in names for c in candidates)

    pairs = [(n, n) for n in changed if keep(n)]
    pairs += [(renamed_to[n], n) for n in added if n in renamed_to and keep(renamed_to[n], n)]
    views_a = a.views([o for o, _ in pairs])
    views_b = b.views([n for _, n in pairs])
    models: list[ModelDiff] = []
    for old_name, name in pairs:
        changes = compare(views_a[old_name], views_b[name])
        because = tuple(x for x in b.graph.ancestors(name) if x in dirty)
        status: Status = "changed" if old_name == name else "renamed"
        models.append(
            ModelDiff(
                name,
                status,
                old_name,
                a.file(old_name),
                b.file(name),
                a.digests[old_name],
                b.digests[name],
                b.base_ref(b.graph.nodes[name].base),
                changes,
                because,
                _note(changes, because, mode) if status == "changed" else None,
            )
        )
    models += [
        ModelDiff(
            n, "added", None, None, b.file(n), None, b.digests[n], b.base_ref(b.graph.nodes[n].base)
        )
        for n in added
        if n not in renamed_to and keep(n)
    ]
    models += [
        ModelDiff(
            n, "removed", n, a.file(n), None, a.digests[n], None, a.base_ref(a.graph.nodes[n].base)
        )
        for n in removed
        if n not in renamed_from and keep(n)
    ]
    unchanged = common - dirty
    if names:
        unchanged = {n for n in unchanged if keep(n)}
    paths_a, paths_b = a.graph.paths, b.graph.paths
    moved = b.graph.sort({n for n, _ in paths_b.items() - paths_a.items()} & unchanged)
    return DiffResult(
        old.label,
        new.label,
        old.ref,
        new.ref,
        mode,
        tuple(models),
        len(unchanged),
        tuple(Move(n, paths_a[n], paths_b[n]) for n in moved),
        new_graph=b.graph,
    )


def _renames(a: Side, b: Side, removed: list[str], added: list[str]) -> dict[str, str]:
    """Removed and added models that are one model renamed: equal digests first, then equal
    compared content (the views), then an equal own Modelfile (renamed in the same change
    that changed its base, so what it inherits differs); new name -> old name."""
    files_a = {n: a.file(n) for n in removed}
    files_b = {n: b.file(n) for n in added}
    pairs = _pair(
        removed,
        added,
        {n: a.digests[n] for n in removed},
        {n: b.digests[n] for n in added},
        files_a,
        files_b,
    )
    left_r = [n for n in removed if n not in {p[0] for p in pairs}]
    left_a = [n for n in added if n not in {p[1] for p in pairs}]
    if left_r and left_a:
        va, vb = a.views(left_r), b.views(left_a)
        pairs += _pair(
            left_r,
            left_a,
            {n: v.content_key() for n, v in va.items()},
            {n: v.content_key() for n, v in vb.items()},
            files_a,
            files_b,
        )
    left_r = [n for n in removed if n not in {p[0] for p in pairs}]
    left_a = [n for n in added if n not in {p[1] for p in pairs}]
    if left_r and left_a and a.mode == "effective":
        own_a, own_b = a.declared(left_r), b.declared(left_a)
        pairs += _pair(
            left_r,
            left_a,
            {n: v.content_key() for n, v in own_a.items()},
            {n: v.content_key() for n, v in own_b.items()},
            files_a,
            files_b,
        )
    return {new_name: old_name for old_name, new_name in pairs}


def _note(changes: tuple[Change, ...], because: tuple[str, ...], mode: Mode) -> str | None:
    if changes:
        return None
    if because:
        return f"rebuilt because {because[0]} changed; no {mode} difference"
    return f"digest changed; no {mode} difference"


def _suggest(name: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(known)), n=3)
    return f"did you mean {', '.join(close)}?" if close else None
