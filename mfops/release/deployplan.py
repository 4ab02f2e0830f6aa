"""`mfops deploy TAG --env ENV --dry-run`: what a rollout would do on each host, found out
with read-only questions (`/api/version`, `/api/tags`) and nothing else.

A production rollout is the step a team most wants to see before it happens: which hosts
would refuse (a base missing or not the locked one, a pinned base absent), which answer at
all, and per model whether the host must build it, already holds its content and only the
tags move, or already serves the release. The checks are deploy's own (release/deploy.py
steps 1 and 2, the same functions), so a dry run that says "ready" is refused by the real
one only when a host changes in between. Nothing is created, copied or deleted and no
record is written.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.build.tags import content_tag
from mfops.errors import CheckFailed, ServerError
from mfops.release.deploy import ReleaseRef, probe, release_commit, require_host
from mfops.release.retag import key
from mfops.server.client import Server, ServerOptions, ServerTimeout, ServerUnreachable
from mfops.server.hosts import Host, normalize_host

if TYPE_CHECKING:
    from mfops.graph.revision import Revision
    from mfops.repo.config import Environment
    from mfops.repo.repository import Repo

#: create: the host lacks the content tag; move: it holds it (read back, then the tags
#: move); current: the release tag and every alias already hold that content.
Action = Literal["create", "move", "current"]
HostPlanState = Literal["ready", "current", "refused", "unreachable"]


@dataclass(frozen=True)
class ModelStep:
    name: str
    content: str
    action: Action


@dataclass(frozen=True)
class HostPlan:
    host: str
    state: HostPlanState
    reason: str | None = None
    models: tuple[ModelStep, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for m in self.models if m.action == action)


@dataclass(frozen=True)
class DeployPlan:
    env: str
    release: ReleaseRef
    hosts: tuple[HostPlan, ...]
    #: why the release itself cannot be deployed (then no host is asked anything)
    refused: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refused and all(h.state in ("ready", "current") for h in self.hosts)


def plan_deploy(
    repo: Repo, env: Environment, release: ReleaseRef, *, options: ServerOptions | None = None
) -> DeployPlan:
    """Ask every host of `env` (all at once) what deploying `release` would do there."""
    rev, refused = release_commit(repo, release)
    if refused:
        return DeployPlan(env.name, release, (), tuple(refused))
    hosts = [Host(normalize_host(h)) for h in env.hosts]
    opts = options or ServerOptions()
    with ThreadPoolExecutor(max_workers=min(16, len(hosts) or 1)) as pool:
        plans = tuple(pool.map(lambda h: _host_plan(rev, release, h, opts), hosts))
    return DeployPlan(env.name, release, plans)


def _host_plan(rev: Revision, release: ReleaseRef, host: Host, options: ServerOptions) -> HostPlan:
    """As deploy sees the host: its probe (the version, no retry) decides whether it
    answers; the listing and the base checks of its first step whether it would refuse."""
    server = Server(host, options)
    names = list(release.models)
    try:
        version, why = probe(server)
        if why is not None:
            return HostPlan(host.identity, "unreachable", why)
        listing = server.models()
        require_host(rev, names, listing, version, host=host.display, read_back=server.show)
    except (ServerUnreachable, ServerTimeout) as err:
        return HostPlan(host.identity, "unreachable", str(err))
    except (CheckFailed, ServerError) as err:
        return HostPlan(host.identity, "refused", str(err))
    finally:
        server.close()
    steps = []
    for name in names:
        content = content_tag(rev.digests[name])
        have = listing.get(key(f"{name}:{content}"))
        action: Action = "create"
        if have is not None:
            tags = [listing.get(key(f"{name}:{t}")) for t in (release.tag, *release.aliases)]
            held = all(t is not None and t.digest == have.digest for t in tags)
            action = "current" if held else "move"
        steps.append(ModelStep(name, content, action))
    state: HostPlanState = "current" if all(s.action == "current" for s in steps) else "ready"
    return HostPlan(host.identity, state, models=tuple(steps))
