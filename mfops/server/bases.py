"""External and pinned bases on a server, checked against `mfops.lock`.

An external base (`FROM llama3.2:3b`) is whatever the registry served when it was pulled; the
lock records which manifest the repo was built and tested against. Before a build creates
anything on top of one, the server's copy must be the locked one, or the build would quietly
produce a different model under an unchanged digest. `check` compares, `locked` turns server
digests into a new Lock, and `refresh_lock` is the one lock refresh that `mfops lock` and
`build --pull` share: check, refuse a missing base, compute the new lock, write it atomically
when it changed.

Digests: the lock stores `sha256:<hex>`; `/api/tags` reports the bare hex (ollama-reference
§6.4). Everything here speaks the prefixed form.

A base made on the server from an uploaded file is also locked by its content fingerprint
(repo/lockfile.py): on Ollama 0.24 its manifest names the file's path in that server's
models directory, so another server holds the same base under another digest. Where the
digests differ and the lock has a fingerprint, the server's copy is read back (`read_back`,
one `/api/show`) and is the locked base when the fingerprints agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.errors import CheckFailed, MfopsError, ServerError
from mfops.repo.lockfile import Lock as LockCls
from mfops.repo.lockfile import save
from mfops.server.content import content_fingerprint

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from mfops.graph.inheritance import Graph
    from mfops.repo.lockfile import Lock
    from mfops.server.client import ServerModel
    from mfops.server.show import ServerConfig

State = Literal["ok", "unlocked", "mismatch", "missing"]
#: A server model's read-back (`Server.show`), or None when the server does not have it.
ReadBack = Callable[[str], "ServerConfig | None"]
_BLOB_PATH = re.compile(r"/blobs/sha256-[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class BaseStatus:
    """One external base: what the lock says, what the server has, who uses it."""

    reference: str
    locked: str | None
    server: str | None
    used_by: tuple[str, ...]
    #: The server's spelling of a model that matches `reference` only when case is folded.
    other_case: str | None = None
    #: The digests differ, but the server's copy reads back with the locked fingerprint.
    same_content: bool = False

    @property
    def state(self) -> State:
        if self.server is None:
            return "missing"
        if self.locked is None:
            return "unlocked"
        return "ok" if self.locked == self.server or self.same_content else "mismatch"


def prefixed(hex_digest: str | None) -> str | None:
    if not hex_digest:
        return None
    return hex_digest if hex_digest.startswith("sha256:") else f"sha256:{hex_digest}"


def _tagged(name: str) -> str:
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


def server_digest(listing: dict[str, ServerModel], name: str) -> str | None:
    """`sha256:<hex>` of `name` in a `/api/tags` listing, or None.

    Spelled exactly as on the server: Ollama looks a create's FROM up by its exact path on
    disk (`FROM Llama3` next to `llama3` pulls another copy, issue 13 item 8), so a base
    that matches only with case folded is not there for a build."""
    found = listing.get(name.casefold())
    if found is None or _tagged(found.name) != _tagged(name):
        return None
    return prefixed(found.digest)


def other_case(listing: dict[str, ServerModel], name: str) -> str | None:
    """The server's name for `name` when the two differ only in case, else None."""
    found = listing.get(name.casefold())
    return found.name if found is not None and _tagged(found.name) != _tagged(name) else None


def external_bases(graph: Graph, names: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """External base reference -> the models (of `names`, default all) whose chain uses it."""
    wanted = list(graph.order) if names is None else graph.closure(list(names), up=True)
    users: dict[str, list[str]] = {}
    for name in wanted:
        base = graph.nodes[name].base
        if base.kind == "external":
            users.setdefault(base.target, []).append(name)
    return {ref: tuple(users[ref]) for ref in sorted(users)}


def check(
    graph: Graph,
    lock: Lock,
    listing: dict[str, ServerModel],
    names: Iterable[str] | None = None,
    *,
    read_back: ReadBack | None = None,
) -> list[BaseStatus]:
    """The status of every external base that `names` (default: all models) build on;
    with `read_back`, a base whose digest differs from a lock entry with a fingerprint is
    read back and compared by content (module docstring)."""
    out = []
    for ref, users in external_bases(graph, names).items():
        held, pinned = server_digest(listing, ref), lock.get(ref)
        same = False
        fingerprint = lock.contents.get(ref)
        if read_back is not None and fingerprint and held and pinned and held != pinned:
            config = read_back(ref)
            same = config is not None and content_fingerprint(config) == fingerprint
        out.append(BaseStatus(ref, pinned, held, users, other_case(listing, ref), same))
    return out


def made_from_file(config: ServerConfig) -> bool:
    """Whether a server model's weights were made there from an uploaded file (its parent
    is a blob path, as Ollama 0.24 records it), so its manifest digest is that server's."""
    return bool(_BLOB_PATH.search(config.parent_model))


def require_locked(statuses: list[BaseStatus], *, host: str, release: bool = False) -> None:
    """Refuse to build on a base that is missing, unlocked or not the locked one. With
    `release` (deploy: the release commit's lock), the way out is the locked base on that
    host, never a new lock: one taken from this host would not be the tested release."""
    for st in statuses:
        users = ", ".join(st.used_by[:3]) + (" ..." if len(st.used_by) > 3 else "")
        if release and st.state in ("missing", "mismatch") and not st.other_case:
            held = "is not on" if st.state == "missing" else f"is {st.server} on"
            raise CheckFailed(
                f"the release was tested on {st.reference} at {st.locked}, which {held} {host}",
                hint=f"put that base on the host (OLLAMA_HOST={host} ollama pull "
                f"{st.reference}, if its registry still serves it: `mfops lock --check` says)",
            )
        if st.state == "missing" and st.other_case:
            raise ServerError(
                f"external base {st.reference} (used by {users}) is not on {host}, which has "
                f"{st.other_case}: Ollama looks FROM up by its exact spelling",
                hint=f"write FROM {st.other_case.removesuffix(':latest')}",
            )
        if st.state == "missing":
            raise ServerError(
                f"external base {st.reference} (used by {users}) is not on {host}",
                hint="pull it with `mfops build --pull` or `mfops lock --pull`",
            )
        if st.state == "unlocked":
            raise MfopsError(
                f"external base {st.reference} is not in mfops.lock",
                hint="run `mfops lock` to record the server's digest, then commit mfops.lock",
            )
        if st.state == "mismatch":
            raise CheckFailed(
                f"mfops.lock: {st.reference} is locked at {st.locked} but {host} has {st.server}",
                hint="`mfops lock --update` accepts the server's; `mfops build --pull` pulls "
                "and updates the lock",
            )


def require_pinned(
    graph: Graph, names: Iterable[str], listing: dict[str, ServerModel], *, host: str
) -> None:
    """A pinned base (`FROM engine-bot:v1.0`) is a release: it must already be on the server."""
    for name in graph.closure(list(names), up=True):
        base = graph.nodes[name].base
        if base.kind == "pinned" and server_digest(listing, base.target) is None:
            raise ServerError(
                f"{name}: pinned base {base.target} is not on {host}",
                hint="build or promote that release first, or FROM the model without a tag",
            )


def locked(
    lock: Lock,
    statuses: list[BaseStatus],
    *,
    update: bool,
    prune: set[str] | None = None,
    read_back: ReadBack | None = None,
) -> Lock:
    """A lock with the server's digest for every unlocked base (every base with `update`);
    entries in `prune` (bases no model uses any more) are dropped. With `read_back`, a base
    taken from the server is locked by its fingerprint too when it was made from a file."""
    bases = {k: v for k, v in lock.bases.items() if not prune or k not in prune}
    contents = {k: v for k, v in lock.contents.items() if k in bases}
    for st in statuses:
        if st.server is not None and (update or st.locked is None) and not st.same_content:
            bases[st.reference] = st.server
            contents.pop(st.reference, None)
            config = read_back(st.reference) if read_back is not None else None
            if config is not None and made_from_file(config):
                contents[st.reference] = content_fingerprint(config)
    return LockCls(bases, contents)


@dataclass(frozen=True)
class LockRefresh:
    """What a lock refresh found and did: the statuses it looked at, the lock before and after
    (written when they differ) and the entries it dropped because no model uses them."""

    statuses: tuple[BaseStatus, ...]
    old: Lock
    new: Lock
    removed: tuple[str, ...] = ()

    @property
    def written(self) -> bool:
        return self.new != self.old

    def changes(self) -> list[str]:
        """`ref: old -> new` for every entry whose digest changed or was added."""
        return [
            f"{ref}: {self.old.get(ref)} -> {digest}"
            for ref, digest in sorted(self.new.bases.items())
            if self.old.get(ref) != digest
        ]


def refresh_lock(
    graph: Graph,
    lock: Lock,
    listing: dict[str, ServerModel],
    path: Path,
    *,
    host: str,
    update: bool,
    only: Iterable[str] | None = None,
    named: Iterable[str] | None = None,
    prune: bool = False,
    read_back: ReadBack | None = None,
) -> LockRefresh:
    """Bring `lock` up to date with the server's `listing` and write it to `path` (atomically,
    only when it changed). `only` limits the refresh to those references (`build --pull`: the
    bases it pulled); `update` takes the server's digest for locked bases too, or with `named`
    (`lock --update BASE...`) for those bases only: the others are still added when unlocked,
    and a locked one missing from the server keeps its entry. `prune` drops entries no model
    uses any more. A base that is needed but not on the server is a ServerError: a lock is
    never written from a partial listing. `read_back` (the server's `/api/show`) locks a
    base made from a file by its fingerprint too, and accepts one held under another digest
    with the locked fingerprint (module docstring)."""
    statuses = check(graph, lock, listing, read_back=read_back)
    if only is not None:
        wanted = set(only)
        statuses = [s for s in statuses if s.reference in wanted]
    chosen = set(named or ())
    missing = [
        s.reference
        for s in statuses
        if s.state == "missing" and (not chosen or s.reference in chosen or s.locked is None)
    ]
    if missing:
        raise ServerError(
            f"not on {host}: {', '.join(missing)}",
            hint="run `mfops lock --pull` to pull them, or `ollama pull` them yourself",
        )
    removed = set(lock.bases) - set(external_bases(graph)) if prune else set()
    new = locked(lock, statuses, update=update and not chosen, prune=removed, read_back=read_back)
    if update and chosen:
        chosen_statuses = [s for s in statuses if s.reference in chosen]
        new = locked(new, chosen_statuses, update=True, read_back=read_back)
    if new != lock:
        save(new, path)
    return LockRefresh(tuple(statuses), lock, new, tuple(sorted(removed)))
