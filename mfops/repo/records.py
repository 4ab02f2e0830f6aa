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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.errors import RepoError

if TYPE_CHECKING:
    from mfops.repo.gitstore import GitStore

HISTORY_REF = "refs/mfops/history"
REMOTES_PREFIX = "refs/mfops/remotes/"
RECORD_FILE = "record.json"
#: Compare-and-swap attempts before giving up (each loses only to a successful writer).
RETRIES = 20


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

    def read(self) -> list[RawRecord]:
        """Every record reachable from any tip, each once, newest first (graph order)."""
        tips = self.tips()
        if not tips:
            return []
        label = {sha: ref for ref, sha in sorted(tips.items(), reverse=True)}
        rows = self.store.commit_parents(list(dict.fromkeys(tips.values())))
        commits = [c for c, parents in rows if len(parents) < 2]  # merges hold no record
        blobs = self.store.read_paths([f"{c}:{RECORD_FILE}" for c in commits])
        return [
            RawRecord(c, label.get(c, HISTORY_REF), data)
            for c, data in zip(commits, blobs, strict=True)
        ]

    def append(self, data: bytes, headline: str) -> str:
        """Add one record on top of the local ref (merging fetched copies first); retried
        when another writer moved the ref meanwhile. Returns the record's commit."""
        for _ in range(RETRIES):
            old = self.store.ref_target(HISTORY_REF)
            parents = [old] if old else []
            for sha in sorted(set(self.store.refs_under(REMOTES_PREFIX).values())):
                if sha in parents or (old and self.store.is_ancestor(sha, old)):
                    continue
                parents.append(sha)
            if len(parents) > 1:
                merged = self.store.write_commit({}, parents, "mfops: merge release records\n")
                parents = [merged]
            new = self.store.write_commit({RECORD_FILE: data}, parents, headline + "\n")
            if self.store.update_ref(HISTORY_REF, new, old):
                return new
        raise RepoError(
            f"could not write the release record: {HISTORY_REF} kept changing ({RETRIES} attempts)",
            hint="try again",
        )
