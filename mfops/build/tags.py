"""Which tags mfops makes, and the one classifier of what a server tag holds.

The server is the truth about what it holds, and the repo is the truth about what it would
build; no local record stands between them, so a fresh clone, another machine, a CI runner
and any spelling of the host reach the same verdict. The link is the *content tag*: every
build also puts its model at `name:mf-<first 12 hex of the mfops digest>`, as Nix or Bazel
name outputs by their inputs, and writes it only after the read-back check passed. A tag
holds what the repo builds when its manifest equals that content tag's manifest.

Tags of a model (see docs/architecture.md, "Tags"):

- content tags `mf-<12 hex>`, written by every build, never moved;
- candidates `sha-<12 hex of HEAD>` (`-dirty` with uncommitted changes): aliases of a
  content tag, named without `git rev-parse --short`, so `core.abbrev` cannot change them;
- release tags and aliases: `latest`, anything shaped `vX.Y` / `vX.Y.Z`, and every tag a
  release record names; only `promote` and `rollback` move them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

from mfops.language.names import is_content_tag as is_content_tag  # re-exported
from mfops.repo.gitstore import short_commit

if TYPE_CHECKING:
    from mfops.server.client import ServerModel

CONTENT_PREFIX = "mf-"
#: Any case: Ollama resolves a tag case-insensitively, so `m:V1.0` *is* `m:v1.0` there.
_RELEASE = re.compile(
    r"v(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)(?:\.(?P<patch>0|[1-9][0-9]*))?\Z",
    re.IGNORECASE,
)
ALWAYS_RELEASE = ("latest",)
short = short_commit  # the candidate's commit prefix; lives with git (server/ uses it too)

Verdict = Literal["up to date", "stale", "drifted", "missing"]


def content_tag(digest: str) -> str:
    """`mf-` and the first 12 hex digits of an mfops digest (`sha256:<64 hex>`)."""
    return CONTENT_PREFIX + digest.removeprefix("sha256:")[:12]


def release_version(tag: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a `vX.Y` or `vX.Y.Z` tag (patch 0 for `vX.Y`), else None."""
    m = _RELEASE.match(tag)
    if m is None:
        return None
    return int(m.group("major")), int(m.group("minor")), int(m.group("patch") or 0)


def is_release_shaped(tag: str) -> bool:
    """`latest`, `vX.Y` or `vX.Y.Z`: release tags whether or not a record names them."""
    return tag.casefold() in ALWAYS_RELEASE or release_version(tag) is not None


def is_release_tag(tag: str, recorded: Iterable[str] = ()) -> bool:
    """A release tag or alias: shaped like one, or named by a release record."""
    folded = tag.casefold()
    return is_release_shaped(tag) or any(folded == r.casefold() for r in recorded)


def _manifest(listing: Mapping[str, ServerModel], name: str, tag: str) -> str | None:
    found = listing.get(f"{name}:{tag}".casefold())
    return found.digest if found is not None else None


def content_manifests(listing: Mapping[str, ServerModel], name: str) -> dict[str, str]:
    """manifest -> content tag, for every content tag of model `name` on the server."""
    prefix = f"{name}:".casefold()
    out: dict[str, str] = {}
    for key, entry in listing.items():
        if key.startswith(prefix) and is_content_tag(key[len(prefix) :]):
            out.setdefault(entry.digest, key[len(prefix) :])
    return out


def classify(
    name: str, tag: str, digest: str, listing: Mapping[str, ServerModel]
) -> tuple[Verdict, str]:
    """What `name:tag` on the server holds, compared with what the repo builds (`digest`).

    - `missing`: the tag is not on the server;
    - `up to date`: it holds the same manifest as the content tag of `digest`;
    - `stale`: it holds the manifest of another of the model's content tags (mfops built
      it, from other content);
    - `drifted`: it holds a manifest no content tag of the model holds (made or changed by
      hand, or by a tool other than mfops).

    Used by the build plan and by `status`: both say the same about the same tag.
    """
    key = f"{name}:{tag}"
    have = _manifest(listing, name, tag)
    if have is None:
        return "missing", f"{key} is not on the server"
    want_tag = content_tag(digest)
    want = _manifest(listing, name, want_tag)
    if want is not None and have == want:
        return "up to date", f"{key} holds {digest[:19]} (as {name}:{want_tag})"
    built = content_manifests(listing, name).get(have)
    if built is not None:
        return "stale", f"{key} holds {name}:{built}, the repo now builds {digest[:19]}"
    return "drifted", (
        f"{key} holds manifest {have[:12]}, which mfops did not build (changed on the server "
        "by hand?)"
    )
