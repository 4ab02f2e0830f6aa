"""Which candidate tags can go (`mfops prune`), decided from one server listing.

Every build without `--tag` leaves `name:sha-<12 hex of the commit>` behind (and the content
tag `name:mf-<12 hex of the digest>` it is an alias of, build/tags.py), so after a week of
work each model has ten candidates and nothing removes them. A candidate may be deleted when
nothing depends on it; it is kept when:

- it is HEAD's candidate (what `test` and `promote` use next);
- it holds the same manifest as a release tag or alias of that model (a release was made
  from it: deleting the tag frees nothing and loses the name people saw in the PR);
- it is among the newest `keep` candidates of its model, newest by the commit date of the
  commit it was built from (the hex in its name); a commit this clone does not have counts
  as the oldest, so it goes first;

A content tag (`^mf-[0-9a-f]{12}$`) is never deleted while any other tag of its model that
stays holds its manifest, nor when it names what the repo builds now; one left holding a
manifest no remaining tag holds goes too (deleting only the candidates would free nothing).
Nothing else is ever deleted: only a tag matching the candidate pattern (from
`defaults.candidate_tag`, `sha-{short}` -> `sha-<12 hex>` and `sha-<12 hex>-dirty`) or a
content tag of a model of this repository. Release tags and aliases are the tags any
release record in git moved (`--to`, `--alias`), `latest`, and release-shaped tags
(`vX.Y`, `vX.Y.Z`, and anything version-like such as `v1` or `v1.2.3-rc1`).

Deciding (`plan_prune`) is pure: the listing, the release tags and a commit-date lookup go
in, a `PrunePlan` comes out, so `--dry-run` shows exactly what a run deletes. The CLI
executes the plan under the writer lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from mfops.build.tags import is_content_tag, is_release_shaped
from mfops.errors import MfopsError
from mfops.repo.gitstore import SHORT_LEN

__all__ = ["PruneItem", "PrunePlan", "candidate_pattern", "plan_prune", "release_tags_of"]

_VERSION = re.compile(r"^v\d+(\.\d+){0,2}([-+][0-9A-Za-z.-]+)?$")
#: Always a release alias, whatever the history says.
ALWAYS_RELEASE = frozenset({"latest"})


@dataclass(frozen=True)
class PruneItem:
    """One candidate tag: `name:tag`, its commit (None: not in this clone), and why it is
    deleted or kept."""

    name: str
    tag: str
    commit: str | None
    delete: bool
    why: str

    @property
    def target(self) -> str:
        return f"{self.name}:{self.tag}"


@dataclass(frozen=True)
class PrunePlan:
    items: tuple[PruneItem, ...]
    keep: int

    @property
    def deletions(self) -> list[PruneItem]:
        return [i for i in self.items if i.delete]

    @property
    def kept(self) -> list[PruneItem]:
        return [i for i in self.items if not i.delete]


def candidate_pattern(template: str) -> re.Pattern[str]:
    """The tags `defaults.candidate_tag` produces: `{short}` -> 12 hex (HEAD cut to 12, never
    `core.abbrev`), `{sha}` -> 40 hex, then an optional `-dirty`. The hex is the group
    `hex`."""
    parts = re.split(r"(\{short\}|\{sha\})", template)
    if not any(p in ("{short}", "{sha}") for p in parts):
        raise MfopsError(
            f"defaults.candidate_tag {template!r} names no commit ({{short}} or {{sha}}), so "
            "mfops cannot tell its candidates from other tags",
            hint="prune needs {short} or {sha} in it",
        )
    out, seen = [], False
    for part in parts:
        if part in ("{short}", "{sha}"):
            width = "{40}" if part == "{sha}" else f"{{{SHORT_LEN}}}"
            out.append(f"(?P<hex>[0-9a-f]{width})" if not seen else "(?P=hex)")
            seen = True
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "(?:-dirty)?$")


def release_tags_of(entries: Iterable[object]) -> set[str]:
    """The tags that history entries made releases or aliases (`to_tag`, `aliases`),
    whatever the outcome: a refused promotion may have been retried by hand."""
    found: set[str] = set(ALWAYS_RELEASE)
    for e in entries:
        to_tag = getattr(e, "to_tag", None)
        if to_tag:
            found.add(to_tag)
        found.update(getattr(e, "aliases", ()) or ())
    return {t.casefold() for t in found}


def is_release(tag: str, release_tags: set[str]) -> bool:
    return tag.casefold() in release_tags or is_release_shaped(tag) or bool(_VERSION.match(tag))


def plan_prune(
    tags: Mapping[str, Mapping[str, str]],
    *,
    pattern: re.Pattern[str],
    release_tags: set[str],
    head_tag: str | None,
    keep: int,
    commit_of: Callable[[str], tuple[str, int] | None],
    current: Mapping[str, str] | None = None,
    deployed: Mapping[str, set[str]] | None = None,
) -> PrunePlan:
    """Decide for every candidate tag and content tag (module docstring).

    `tags` maps each repo model to its tags on the server (tag -> manifest digest);
    `commit_of(hex)` gives (full SHA, commit time) for a candidate's hex, or None when the
    clone has no such commit; `current` maps a model to the content tag of what the repo
    builds now (kept whatever else holds it); `deployed` maps a model to the manifests a
    deploy record says this host's release tags hold (`mfops deploy`): a tag holding one is
    kept, whatever else holds it.
    """
    if keep < 0:
        raise MfopsError(f"--keep must be 0 or more, got {keep}")
    items: list[PruneItem] = []
    for name in sorted(tags):
        held = tags[name]
        released = {d for t, d in held.items() if is_release(t, release_tags)}
        in_use = (deployed or {}).get(name, set())
        found: list[tuple[int, str, str | None]] = []  # (time, tag, commit)
        for tag in sorted(held):
            m = pattern.match(tag)
            if m is None or is_release(tag, release_tags):
                continue
            resolved = commit_of(m.group("hex"))
            commit, when = resolved if resolved is not None else (None, -1)
            found.append((when, tag, commit))
        found.sort(key=lambda x: (x[0], x[1]), reverse=True)  # newest first
        newest = 0
        for when, tag, commit in found:
            if head_tag is not None and tag.casefold() == head_tag.casefold():
                items.append(PruneItem(name, tag, commit, False, "HEAD's candidate"))
            elif held[tag] in released:
                items.append(PruneItem(name, tag, commit, False, "a release tag or alias holds it"))
            elif held[tag] in in_use:
                items.append(PruneItem(name, tag, commit, False, "a deployed release holds it"))
            elif newest < keep:
                newest += 1
                items.append(PruneItem(name, tag, commit, False, f"among the newest {keep}"))
            else:
                why = "older" if when >= 0 else "older (its commit is not in this clone)"
                items.append(PruneItem(name, tag, commit, True, why))
        items += _content_tags(name, held, items, (current or {}).get(name), in_use)
    return PrunePlan(tuple(items), keep)


def _content_tags(
    name: str,
    held: Mapping[str, str],
    decided: list[PruneItem],
    now: str | None,
    in_use: set[str],
) -> list[PruneItem]:
    """The model's content tags that go: those whose manifest no remaining tag holds (only
    deleted candidates held it, or nothing did), except the content the repo builds now."""
    doomed = {i.tag for i in decided if i.name == name and i.delete}
    staying = {d for t, d in held.items() if not is_content_tag(t) and t not in doomed}
    out = []
    for tag in sorted(held):
        if not is_content_tag(tag) or held[tag] in staying or held[tag] in in_use:
            continue
        if now is not None and tag.casefold() == now.casefold():
            continue
        out.append(PruneItem(name, tag, None, True, "content tag no remaining tag holds"))
    return out
