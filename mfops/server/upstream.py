"""Has an external base moved upstream since it was locked? (`mfops lock --check`,
`mfops status --upstream`, the scheduled workflow job.)

Derived models do not follow their base: when the registry publishes new weights under the
same tag, every model built FROM it keeps the old ones until it is re-created. The lock
records the digest each base was built and tested against; the registry's manifest says
what a pull would give today (mfops.server.registry). The two are compared without pulling
and without an Ollama server, so a scheduled job can ask cheaply and only then do the work.

A moved base affects the models built directly on it (`used_by`) and everything built on
those (`affected`): exactly what `lock --update` + `build --changed` rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.server.bases import external_bases
from mfops.server.registry import RegistrySettings, registry_for, upstream_digest

if TYPE_CHECKING:
    from mfops.graph.inheritance import Graph
    from mfops.repo.lockfile import Lock

UpstreamState = Literal["current", "moved", "unlocked"]


@dataclass(frozen=True)
class UpstreamStatus:
    """One external base: the lock's digest and the registry's, and who depends on it."""

    reference: str
    registry: str
    locked: str | None
    upstream: str
    used_by: tuple[str, ...]
    affected: tuple[str, ...]

    @property
    def state(self) -> UpstreamState:
        if self.locked is None:
            return "unlocked"
        return "current" if self.locked == self.upstream else "moved"


def check_upstream(
    graph: Graph,
    lock: Lock,
    settings: RegistrySettings,
    *,
    only: Iterable[str] | None = None,
    fetch: Callable[[str, RegistrySettings], str] = upstream_digest,
) -> list[UpstreamStatus]:
    """Ask each base's registry, in reference order; the first registry fault raises
    (RegistryError names it), so a verdict is never given on partial evidence."""
    wanted = set(only) if only is not None else None
    out: list[UpstreamStatus] = []
    for ref, users in external_bases(graph).items():
        if wanted is not None and ref not in wanted:
            continue
        digest = fetch(ref, settings)
        out.append(
            UpstreamStatus(
                ref,
                registry_for(ref, settings).display,
                lock.get(ref),
                digest,
                users,
                tuple(graph.closure(list(users), down=True)),
            )
        )
    return out
