"""The repo at one revision: snapshot, graph, lock and digests, computed once and shared.

Most commands need the same short path through the data flow (architecture.md): a snapshot
of the working tree or a ref, its inheritance graph, the lock that pins external bases and
the digests. `Revision` holds them lazily so a command pays only for what it uses.
"""

from __future__ import annotations

from functools import cached_property
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfops.errors import LocatedError, MfopsError, RepoError
from mfops.graph import stored, worktree
from mfops.graph.digest import DIGEST_VERSION, compute_digests, sha256_of
from mfops.graph.effective import effective_all
from mfops.graph.inheritance import build_graph
from mfops.graph.worktree import reads_outside
from mfops.language.modelfile import parse
from mfops.repo.lockfile import loads
from mfops.repo.repository import LOCK_FILE, Repo

if TYPE_CHECKING:
    from mfops.graph.effective import Effective
    from mfops.graph.inheritance import Graph
    from mfops.repo.lockfile import Lock
    from mfops.repo.repository import Repo, Snapshot


def _all_digests(found: dict[Any, Any]) -> bool:
    """Every key a name and every value a `sha256:` digest: checked in C (a stored commit
    holds 10,000 of them, and a generator expression costs more than reading them)."""
    values = found.values()
    return (
        set(map(type, found)) <= {str}
        and set(map(type, values)) <= {str}
        and all(map(str.startswith, values, repeat("sha256:")))
    )


class Revision:
    """One version of the repo (the working tree when `ref` is None)."""

    def __init__(self, repo: Repo, ref: str | None = None, *, commit: str | None = None) -> None:
        """`commit`: the SHA `ref` names when the caller has resolved it already (one git
        process less)."""
        self.repo = repo
        self.ref = ref
        self._commit = commit

    @classmethod
    def open(cls, *, repo: Path | None = None, ref: str | None = None) -> Revision:
        return cls(Repo.find(explicit=repo), ref)

    @cached_property
    def snapshot(self) -> Snapshot:
        return self.repo.snapshot(self.ref)

    @property
    def label(self) -> str:
        return "working tree" if self.ref is None else self.ref  # as Snapshot.label

    @cached_property
    def _stored(self) -> dict[str, object]:
        """What the cache holds for this commit (graph rows, lock text, digests); {} for
        the working tree or when nothing is stored."""
        key = self.revision_key()
        return self.repo.cache.revision(key) if key is not None else {}

    @cached_property
    def graph(self) -> Graph:
        """The inheritance graph; at a commit, from the cache when it was built before."""
        key = self.revision_key()
        cache = self.repo.cache
        if key is not None and "graph" in self._stored:
            store, ref = self.repo.store, self.ref
            found = stored.load(  # (the lambdas hold no `self`: no cycle keeps the graph)
                self._stored["graph"],
                cache,
                lambda path: f"{ref}:{path}",
                lambda blob, shown: parse(store.read_blob(blob), path=shown),
                lazy=True,
            )
            if found is not None:
                return found
        if self.ref is None:
            return self._worktree_graph()
        graph = build_graph(self.snapshot)
        if key is not None and not reads_outside(graph):
            cache.put_revision(key, graph=stored.dump(graph), lock=self.snapshot.lock_text())
            cache.save()
        return graph

    def _worktree_graph(self) -> Graph:
        """The working tree's graph: the remembered one when nothing it depends on changed
        (graph/worktree.py), else built and remembered."""
        cache = self.repo.cache
        entry = cache.worktree()
        if entry is not None:
            found = worktree.recall(self.repo, entry)
            if found is not None:
                self._memo = entry
                return found
        cache.prepare()
        graph = build_graph(self.snapshot)
        entry = worktree.remember(self.repo, self.snapshot, graph)
        if entry is not None:
            self._memo = entry
            cache.put_worktree(entry)
            cache.save()
        return graph

    #: the worktree memo entry the graph came from or went to (graph/worktree.py)
    _memo: dict[str, object] | None = None

    @cached_property
    def lock(self) -> Lock:
        where = f"{self.ref}:{LOCK_FILE}" if self.ref else LOCK_FILE
        text = self._stored.get("lock", False) if "graph" in self._stored else False
        if text is None or isinstance(text, str):
            return loads(text, where)  # stored with the graph: the commit's own lock
        return loads(self.snapshot.lock_text(), where)

    @cached_property
    def digests(self) -> dict[str, str]:
        """Every model's digest; at a commit, from the cache when this commit's were
        computed before (a commit is immutable; see revision_key)."""
        key = self.revision_key()
        cache = self.repo.cache
        found = self._stored.get("digests")
        if isinstance(found, dict) and _all_digests(found):
            return found
        graph = self.graph
        lock_text = self.snapshot.lock_text() if self._memo is not None else None
        if self._memo is not None:
            remembered = worktree.recall_digests(self._memo, graph, lock_text)
            if remembered is not None:
                return remembered
        digests = compute_digests(self.snapshot, graph, self.lock)
        if self._memo is not None:
            entry = worktree.remember_digests(self._memo, graph, lock_text, digests)
            if entry is not None:
                self._memo = entry
                cache.put_worktree(entry)
                cache.save()
        if key is not None and not reads_outside(self.graph):
            cache.put_revision(key, digests=digests)
            cache.save()
        return digests

    @cached_property
    def _key(self) -> str | None:
        if self.ref is None:
            return None
        commit = self._commit or self.repo.resolve_ref(self.ref)  # no tree listing needed
        return sha256_of(
            ["revision", DIGEST_VERSION, commit, self.repo.prefix, self.repo.root.name]
        )

    def revision_key(self) -> str | None:
        """What the graph and digests at a commit depend on, besides files outside the
        repository: the commit, where the mfops root sits in it and the root's name (a
        Modelfile at the root is named after it). None for the working tree."""
        return self._key

    def load(self, *, require_models: bool = False) -> dict[str, str]:
        """Every digest, loading all the way through, with errors that say which ref.

        Snapshots at a ref already name files `ref:path`; an error that does not mention the
        ref gets it added (on the error itself, so its type and exit code stay the same), so
        a command comparing two versions always says which one is broken.
        """
        try:
            if require_models and not self.digests:  # no models, no digests
                raise RepoError(
                    f"no models at {self.ref}" if self.ref else "no models in the working tree",
                    hint="no mfops.yaml entries and no Modelfile, *.Modelfile there",
                )
            return self.digests
        except LocatedError as err:
            if self.ref and err.path and not err.path.startswith(f"{self.ref}:"):
                err.path = f"{self.ref}:{err.path}"
            raise
        except MfopsError as err:
            if self.ref and self.ref not in err.message:
                err.message = f"at {self.ref}: {err.message}"
            raise

    @cached_property
    def effective(self) -> dict[str, Effective]:
        return effective_all(self.graph)
