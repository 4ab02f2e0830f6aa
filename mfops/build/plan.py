"""What a build will do, and why: selection, up-to-date checks, tags and reasons.

A plan is computed from the working tree, the build state of the host and one `/api/tags`
listing, before anything is created; `mfops build --dry-run` prints it and `build.py`
executes it. Every model in it carries an action and a reason a person can check:

- **create**: `changed` (its own Modelfile changed since REF), `base changed` (an ancestor, or
  the locked digest of its external base, changed), `new` (not at REF), `missing` (not on the
  server at TAG), `drifted` (the server's copy is not what mfops recorded: changed by hand),
  `stale` (built at TAG from other content), `forced` (`--force`), `needed` (a source ancestor
  of a selected model that is not at TAG yet);
- **tag**: the same, but a build with the same digest already exists on the server under
  another tag, so a server-side copy gives TAG the identical model (no re-create);
- **skip**: `up to date`: state says TAG was built from this digest and the server still has
  the manifest that build produced.

Selection (`--changed`): the models whose digest differs between REF and the working tree;
by construction (Merkle digests) that includes every descendant of a changed base, and no
model whose file changed only in comments. Default REF: the newest version tag reachable from
`HEAD^` (so on a release commit the previous release), else `HEAD~1`; with a single commit
and no tag there is nothing to compare with and every model is `new`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mfops.build.reasons import change_reasons, explain_changes
from mfops.errors import MfopsError, RefError
from mfops.graph.revision import Revision as Rev
from mfops.language.names import is_reserved_tag, tag_problem
from mfops.server.bases import check
from mfops.server.request import from_for
from mfops.server.roundtrip import BaseConfigs, drift

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.repo.repository import Repo
    from mfops.server.bases import BaseStatus
    from mfops.server.client import Server, ServerModel
    from mfops.store.builds import BuildState

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
    `{short}` and `{sha}` name HEAD; `-dirty` is appended when the work tree has uncommitted
    changes, so a candidate never claims to be a commit it is not."""
    head = repo.head_commit()
    if head is None:
        raise RefError(
            "cannot derive a candidate tag: the repository has no commit yet",
            hint="commit first, or pass --tag",
        )
    short = repo.short_sha("HEAD")
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


def default_since(repo: Repo) -> tuple[str | None, str]:
    """REF for `--changed`: the newest version tag reachable from HEAD^, else HEAD~1."""
    try:
        repo.resolve_ref("HEAD^")
    except RefError:
        return None, "no parent commit and no version tag: every model is new"
    tags = repo.version_tags(reachable_from="HEAD^")
    if tags:
        return tags[0], f"newest version tag reachable from HEAD^ ({tags[0]})"
    return "HEAD~1", "HEAD~1 (no version tag reachable from HEAD^)"


# --------------------------------------------------------------------------- server side


def server_status(
    key: str, digest: str, state: BuildState, listing: dict[str, ServerModel]
) -> tuple[str, str]:
    """(`up to date` | `missing` | `drifted` | `stale`, detail) of one `name:tag`."""
    have = listing.get(key.casefold())
    if have is None:
        return "missing", f"{key} is not on the server"
    rec = state.get(key)
    if rec is None:
        return "drifted", f"{key} is on the server but mfops has no record of building it"
    if rec.manifest != have.digest:
        return "drifted", (
            f"{key} was changed on the server: manifest {have.digest[:12]}, "
            f"mfops built {rec.manifest[:12]}"
        )
    if rec.digest != digest:
        return "stale", f"{key} was built from {rec.digest[:19]}, the repo now builds {digest[:19]}"
    return "up to date", f"{key} holds {digest[:19]}"


def existing_build(
    name: str, digest: str, target: str, state: BuildState, listing: dict[str, ServerModel]
) -> tuple[str, str] | None:
    """(name:tag, manifest) of a verified build of the same digest, same model first."""
    found = []
    for key in state.with_digest(digest):
        rec = state.get(key)
        have = listing.get(key.casefold())
        if key != target and rec is not None and have is not None and have.digest == rec.manifest:
            found.append((not key.startswith(f"{name}:"), key, rec.manifest))
    if not found:
        return None
    _, key, manifest = min(found)
    return key, manifest


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
        since, origin = default_since(repo)
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
    state: BuildState,
    listing: dict[str, ServerModel],
    host: str,
    server: Server | None = None,
) -> Plan:
    """Decide, for every selected model and the ancestors it needs at TAG, what to do."""
    graph, digests = rev.graph, rev.digests
    chosen, why, old, since, since_origin = select(rev, sel)

    def decide(name: str, reason: str | None, detail: str, forced: bool) -> PlanItem:
        key = f"{name}:{tag}"
        status, st_detail = server_status(key, digests[name], state, listing)
        have = listing.get(key.casefold())
        common: dict[str, Any] = dict(
            name=name, target=key, digest=digests[name], from_=from_for(graph.nodes[name], tag)
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
        found = None if forced else existing_build(name, digests[name], key, state, listing)
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
    bases = check(graph, rev.lock, listing, [i.name for i in items if i.action == "create"])
    return Plan(
        tag, tag_origin, host, tuple(items), tuple(skipped), since, since_origin, tuple(bases)
    )


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
