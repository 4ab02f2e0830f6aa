"""What a build will do, and why: selection, up-to-date checks, tags and reasons.

A plan is computed from the working tree and one `/api/tags` listing (no local record: the
server's content tags say what mfops built, see tags.py), before anything is created;
`mfops build --dry-run` prints it and `build.py` executes it. Every model in it carries an
action and a reason a person can check:

- **create**: `changed` (its own Modelfile changed since REF), `base changed` (an ancestor, or
  the locked digest of its external base, changed), `new` (not at REF), `missing` (not on the
  server at TAG), `drifted` (the server's copy is no content mfops built: changed by hand),
  `stale` (built at TAG from other content), `forced` (`--force`), `needed` (a source ancestor
  of a selected model that is not at TAG yet);
- **tag**: the same, but the content tag of the same digest already exists on the server,
  so a server-side copy gives TAG the identical model (no re-create);
- **skip**: `up to date`: TAG holds the same manifest as the content tag of this digest.

Selection (`--changed`): the models whose digest differs between REF and the working tree;
by construction (Merkle digests) that includes every descendant of a changed base, and no
model whose file changed only in comments. Default REF: the commit of the newest successful
promotion on this host per the release records (what was actually released), else the newest
`vX.Y` / `vX.Y.Z` tag reachable from `HEAD^`, else `HEAD~1` (a release gate: every model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mfops.build.reasons import change_reasons, explain_changes
from mfops.build.tags import (
    classify,
    content_tag,
    is_content_tag,
    is_release_tag,
    release_version,
)
from mfops.errors import MfopsError, RefError
from mfops.graph.revision import Revision as Rev
from mfops.language.names import is_reserved_tag, tag_problem
from mfops.repo.gitstore import short_commit
from mfops.repo.history import load as load_records
from mfops.server.bases import check
from mfops.server.request import from_for
from mfops.server.roundtrip import BaseConfigs, drift

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.repo.repository import Repo
    from mfops.server.bases import BaseStatus
    from mfops.server.client import Server, ServerModel

Action = Literal["create", "tag", "skip"]

REASONS = {
    "changed": "changed",
    "base changed": "base changed",
    "new": "new",
    "missing": "missing on server",
    "drifted": "drifted",
    "stale": "stale",
    "forced": "forced",
    "needed": "needed as a base",
    "up to date": "up to date",
}


@dataclass(frozen=True)
class PlanItem:
    """One model of the plan. `parent` is set when the source parent is in the plan too
    (the item must wait for it); `copy_from` names the build a `tag` action copies."""

    name: str
    target: str
    action: Action
    reason: str
    detail: str
    digest: str
    parent: str | None = None
    from_: str | None = None
    copy_from: str | None = None
    manifest: str | None = None
    step: int = 0
    explain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """Which models the user asked for (exactly one of names / all / changed)."""

    names: tuple[str, ...] = ()
    all: bool = False
    changed: bool = False
    since: str | None = None
    force: bool = False
    explain: bool = False
    host: str | None = None


@dataclass(frozen=True)
class Plan:
    tag: str
    tag_origin: str
    host: str
    items: tuple[PlanItem, ...]
    up_to_date: tuple[PlanItem, ...]
    since: str | None = None
    since_origin: str | None = None
    bases: tuple[BaseStatus, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def steps(self) -> list[list[PlanItem]]:
        """Items grouped by how many planned ancestors they wait for: one group can run in
        parallel (the ready-queue starts each item as soon as its parent is done)."""
        groups: dict[int, list[PlanItem]] = {}
        for item in self.items:
            groups.setdefault(item.step, []).append(item)
        return [groups[k] for k in sorted(groups)]

    @property
    def width(self) -> int:
        return max((len(s) for s in self.steps), default=0)


# --------------------------------------------------------------------------- tag and REF


def candidate_tag(repo: Repo, template: str) -> tuple[str, str]:
    """The tag a build without `--tag` uses, from `defaults.candidate_tag` (`sha-{short}`):
    `{short}` is HEAD's first 12 hex digits (fixed, whatever git's `core.abbrev`), `{sha}`
    all 40; `-dirty` is appended when the work tree has uncommitted changes, so a candidate
    never claims to be a commit it is not."""
    head = repo.head_commit()
    if head is None:
        raise RefError(
            "cannot derive a candidate tag: the repository has no commit yet",
            hint="commit first, or pass --tag",
        )
    short = short_commit(head)
    try:
        tag = template.format(short=short, sha=head)
    except (KeyError, IndexError, ValueError) as err:
        raise MfopsError(
            f"defaults.candidate_tag {template!r}: bad placeholder {err}",
            hint="use {short} or {sha}",
        ) from None
    origin = f"HEAD {short}"
    if repo.is_dirty():
        tag += "-dirty"
        origin += " with uncommitted changes"
    check_tag(tag)
    return tag, origin


def check_tag(tag: str) -> None:
    problem = tag_problem(tag)
    if problem is not None:
        raise MfopsError(f"invalid tag {tag!r}: {problem}")
    if is_reserved_tag(tag):
        raise MfopsError(f"tag {tag!r} is reserved by Ollama for cloud/local routing")
    if ".." in tag:  # Ollama allows it; mfops refuses anything that reads like a path or range
        raise MfopsError(f"invalid tag {tag!r}: '..' is not allowed in a tag")


def check_build_tag(tag: str, recorded: set[str]) -> None:
    """A tag `build --tag` (or the gate's `--tag`) may write: not a content tag
    (mfops' own) and not a release tag or alias, which only promote and rollback move."""
    check_tag(tag)
    if is_content_tag(tag):
        raise MfopsError(
            f"tag {tag!r} is a content tag: mfops writes those itself",
            hint="build without --tag, or choose another tag",
        )
    if is_release_tag(tag, recorded):
        raise MfopsError(
            f"tag {tag!r} is a release tag or alias: only promote and rollback move it",
            hint=f"build the candidate (no --tag), then `mfops promote --all --to {tag}`"
            if tag.casefold() != "latest"
            else "build the candidate (no --tag), then `mfops promote --all --to vX.Y "
            "--alias latest`",
        )


def _released_commit(repo: Repo, host: str | None) -> tuple[str, str] | None:
    """(commit, release) of the newest successful promotion on `host` whose commit is in
    this repo and an ancestor of HEAD."""
    head = repo.head_commit()
    if head is None:
        return None
    for entry in reversed(load_records(repo, host=host)):
        if entry.kind != "promote" or entry.outcome != "promoted" or not entry.commit:
            continue
        if repo.store.is_ancestor(entry.commit, head):
            return entry.commit, entry.to_tag or entry.from_tag
    return None


def release_tags(repo: Repo, reachable_from: str) -> list[str]:
    """Tags shaped `vX.Y` or `vX.Y.Z` reachable from `reachable_from`, newest first."""
    if repo.git_root is None:
        return []
    merged = repo.resolve_ref(reachable_from)
    found = [(v, t) for t in repo.store.tags(merged) if (v := release_version(t))]
    found.sort(reverse=True)
    return [t for _, t in found]


def default_since(
    repo: Repo, host: str | None = None, *, release: bool = False
) -> tuple[str | None, str]:
    """REF for `--changed` and the gate: what was actually released (the commit of the
    newest successful promotion on `host`, per the records), else the newest `vX.Y` /
    `vX.Y.Z` tag reachable from HEAD^, else HEAD~1, or with `release` (a release's scope)
    nothing: every model. The second item says which base was used."""
    released = _released_commit(repo, host)
    if released is not None:
        commit, tag = released
        return commit, f"last release per the records ({tag} at {short_commit(commit)})"
    try:
        repo.resolve_ref("HEAD^")
    except RefError:
        return None, "no release recorded and no parent commit: every model"
    tags = release_tags(repo, "HEAD^")
    if tags:
        return tags[0], f"no release recorded; newest version tag reachable from HEAD^ ({tags[0]})"
    if release:
        return None, "no release recorded and no version tag: every model"
    return "HEAD~1", "HEAD~1 (no release recorded and no version tag reachable from HEAD^)"


# --------------------------------------------------------------------------- server side


def server_status(
    name: str, tag: str, digest: str, listing: dict[str, ServerModel]
) -> tuple[str, str]:
    """(`up to date` | `missing` | `drifted` | `stale`, detail) of `name:tag`: tags.classify,
    the one classifier `status` uses too."""
    return classify(name, tag, digest, listing)


def existing_build(
    name: str, digest: str, target: str, listing: dict[str, ServerModel]
) -> tuple[str, str] | None:
    """(name:content-tag, manifest) when the server already holds this content."""
    source = f"{name}:{content_tag(digest)}"
    have = listing.get(source.casefold())
    if have is None or source.casefold() == target.casefold():
        return None
    return source, have.digest


# --------------------------------------------------------------------------- planning


def select(
    rev: Revision, sel: Selection
) -> tuple[list[str], dict[str, tuple[str, str]], Revision | None, str | None, str | None]:
    """(selected names in order, change reasons, REF revision, REF, how REF was chosen)."""
    graph = rev.graph
    digests = rev.load()
    if not sel.changed:
        if sel.all:
            return list(graph.order), {}, None, None, None
        return graph.closure([graph[n].name for n in sel.names]), {}, None, None, None
    repo = rev.repo
    since: str | None
    origin: str | None
    if sel.since:
        repo.resolve_ref(sel.since)
        since, origin = sel.since, "--since"
    else:
        since, origin = default_since(repo, sel.host)
    old = Rev(repo, since) if since is not None else None
    old_digests = old.load() if old is not None else {}
    chosen = [n for n in graph.order if old_digests.get(n) != digests[n]]
    return chosen, change_reasons(old, rev, chosen), old, since, origin


def make_plan(
    rev: Revision,
    sel: Selection,
    *,
    tag: str,
    tag_origin: str,
    listing: dict[str, ServerModel],
    host: str,
    server: Server | None = None,
) -> Plan:
    """Decide, for every selected model and the ancestors it needs at TAG, what to do."""
    graph, digests = rev.graph, rev.digests
    chosen, why, old, since, since_origin = select(rev, sel)

    def decide(name: str, reason: str | None, detail: str, forced: bool) -> PlanItem:
        key = f"{name}:{tag}"
        status, st_detail = server_status(name, tag, digests[name], listing)
        have = listing.get(key.casefold())
        common: dict[str, Any] = dict(
            name=name,
            target=key,
            digest=digests[name],
            from_=from_for(graph.nodes[name], _from_tag(rev, name, tag)),
        )
        if status == "up to date" and not forced:
            return PlanItem(
                action="skip",
                reason="up to date",
                detail=st_detail,
                manifest=have.digest if have else None,
                **common,
            )
        if status == "up to date":
            reason, detail = "forced", "--force rebuilds it although it is up to date"
        elif status == "drifted" or reason is None:
            reason, detail = status, st_detail
        found = None if forced else existing_build(name, digests[name], key, listing)
        if found is not None:
            return PlanItem(
                action="tag",
                reason=reason,
                detail=f"{detail}; same content as {found[0]}",
                copy_from=found[0],
                manifest=found[1],
                **common,
            )
        return PlanItem(action="create", reason=reason, detail=detail, **common)

    decided: dict[str, PlanItem] = {}
    for name in chosen:
        reason, detail = why.get(name, (None, ""))
        decided[name] = decide(name, reason, detail, sel.force)
    for name in list(decided):
        if decided[name].action == "skip":
            continue
        child = name
        for anc in reversed(graph.ancestors(name)):
            if anc not in decided:
                decided[anc] = decide(anc, "needed", f"parent of {child}, not at {tag} yet", False)
            if decided[anc].action == "skip":
                break
            child = anc
    items: list[PlanItem] = []
    skipped: list[PlanItem] = []
    steps: dict[str, int] = {}
    for name in graph.order:
        item = decided.get(name)
        if item is None:
            continue
        if item.action == "skip":
            skipped.append(item)
            continue
        parent = graph.nodes[name].parent
        dep = parent if parent in decided and decided[parent].action != "skip" else None
        steps[name] = steps[dep] + 1 if dep else 1
        items.append(_replace(item, parent=dep, step=steps[name]))
    if sel.explain:
        items = _explained(items, rev, old, server)
    creating = [i.name for i in items if i.action == "create"]
    read_back = server.show if server is not None else None
    bases = check(graph, rev.lock, listing, creating, read_back=read_back)
    return Plan(
        tag, tag_origin, host, tuple(items), tuple(skipped), since, since_origin, tuple(bases)
    )


def _from_tag(rev: Revision, name: str, tag: str) -> str:
    """The tag a source parent is named by in the create: its content tag (execute.py)."""
    parent = rev.graph.nodes[name].parent
    return content_tag(rev.digests[parent]) if parent else tag


def _replace(item: PlanItem, **changes: object) -> PlanItem:
    from dataclasses import replace

    return replace(item, **changes)  # type: ignore[arg-type]


def _explained(
    items: list[PlanItem], rev: Revision, old: Revision | None, server: Server | None
) -> list[PlanItem]:
    """Add the `--explain` lines: field changes since REF, or what drifted on the server."""
    changed = [i.name for i in items if i.reason in ("changed", "base changed")]
    fields = explain_changes(old, rev, changed)
    bases = BaseConfigs(server) if server is not None else None
    out = []
    for item in items:
        lines = [item.detail, *fields.get(item.name, ())]
        if item.reason == "drifted" and server is not None and bases is not None:
            eff = rev.effective[item.name]
            found = drift(server, eff, item.target, bases)
            lines += [f"on the server: {m.describe()}" for m in found]
        out.append(_replace(item, explain=tuple(lines)))
    return out
