"""Content digests: one `sha256:` per model that changes exactly when what is built changes.

The digest hashes a canonical, versioned JSON of the model's *semantic* content, the create
request its Modelfile makes (typed parameters, texts, messages, licenses, adapter and file
contents by sha256, RENDERER/PARSER/REQUIRES/DRAFT), plus its base's identity:

- source base: the parent's digest, so a change anywhere up the chain reaches every
  descendant (a Merkle chain);
- external base: its normalised reference plus the digest locked in `mfops.lock`;
- pinned base: the `name:tag` it names;
- file base: the sha256 of the file (or directory) content.

Formatting, comments, keyword case, quoting, the Modelfile's name and location, repeated
single-valued commands that end the same, empty values Ollama omits: none of these reach the
create request, so none change the digest. Bump `DIGEST_VERSION` whenever the payload's
meaning changes, so that old and new digests never compare equal by accident.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mfops.fileio.bulk import paused_gc
from mfops.graph.effective import Declared, declared

if TYPE_CHECKING:
    from mfops.graph.inheritance import Base, Graph, ModelNode
    from mfops.repo.cache import Cache
    from mfops.repo.lockfile import Lock
    from mfops.repo.repository import ResolvedPath, Snapshot

DIGEST_VERSION = 1


#: One encoder for every digest: `json.dumps` with options builds a new one per call, and
#: a payload (plain data, built fresh: no cycles) needs no check for circular references.
#: 5.0 -> 3.3 us a payload; the output is the same bytes.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)


def canonical_json(obj: object) -> bytes:
    return _CANONICAL.encode(obj).encode()


def sha256_of(obj: object) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


class Digester:
    """Computes digests for a snapshot's graph, hashing each local file only once."""

    def __init__(self, snapshot: Snapshot, graph: Graph, lock: Lock) -> None:
        self.snapshot = snapshot
        self.graph = graph
        self.lock = lock
        self._files: dict[tuple[str | None, str | None], str] = {}
        self.digests: dict[str, str] = {}

    def file_digest(self, resolved: ResolvedPath) -> str:
        key = (resolved.repo_path, resolved.abs_path)
        if key not in self._files:
            self._files[key] = self.snapshot.sha256(resolved)
        return self._files[key]

    def base_identity(self, base: Base) -> dict[str, object]:
        if base.kind == "source":
            return {"source": self.digests[base.target]}
        if base.kind == "external":
            return {"external": base.target, "locked": self.lock.get(base.target)}
        if base.kind == "pinned":
            return {"pinned": base.target}
        return {"files": sorted(self.file_digest(f) for f in base.files)}

    def payload(self, own: Declared, base: Base) -> dict[str, object]:
        """The canonical content of one model; see the module docstring for what is in it."""
        return {
            "mfops_digest": DIGEST_VERSION,
            "base": self.base_identity(base),
            "texts": {k: v.value for k, v in own.texts.items()},
            "parameters": {k: v.value for k, v in own.parameters.items()},
            "messages": [[m.role, m.content] for m in own.messages],
            "licenses": [lic.value for lic in own.licenses],
            "adapter": self.file_digest(own.adapter.value) if own.adapter else None,
            "drafts": sorted(self.file_digest(d.value) for d in own.drafts),
        }

    def cache_key(self, node: ModelNode) -> str | None:
        """Everything a model's payload is made of, in short: its Modelfile's bytes (blob
        id), its base's identity (the parent's digest for a source base) and its local
        files' digests. Equal keys mean equal payloads, so the digest can be reused. (A
        NUL-separated string rather than canonical JSON: it is made for every model.)"""
        if node.model.blob is None:
            return None
        base = node.base
        if base.kind == "source":
            identity = f"source\0{self.digests[base.target]}"
        elif base.kind == "external":
            identity = f"external\0{base.target}\0{self.lock.get(base.target)}"
        elif base.kind == "pinned":
            identity = f"pinned\0{base.target}"
        else:
            identity = "files\0" + "\0".join(sorted(self.file_digest(f) for f in base.files))
        adapter = self.file_digest(node.adapter) if node.adapter else "-"
        drafts = "\0".join(sorted(self.file_digest(d) for d in node.drafts))
        text = f"{DIGEST_VERSION}\1{node.model.blob}\1{identity}\1{adapter}\1{drafts}"
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    def compute(self, names: list[str] | None = None) -> dict[str, str]:
        """Digests of `names` (default all) and of their source ancestors, in graph order."""
        wanted = self.graph.closure(names, up=True) if names is not None else self.graph.order
        cache = self.snapshot.repo.cache
        with paused_gc():  # fileio/bulk.py
            self._compute(wanted, cache)
        cache.save()
        return {n: self.digests[n] for n in wanted}

    def _compute(self, wanted: Sequence[str], cache: Cache) -> None:
        for name in wanted:
            if name not in self.digests:
                node = self.graph.nodes[name]
                key = self.cache_key(node)
                found = cache.digest(key) if key is not None else None
                if found is None:
                    found = sha256_of(self.payload(declared(node), node.base))
                    if key is not None:
                        cache.put_digest(key, found)
                self.digests[name] = found


def compute_digests(
    snapshot: Snapshot, graph: Graph, lock: Lock, names: list[str] | None = None
) -> dict[str, str]:
    """One call for the common case: every digest (or those of `names` and ancestors)."""
    return Digester(snapshot, graph, lock).compute(names)
