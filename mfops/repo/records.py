"""Release records as git commits on `refs/mfops/history`, so they travel with push and fetch.

Every CI runner starts from a fresh clone and every teammate has their own: a record kept in
a checkout's files would be seen by nobody else. A git ref is carried by an ordinary
`git push` / `git fetch`, and compare-and-swap on it (`git update-ref REF NEW OLD`) lets two
writers race without losing a record: the loser rebuilds its commit on the new tip and
tries again.

Layout: one commit per record, its tree holding one file, `record.json`; the commit message
is a one-line headline so `git log refs/mfops/history` reads well. Copies fetched from other
clones live under `refs/mfops/remotes/<name>` (the team fetches with
`git fetch origin '+refs/mfops/history:refs/mfops/remotes/origin'`); reading takes the
union of all of them, and a write first merges any that the local ref does not contain yet
(a merge commit with an empty tree), so the next `git push origin refs/mfops/history` is a
fast-forward. Nothing here reads the working tree.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.errors import RepoError

if TYPE_CHECKING:
    from pathlib import Path

    from mfops.repo.gitstore import GitStore

HISTORY_REF = "refs/mfops/history"
REMOTES_PREFIX = "refs/mfops/remotes/"
RECORD_FILE = "record.json"
#: Compare-and-swap attempts before giving up (each loses only to a successful writer).
RETRIES = 50


def _stuck(what: str, store: GitStore) -> RepoError:
    """Why every attempt lost: a lock file that stayed (a git killed while writing the ref
    leaves it; "try again" would fail the same way), else writers that kept winning."""
    lock = store.ref_lock(HISTORY_REF)
    if lock is not None:
        return _locked(f"{what}: {HISTORY_REF} stayed locked through {RETRIES} attempts", lock)
    return RepoError(f"{what}: {HISTORY_REF} kept changing ({RETRIES} attempts)", hint="try again")


def _locked(message: str, lock: Path) -> RepoError:
    return RepoError(
        f"{message} ({lock} exists)",
        hint="if no git or mfops is writing in this repository, a git stopped mid-write "
        "left that file behind: delete it, then run the command again",
    )


def _backoff(attempt: int) -> None:
    """A short random pause after losing a race, so racing writers spread out."""
    time.sleep(random.uniform(0, 0.02 * min(attempt, 10)))


@dataclass(frozen=True)
class RawRecord:
    """One record commit: where it was found, and the bytes of its `record.json` (None
    when the commit holds no such file: not a record mfops wrote)."""

    commit: str
    ref: str
    data: bytes | None


class RecordStore:
    """The records of one git repository (see the module docstring)."""

    def __init__(self, store: GitStore) -> None:
        self.store = store

    def tips(self) -> dict[str, str]:
        """ref -> commit for the local history and every fetched copy."""
        tips = dict(self.store.refs_under(REMOTES_PREFIX))
        local = self.store.ref_target(HISTORY_REF)
        if local is not None:
            tips[HISTORY_REF] = local
        return tips

    def check_writable(self) -> None:
        """Raise RepoError when no record could be written: the ref's lock file is there and
        stays (for a second: a writer holds it for milliseconds). Asked before a release
        moves a tag, so that no tag moves whose record then cannot be written."""
        lock = self.store.ref_lock(HISTORY_REF)
        for _ in range(9):
            if lock is None:
                return
            time.sleep(0.1)
            lock = self.store.ref_lock(HISTORY_REF)
        if lock is not None:
            raise _locked(f"cannot record a release: {HISTORY_REF} is locked", lock)

    def read(self) -> list[RawRecord]:
        """Every record reachable from any tip, each once, newest first (graph order)."""
        found = self.commits()
        blobs = self.contents([c for c, _ in found])
        return [RawRecord(c, ref, data) for (c, ref), data in zip(found, blobs, strict=True)]

    def commits(self) -> list[tuple[str, str]]:
        """(commit, the ref it was found under) of every record reachable from any tip, each
        once, newest first (graph order); merge commits hold no record and are left out."""
        tips = self.tips()
        if not tips:
            return []
        label = {sha: ref for ref, sha in sorted(tips.items(), reverse=True)}
        starts = list(dict.fromkeys([tips.get(HISTORY_REF, ""), *sorted(tips.values())]))
        starts = [s for s in starts if s]
        # Newest first by the time each was written, never a record before one written
        # after it on its own chain. Records merged in from another clone interleave with
        # this clone's by time: walking the local first-parent chain first listed all of
        # them as older than every local record, so after `history --sync` a teammate's
        # newer deploy or promotion was not the newest (status --env, rollback --env, the
        # gate's scope all read an older one).
        return [
            (c, label.get(c, HISTORY_REF))
            for c, parents in self.store.commit_parents(starts)
            if len(parents) < 2
        ]

    def contents(self, commits: list[str]) -> list[bytes | None]:
        """The `record.json` bytes of each of `commits` (None: it holds none), one process."""
        return self.store.read_paths([f"{c}:{RECORD_FILE}" for c in commits])

    def merge_fetched(self) -> str | None:
        """Make the local ref contain every fetched copy (one merge commit, compare-and-swap);
        the new tip, or None when there was nothing to merge."""
        for _ in range(RETRIES):
            old = self.store.ref_target(HISTORY_REF)
            parents = self._parents(old)
            if parents == ([old] if old else []):
                return None
            new = (
                parents[0]
                if len(parents) == 1
                else self.store.write_commit({}, parents, "mfops: merge release records\n")
            )
            if self.store.update_ref(HISTORY_REF, new, old):
                return new
            _backoff(1)
        raise _stuck("could not merge the release records", self.store)

    def _parents(self, old: str | None) -> list[str]:
        """The parents of the next commit: the local tip and every fetched copy it does not
        contain yet; a copy that contains a parent replaces it (a fast-forward, no merge
        commit), so new records on top of what both sides had stay one chain."""
        parents = [old] if old else []
        for sha in sorted(set(self.store.refs_under(REMOTES_PREFIX).values())):
            if any(sha == p or self.store.is_ancestor(sha, p) for p in parents):
                continue
            behind = {p for p in parents if self.store.is_ancestor(p, sha)}
            if not behind:
                parents.append(sha)
                continue
            first = next(i for i, p in enumerate(parents) if p in behind)
            parents = [
                sha if i == first else p
                for i, p in enumerate(parents)
                if i == first or p not in behind
            ]
        return parents

    def sync(self, remote: str) -> tuple[bool, int]:
        """Fetch REMOTE's records, merge them, push ours; again when the push lost a race.
        Returns (pushed, attempts)."""
        tracking = f"{REMOTES_PREFIX}{remote}"
        for attempt in range(1, RETRIES + 1):
            self.store.fetch_ref(remote, HISTORY_REF, tracking)
            self.merge_fetched()
            if self.store.ref_target(HISTORY_REF) is None:
                return False, attempt  # nothing on either side
            if self.store.push_ref(remote, HISTORY_REF):
                return True, attempt
            _backoff(attempt)
        raise RepoError(
            f"could not push {HISTORY_REF} to {remote}: it kept moving ({RETRIES} attempts)",
            hint="try again",
        )

    def append(self, data: bytes, headline: str) -> str:
        """Add one record on top of the local ref (merging fetched copies first); retried
        when another writer moved the ref meanwhile. Returns the record's commit."""
        for attempt in range(1, RETRIES + 1):
            old = self.store.ref_target(HISTORY_REF)
            parents = self._parents(old)
            if len(parents) > 1:
                merged = self.store.write_commit({}, parents, "mfops: merge release records\n")
                parents = [merged]
            new = self.store.write_commit({RECORD_FILE: data}, parents, headline + "\n")
            if self.store.update_ref(HISTORY_REF, new, old):
                return new
            _backoff(attempt)
        raise _stuck("could not write the release record", self.store)
