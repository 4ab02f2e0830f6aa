"""Does the server hold what the repo would build now? Per model, from state and one listing.

For each repo model, the tags the server has for it are looked up in the build state:

- **up to date**: some tag was built by mfops from the model's current digest and the server
  still has the manifest that build produced;
- **drifted**: a tag was built from the current digest, but its manifest changed since (by
  hand, or by a tool other than mfops);
- **stale**: the server has the model, but no tag holds the current content;
- **missing**: the server has no tag of the model at all.

With a tag given, only that tag counts. Nothing here calls the server: the caller passes the
`/api/tags` listing, so `mfops status` costs one request however big the repo is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.language.names import parse_name

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.server.client import ServerModel
    from mfops.store.builds import BuildState

Status = Literal["up to date", "drifted", "stale", "missing"]


@dataclass(frozen=True)
class ModelStatus:
    name: str
    digest: str
    status: Status
    tags: tuple[str, ...]
    current: tuple[str, ...]
    drifted: tuple[str, ...]


def _tags_by_model(listing: dict[str, ServerModel]) -> dict[str, list[tuple[str, ServerModel]]]:
    out: dict[str, list[tuple[str, ServerModel]]] = {}
    for entry in listing.values():
        try:
            parsed = parse_name(entry.name)
        except ValueError:
            continue
        out.setdefault(parsed.untagged.casefold(), []).append((parsed.tag, entry))
    return out


def model_statuses(
    rev: Revision, state: BuildState, listing: dict[str, ServerModel], *, tag: str | None = None
) -> list[ModelStatus]:
    """The status of every model of `rev`, in graph order."""
    by_model = _tags_by_model(listing)
    out: list[ModelStatus] = []
    for name in rev.graph.order:
        digest = rev.digests[name]
        entries = sorted(by_model.get(parse_name(name).untagged.casefold(), []), key=lambda t: t[0])
        if tag is not None:
            entries = [(t, e) for t, e in entries if t.casefold() == tag.casefold()]
        current, drifted = [], []
        for t, entry in entries:
            rec = state.get(f"{name}:{t}")
            if rec is None or rec.digest != digest:
                continue
            (current if rec.manifest == entry.digest else drifted).append(t)
        status: Status
        if current:
            status = "up to date"
        elif drifted:
            status = "drifted"
        elif entries:
            status = "stale"
        else:
            status = "missing"
        out.append(
            ModelStatus(
                name, digest, status, tuple(t for t, _ in entries), tuple(current), tuple(drifted)
            )
        )
    return out
