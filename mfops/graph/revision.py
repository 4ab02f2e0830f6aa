"""The repo at one revision: snapshot, graph, lock and digests, computed once and shared.

Most commands need the same short path through the data flow (architecture.md): a snapshot
of the working tree or a ref, its inheritance graph, the lock that pins external bases and
the digests. `Revision` holds them lazily so a command pays only for what it uses.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mfops.errors import LocatedError, MfopsError, RepoError
from mfops.graph.digest import compute_digests
from mfops.graph.effective import effective_all
from mfops.graph.inheritance import build_graph
from mfops.repo.lockfile import loads
from mfops.repo.repository import LOCK_FILE, Repo

if TYPE_CHECKING:
    from mfops.graph.effective import Effective
    from mfops.graph.inheritance import Graph
    from mfops.repo.lockfile import Lock
    from mfops.repo.repository import Repo, Snapshot


class Revision:
    """One version of the repo (the working tree when `ref` is None)."""

    def __init__(self, repo: Repo, ref: str | None = None) -> None:
        self.repo = repo
        self.ref = ref

    @classmethod
    def open(cls, *, repo: Path | None = None, ref: str | None = None) -> Revision:
        return cls(Repo.find(explicit=repo), ref)

    @cached_property
    def snapshot(self) -> Snapshot:
        return self.repo.snapshot(self.ref)

    @property
    def label(self) -> str:
        return self.snapshot.label

    @cached_property
    def graph(self) -> Graph:
        return build_graph(self.snapshot)

    @cached_property
    def lock(self) -> Lock:
        where = f"{self.ref}:{LOCK_FILE}" if self.ref else LOCK_FILE
        return loads(self.snapshot.lock_text(), where)

    @cached_property
    def digests(self) -> dict[str, str]:
        return compute_digests(self.snapshot, self.graph, self.lock)

    def load(self, *, require_models: bool = False) -> dict[str, str]:
        """Every digest, loading all the way through, with errors that say which ref.

        Snapshots at a ref already name files `ref:path`; an error that does not mention the
        ref gets it added (on the error itself, so its type and exit code stay the same), so
        a command comparing two versions always says which one is broken.
        """
        try:
            if require_models and not self.snapshot.models:
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
