"""Does the server hold what the repo would build now? Per model, from one listing.

Every tag the server has for a repo model (content tags `mf-*` aside) is judged by
`tags.classify`, the same classifier the build plan uses, so `status` and
`build --dry-run` always agree about a tag:

- **up to date**: some tag holds the content tag of the model's current digest (with no
  other tag, the content tag itself counts);
- **drifted**: some tag holds a model no content tag holds (made or changed by hand, or by
  a tool other than mfops); it outranks *up to date*, since someone should look;
- **stale**: the server has the model, but only at other content;
- **missing**: the server has no tag of the model at all.

With a tag given, only that tag counts. Nothing here calls the server and nothing reads a
local record: the caller passes the `/api/tags` listing, so `mfops status` costs one request
however big the repo is, and gives the same answer in any clone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.build.tags import classify, content_tag, is_content_tag
from mfops.language.names import parse_name

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.server.client import ServerModel

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
    rev: Revision, listing: dict[str, ServerModel], *, tag: str | None = None
) -> list[ModelStatus]:
    """The status of every model of `rev`, in graph order."""
    by_model = _tags_by_model(listing)
    out: list[ModelStatus] = []
    for name in rev.graph.order:
        digest = rev.digests[name]
        entries = sorted(by_model.get(parse_name(name).untagged.casefold(), []), key=lambda t: t[0])
        if tag is not None:
            entries = [(t, e) for t, e in entries if t.casefold() == tag.casefold()]
        shown = [t for t, _ in entries if tag is not None or not is_content_tag(t)]
        current, drifted = [], []
        for t in shown:
            verdict, _ = classify(name, t, digest, listing)
            if verdict == "up to date":
                current.append(t)
            elif verdict == "drifted":
                drifted.append(t)
        has_content = listing.get(f"{name}:{content_tag(digest)}".casefold()) is not None
        status: Status
        if drifted:
            status = "drifted"
        elif current or (has_content and tag is None):
            status = "up to date"
        elif entries:
            status = "stale"
        else:
            status = "missing"
        out.append(ModelStatus(name, digest, status, tuple(shown), tuple(current), tuple(drifted)))
    return out
