"""One repo and one Ollama server, as the server-side commands (build, lock, status, import,
diff --server) all need them, and the steps of a build that come before any create.

`Session.open` resolves the host (`--host`, `OLLAMA_HOST`, `mfops.yaml`, the default) and
finds the repo; `probe` asks the server for its version first, so that a dead server is one
clear line before any work is done rather than a failure per model.

`plan_build` is the part of a build that decides: candidate tag, one listing of the server,
the plan, and the external bases. A `--changed` build that finds no model changed (git's
tree diff and the digests say so) stops there without asking the server anything. With
`pull`, the bases the plan builds on are pulled first and the lock is brought up to date
with what was pulled (written atomically); since the lock feeds every digest, the plan is
then made again, so descendants of an updated base are rebuilt in the same run. Without
`pull`, a base that is missing, unlocked or not the locked one stops the build, naming
both digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mfops.build.plan import candidate_tag, check_build_tag, make_plan
from mfops.graph.revision import Revision
from mfops.repo.history import load, released_tags
from mfops.repo.repository import LOCK_FILE, STATE_DIR, Repo
from mfops.server.bases import (
    check,
    external_bases,
    refresh_lock,
    require_locked,
    require_pinned,
)
from mfops.server.client import Server, resolve_host
from mfops.server.hosts import resolve_hosts
from mfops.server.registry import insecure_pull
from mfops.server.versions import require_supported

if TYPE_CHECKING:
    from mfops.build.plan import Plan, Selection
    from mfops.server.client import Host, ProgressFn, ServerOptions


@dataclass
class Session:
    repo: Repo
    host: Host
    server: Server
    #: Every server of a pool run (issue 16: `--host` several times or `defaults.hosts`),
    #: `host` first; empty for one host. Only `test` and `gate` open a session with a pool.
    pool: tuple[Host, ...] = ()

    @classmethod
    def open(
        cls,
        *,
        repo: Path | None = None,
        host: str | None = None,
        options: ServerOptions | None = None,
        hosts: tuple[str, ...] | None = None,
    ) -> Session:
        """`hosts` (instead of `host`): the `--host` values of a command that runs on a pool;
        with none given, `defaults.hosts` is the pool (server/hosts.py: resolve_hosts)."""
        found = Repo.find(explicit=repo)
        defaults = found.snapshot(None).config.defaults
        if hosts is None:
            resolved = resolve_host(host, defaults.host)
            return cls(found, resolved, Server(resolved, options))
        pool = resolve_hosts(hosts, defaults.hosts, defaults.host)
        return cls(found, pool[0], Server(pool[0], options), pool if len(pool) > 1 else ())

    @property
    def state_dir(self) -> Path:
        return self.repo.root / STATE_DIR

    def probe(self) -> str:
        return self.server.version()

    def close(self) -> None:
        self.server.close()
        self.repo.close()


@dataclass(frozen=True)
class Prepared:
    rev: Revision
    plan: Plan
    pulled: tuple[str, ...] = ()
    lock_updates: tuple[str, ...] = ()


def _tag(session: Session, rev: Revision, tag: str | None) -> tuple[str, str]:
    if tag:
        check_build_tag(tag, released_tags(load(session.repo)))
        return tag, "--tag"
    return candidate_tag(session.repo, rev.snapshot.config.defaults.candidate_tag)


def _pull_set(rev: Revision, sel: Selection, plan: Plan) -> list[str]:
    """The external bases `--pull` refreshes: those of the named models' chains, else all
    of the repo's (any of them may have moved upstream, which is what --changed looks for)."""
    names = [rev.graph[n].name for n in sel.names] if sel.names else None
    return sorted(set(external_bases(rev.graph, names)) | {b.reference for b in plan.bases})


def plan_build(
    session: Session,
    sel: Selection,
    *,
    tag: str | None = None,
    pull: bool = False,
    dry_run: bool = False,
    on_pull: ProgressFn | None = None,
) -> Prepared:
    """Probe the server, plan, and settle the external bases (see the module docstring)."""
    from dataclasses import replace

    if not tag:
        session.repo.start_dirty_check()  # the candidate tag's; git runs while we read
    rev = Revision(session.repo, None)
    host = session.host.display
    sel = replace(sel, host=session.host.identity)
    if sel.changed and not pull:
        # Which models changed is git's to say: when none did, there is nothing to build
        # and the server is not asked (nor need it answer), as `git commit` with nothing
        # staged asks nobody. The graph is read first, while git works out the tag.
        rev.load()
        known = _tag(session, rev, tag)
        quiet = make_plan(rev, sel, tag=known[0], tag_origin=known[1], listing={}, host=host)
        if not quiet.items:
            return Prepared(rev, quiet)
    else:
        known = None
    version = session.probe()
    pulled: list[str] = []
    updates: list[str] = []
    for _ in range(3):  # a lock update can change the plan once; it then settles
        the_tag, origin = known or _tag(session, rev, tag)
        known = None  # a lock written by --pull makes the tree dirty: ask git again
        listing = session.server.models()
        plan = make_plan(
            rev,
            sel,
            tag=the_tag,
            tag_origin=origin,
            listing=listing,
            host=host,
            server=session.server,
        )
        todo = [ref for ref in _pull_set(rev, sel, plan) if ref not in pulled]
        if not pull or dry_run or not todo:
            break
        insecure = rev.snapshot.config.defaults.insecure_registries
        for ref in todo:
            session.server.pull(ref, on_pull, insecure=insecure_pull(ref, insecure))
            pulled.append(ref)
        listing = session.server.models()
        refresh = refresh_lock(
            rev.graph,
            rev.lock,
            listing,
            session.repo.root / LOCK_FILE,
            host=host,
            update=True,
            only=pulled,
            read_back=session.server.show,
        )
        if not refresh.written:
            creating = [i.name for i in plan.items if i.action == "create"]
            statuses = check(rev.graph, rev.lock, listing, creating, read_back=session.server.show)
            plan = replace(plan, bases=tuple(statuses))
            break
        updates += refresh.changes()
        rev = Revision(session.repo, None)
    notes: list[str] = []
    if pull and dry_run:
        notes.append("--pull is not done in a dry run: bases are checked as they are now")
    creating = [i.name for i in plan.items if i.action == "create"]
    if dry_run:
        notes += [
            f"base {b.reference}: {b.state} (locked {b.locked}, server {b.server})"
            for b in plan.bases
            if b.state != "ok"
        ]
    else:
        require_locked(list(plan.bases), host=host)
        require_pinned(rev.graph, creating, listing, host=host)
        require_supported(version, rev.graph, creating, host=host)
    if updates:
        notes.append("mfops.lock updated: " + "; ".join(updates))
    plan = replace(plan, notes=plan.notes + tuple(notes))
    return Prepared(rev, plan, tuple(pulled), tuple(updates))
