"""Each model's current release, and the baseline a pull request is compared with.

The gate in pull-request mode asks "is this change worse than what is released?", so it
needs, per model, the tag its current release lives at. That comes from the release
records, commits on the git ref `refs/mfops/history` (repo/history.py, repo/records.py),
which every clone and CI runner shares after one fetch; `current_release` is the one
function that reads them for this purpose. The records of the server the gate talks to
count first; when that server has none for the model, the team's newest release on any
server is the baseline (rebuilt here when missing, see below).

When the release tag is not on the server the gate talks to (a fresh CI runner), the
release is rebuilt there from its recorded commit (`restore_release`): that commit's
Modelfiles and mfops.lock, at the release tag, with the external bases at their locked
digests. Nothing is pulled: a base missing or at another digest on this server, an Ollama
too old for a command those Modelfiles use (refused before any create, as `mfops build`
does), or a commit this clone does not have, leaves the model with "no baseline on this
server" and the reason; never an error. A model with no release at all is "new, no
baseline".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.behave.compare import Baseline
from mfops.build.execute import Builder
from mfops.build.plan import Selection, make_plan
from mfops.errors import MfopsError
from mfops.graph.revision import Revision
from mfops.repo import history
from mfops.server.bases import require_locked, require_pinned
from mfops.server.versions import require_supported

if TYPE_CHECKING:
    from mfops.behave.results import Environment
    from mfops.build.session import Session
    from mfops.repo.history import Entry
    from mfops.repo.repository import Repo

#: Builds `model`'s release on the server; returns None when done, else why it could not.
Restore = Callable[[str, "Release"], "str | None"]


@dataclass(frozen=True)
class Release:
    """Where a model's current release is: its tag, and the commit it was released from."""

    tag: str
    commit: str | None = None


def _release_of(entry: Entry) -> Release | None:
    if entry.kind == "promote" and entry.outcome == "promoted" and entry.to_tag:
        return Release(entry.to_tag, entry.commit)
    if entry.kind == "rollback" and entry.outcome == "rolled back":
        return Release(entry.from_tag, entry.commit)
    return None


def current_release(repo: Repo, model: str, host: str | None = None) -> Release | None:
    """The newest successful promotion (or rollback, which restores that tag) of `model`
    per the git release records: on `host` (an identity) when it has one, else on any."""
    return _current_in(history.load(repo, model), model, host)


def _current_in(entries: list[Entry], model: str, host: str | None) -> Release | None:
    """`current_release` over records already read (the history is read once per call of
    `release_baselines`, not once per model: each read parses every record)."""
    for wanted in (host,) if host is None else (host, None):
        for entry in reversed(entries):
            if (wanted is not None and entry.host != wanted) or not entry.involves(model):
                continue
            release = _release_of(entry)
            if release is not None:
                return release
    return None


def has_releases(repo: Repo) -> bool:
    """Whether the team's records hold any release (then a pull request is compared with
    the release, and a model without one is "new, no baseline")."""
    return any(e.ok for e in history.load(repo))


def restore_release(session: Session, model: str, release: Release, *, jobs: int = 4) -> str | None:
    """Build `model` (and the ancestors it needs) at `release.tag` from `release.commit`,
    bases at that commit's locked digests, nothing pulled. None when built, else why not."""
    if release.commit is None:
        return "the release records no commit to rebuild it from"
    try:
        rev = Revision(session.repo, release.commit)
        if model not in rev.graph.nodes:
            return f"{model} is not defined at the release commit {release.commit[:7]}"
        listing = session.server.models()
        host = session.host.display
        plan = make_plan(
            rev,
            Selection(names=(model,)),
            tag=release.tag,
            tag_origin="the release records",
            listing=listing,
            host=host,
            server=session.server,
        )
        creating = [i.name for i in plan.items if i.action == "create"]
        require_locked(list(plan.bases), host=host)
        require_pinned(rev.graph, creating, listing, host=host)
        # as `mfops build`: refused before any create, not caught by the read-back after it
        require_supported(session.server.version(), rev.graph, creating, host=host)
        report = Builder(rev, plan, server=session.server, jobs=jobs).run()
    except MfopsError as err:
        return f"cannot rebuild it from {release.commit[:7]}: {err}"
    if report.failed:
        bad = next((r for r in report.results if r.error), None)
        why = bad.error.splitlines()[0] if bad is not None and bad.error else "the build failed"
        return f"cannot rebuild it from {release.commit[:7]}: {why}"
    return None


def release_baselines(
    repo: Repo, restore: Restore | None = None, *, host: str | None = None
) -> Callable[[Environment, list[str]], Mapping[str, Baseline]]:
    """For `compare_in_session(against=...)`: each model's current release as its baseline;
    one missing on the server is rebuilt with `restore` when given (see the module doc)."""

    def choose(env: Environment, models: list[str]) -> Mapping[str, Baseline]:
        out: dict[str, Baseline] = {}
        entries = history.load(repo)
        for model in dict.fromkeys(models):
            release = _current_in(entries, model, host)
            if release is None:
                out[model] = Baseline(None, "new, no baseline", new=True)
                continue
            where = f" (released from {release.commit[:7]})" if release.commit else ""
            if env.manifest(f"{model}:{release.tag}") is None:
                why = restore(model, release) if restore is not None else None
                if restore is None or why is not None:
                    out[model] = Baseline(
                        None,
                        f"no baseline on this server: {model}:{release.tag}{where} is not on "
                        f"{env.host}" + (f"; {why}" if why else ""),
                    )
                    continue
                source = f"release {release.tag}, rebuilt on this server{where}"
                out[model] = Baseline(release.tag, source=source, rebuilt=True)
                continue
            out[model] = Baseline(release.tag, source=f"release {release.tag}{where}")
        return out

    return choose
