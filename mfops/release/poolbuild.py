"""How a gate builds on a pool of servers (issue 16 item 3): on every host, one after another.

A pool run tests each `model:tag` on whichever host is free, so every host must hold the
candidate before the tests start. The gate builds on the pool's first host exactly as on one
host; then, with the tag that build settled on, it plans and builds on each other host in
turn (a host that already holds the content only tags it, as the build's own plan
decides). Building is deterministic from the repository and the locked bases, yet Ollama
versions may lay out manifests differently, so the build is not trusted to agree: the test
step's pool check (behave/pool.py) compares the manifest digests before anything runs.
The first host that cannot be reached, or on which a model fails to build, stops the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.build.execute import Builder
from mfops.build.session import Session, plan_build
from mfops.server.client import Server

if TYPE_CHECKING:
    from collections.abc import Callable

    from mfops.build.execute import BuildEvent, BuildReport
    from mfops.build.plan import Selection
    from mfops.server.client import Host


@dataclass(frozen=True)
class HostBuild:
    """One other host's build: the host (shown without credentials) and its report."""

    host: Host
    report: BuildReport


def build_on_rest(
    session: Session,
    sel: Selection,
    *,
    tag: str,
    jobs: int,
    on_build: Callable[[BuildEvent], None] | None = None,
) -> list[HostBuild]:
    """Build `sel` at `tag` on every host of `session.pool` after the first, in order;
    stops after the first host whose build failed (its report is the last one)."""
    done: list[HostBuild] = []
    for host in session.pool[1:]:
        other = Session(session.repo, host, Server(host, session.server.options))
        try:
            prepared = plan_build(other, sel, tag=tag)
            report = Builder(
                prepared.rev, prepared.plan, server=other.server, jobs=jobs, on_event=on_build
            ).run()
        finally:
            other.close()
        done.append(HostBuild(host, report))
        if report.failed:
            break
    return done
