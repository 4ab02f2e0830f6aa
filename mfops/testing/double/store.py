"""The double's disk: content-addressed blobs, manifests, config layers and a fake registry.

Everything mirrors Ollama's on-disk model (reference §6): a blob is addressed by the SHA-256
of its bytes; a manifest is JSON written by Go's encoder, stored under the name exactly as it
was spelled, and its digest is the SHA-256 of those bytes; a manifest's config layer is a
`ConfigV2` JSON blob. Keeping the bytes (not just parsed objects) is what makes "copy keeps
the digest" and "identical inputs reproduce the digest" real properties rather than
bookkeeping. The store is in memory and guarded by one lock; request threads take it only
for short critical sections, never while they sleep or stream.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .gguf import GGUFError, read_gguf_kv
from .gocompat import go_json
from .names import ModelName

MEDIA_PREFIX = "application/vnd.ollama.image."
MT_MODEL = MEDIA_PREFIX + "model"
MT_ADAPTER = MEDIA_PREFIX + "adapter"
MT_PROJECTOR = MEDIA_PREFIX + "projector"
MT_DRAFT = MEDIA_PREFIX + "draft"
MT_TEMPLATE = MEDIA_PREFIX + "template"
MT_PROMPT = MEDIA_PREFIX + "prompt"  # legacy name of .template
MT_SYSTEM = MEDIA_PREFIX + "system"
MT_PARAMS = MEDIA_PREFIX + "params"
MT_MESSAGES = MEDIA_PREFIX + "messages"
MT_LICENSE = MEDIA_PREFIX + "license"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
GGUF_MEDIA_TYPES = (MT_MODEL, MT_PROJECTOR, MT_ADAPTER, MT_DRAFT)

DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")


class ApiError(Exception):
    """An Ollama error response: HTTP status plus the `error` message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """`manifest.BlobsPath`'s check; returns the canonical `sha256:` spelling (case kept)."""
    if not DIGEST_RE.match(digest):
        raise ApiError(400, "invalid digest format")
    return "sha256:" + digest[7:]


@dataclass
class Layer:
    """A manifest layer; `status` is the create progress line it produces (never stored)."""

    media_type: str
    digest: str
    size: int
    from_: str = ""
    name: str = ""
    status: str = ""
    rewrite: bool = False  # imported from a file: create re-writes it (Go's rewriteForCreate)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.from_:
            out["from"] = self.from_
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Layer:
        return cls(
            obj["mediaType"], obj["digest"], obj["size"], obj.get("from", ""), obj.get("name", "")
        )


@dataclass
class ManifestRecord:
    """A manifest file: its exact bytes and its modification time."""

    data: bytes
    mtime_ns: int
    # `data` never changes once written: its digest and JSON are worked out once (a store
    # of hundreds of models reads every manifest on each create's garbage collection)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)
    _doc: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _size: int | None = field(default=None, init=False, repr=False, compare=False)
    #: what `/api/tags` says of this manifest besides its name and time (details and
    #: capabilities), worked out from its layers once: a listing reads every manifest
    listed: tuple[dict[str, Any], list[str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def digest(self) -> str:
        """The `/api/tags` digest: 64 hex characters, no `sha256:` prefix."""
        if self._digest is None:
            self._digest = hashlib.sha256(self.data).hexdigest()
        return self._digest

    @property
    def parsed(self) -> dict[str, Any]:
        """The manifest's JSON, a fresh copy the caller may change."""
        return json.loads(self.data)

    def _document(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = json.loads(self.data)
        return self._doc

    @property
    def config(self) -> Layer:
        return Layer.from_json(self._document()["config"])

    @property
    def layers(self) -> list[Layer]:
        return [Layer.from_json(obj) for obj in self._document()["layers"]]

    def blob_digests(self) -> list[str]:
        """The digests of the config and every layer."""
        doc = self._document()
        return [doc["config"]["digest"], *(obj["digest"] for obj in doc["layers"])]

    @property
    def size(self) -> int:
        """The sizes of every layer and the config, added (read once: `data` never changes)."""
        if self._size is None:
            doc = self._document()
            self._size = sum(obj["size"] for obj in doc["layers"]) + doc["config"]["size"]
        return self._size


def encode_manifest(config: Layer, layers: list[Layer]) -> bytes:
    """`manifest.WriteManifest`: Go-encoded, fields in struct order, trailing newline."""
    return go_json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
    )


_CONFIG_FIELDS = (
    ("model_format", False),
    ("model_family", False),
    ("model_families", False),
    ("model_type", False),
    ("file_type", False),
    ("renderer", True),
    ("parser", True),
    ("requires", True),
    ("remote_host", True),
    ("remote_model", True),
    ("capabilities", True),
    ("context_length", True),
    ("embedding_length", True),
    ("base_name", True),
    ("draft", True),
    ("architecture", False),
    ("os", False),
)


def encode_config(config: dict[str, Any]) -> bytes:
    """`ConfigV2` as Go encodes it: declaration order, `omitempty` fields dropped when empty."""
    out: dict[str, Any] = {}
    for key, omitempty in _CONFIG_FIELDS:
        value = config.get(key)
        if omitempty and not value:
            continue
        if value is None and key != "model_families":
            value = ""
        out[key] = value
    return go_json(out)


@dataclass
class Registry:
    """The pretend `registry.ollama.ai`: manifests by case-folded name plus their blobs.

    `upstream` (a URL such as `http://127.0.0.1:PORT`, tests/registry_stub.py) makes pulls of
    names this pretend registry lacks fetch over HTTP instead, as Ollama does: default-host
    names from `upstream`, names with a loopback host from that host (pull.py)."""

    manifests: dict[tuple[str, str, str, str], bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    upstream: str | None = None


class Store:
    """Blobs and manifests of the local server, plus the registry that pulls read from."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str, str, str], ManifestRecord] = {}
        self.registry = Registry()
        self._last_mtime = 0
        self._writers = 0
        self._garbage: set[str] = set()
        #: per name part, case-folded spelling -> the greatest manifest key (sorted order)
        #: with that part: its part is the spelling `existing_name` adopts. A new manifest
        #: updates it in place (one comparison per part, so a request does not cost more
        #: as the server holds more models); a removal rebuilds it on next use (None).
        self._spellings: list[dict[str, tuple[str, str, str, str]]] | None = None
        #: a weights blob's GGUF metadata by digest (blobs never change): every show and
        #: listing of a model reads it. Shared, so read-only for the callers.
        self._gguf: dict[str, dict[str, Any]] = {}

    # -- blobs -------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> tuple[str, bool]:
        """Store bytes; returns (digest, created) like `manifest.NewLayer`."""
        digest = sha256_digest(data)
        with self.lock:
            created = digest not in self.blobs
            if created:
                self.blobs[digest] = data
        return digest, created

    def new_layer(self, data: bytes, media_type: str) -> Layer:
        """`manifest.NewLayer`: store the blob and say whether it was new."""
        digest, created = self.put_blob(data)
        verb = "creating new layer" if created else "using existing layer"
        return Layer(media_type, digest, len(data), status=f"{verb} {digest}")

    def get_blob(self, digest: str) -> bytes | None:
        with self.lock:
            return self.blobs.get(digest)

    def gguf_kv(self, digest: str) -> dict[str, Any]:
        """The metadata of the GGUF blob `digest` (read-only); {} for a blob that is missing
        or not a GGUF file."""
        with self.lock:
            kv = self._gguf.get(digest)
            blob = self.blobs.get(digest) if kv is None else None
        if kv is not None:
            return kv
        try:
            kv = read_gguf_kv(blob) if blob else {}
        except GGUFError:
            kv = {}
        if blob:
            with self.lock:
                self._gguf[digest] = kv
        return kv

    def has_blob(self, digest: str) -> bool:
        with self.lock:
            return digest in self.blobs

    # -- manifests ---------------------------------------------------------------------
    def _now_ns(self) -> int:
        """Strictly increasing timestamps, so "newest first" is well defined in fast tests."""
        now = time.time_ns()
        with self.lock:
            now = max(now, self._last_mtime + 1000)
            self._last_mtime = now
        return now

    def write_manifest(self, name: ModelName, data: bytes) -> ManifestRecord:
        record = ManifestRecord(data, self._now_ns())
        with self.lock:
            key = name.key
            if key not in self.manifests and self._spellings is not None:
                for i, table in enumerate(self._spellings):
                    folded = key[i].lower()
                    best = table.get(folded)
                    if best is None or key > best:
                        table[folded] = key
            self.manifests[key] = record
        return record

    def get_manifest(self, name: ModelName) -> ManifestRecord | None:
        """Exact (case-sensitive) lookup, like opening the manifest file."""
        with self.lock:
            return self.manifests.get(name.key)

    def existing_name(self, name: ModelName) -> ModelName:
        """`getExistingName`: adopt, part by part, the spelling of an existing manifest."""
        with self.lock:
            spellings = self._spellings
            if spellings is None:
                # each part independently takes the spelling of the last manifest name (in
                # sorted order) whose part matches it case-insensitively
                spellings = [{}, {}, {}, {}]
                for existing in sorted(self.manifests):
                    for i in range(4):
                        spellings[i][existing[i].lower()] = existing
                self._spellings = spellings
            key = name.key  # read under the lock: a new manifest updates the tables in place
            found = [spellings[i].get(key[i].lower()) for i in range(4)]
        parts = tuple(key[i] if f is None else f[i] for i, f in enumerate(found))
        return name.with_parts((parts[0], parts[1], parts[2], parts[3]))

    def resolve(self, name: ModelName) -> tuple[ModelName, ManifestRecord | None]:
        """Case-insensitive lookup as most endpoints do it."""
        name = self.existing_name(name)
        return name, self.get_manifest(name)

    def remove_manifest(self, name: ModelName) -> ManifestRecord | None:
        with self.lock:
            self._spellings = None
            return self.manifests.pop(name.key, None)

    def referenced_digests(self) -> set[str]:
        with self.lock:
            records = list(self.manifests.values())
        used: set[str] = set()
        for record in records:
            used.update(record.blob_digests())
        return used

    def remove_unused(self, record: ManifestRecord) -> None:
        """`Manifest.RemoveLayers`: drop this manifest's blobs that nothing else uses.

        Deferred while a create or pull is running: their new blobs are not referenced by
        any manifest yet, and Ollama's race of deleting them under a concurrent create is
        not something mfops' tests should trip over at random.
        """
        with self.lock:
            self._garbage.update(layer.digest for layer in [*record.layers, record.config])
            if self._writers == 0:
                self._collect()

    def _collect(self) -> None:
        if not self._garbage:  # most creates replace nothing: no need to read every manifest
            return
        used = self.referenced_digests()
        for digest in self._garbage - used:
            self.blobs.pop(digest, None)
            self._gguf.pop(digest, None)
        self._garbage.clear()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Mark a create or pull in progress (see `remove_unused`)."""
        with self.lock:
            self._writers += 1
        try:
            yield
        finally:
            with self.lock:
                self._writers -= 1
                if self._writers == 0:
                    self._collect()

    def names(self) -> list[ModelName]:
        with self.lock:
            keys = list(self.manifests)
        return [ModelName(*key) for key in keys]


@dataclass
class ModelView:
    """What `server.GetModel` reads out of a manifest: the model as inference sees it."""

    name: ModelName
    record: ManifestRecord
    config: dict[str, Any]
    weights: Layer | None
    adapters: list[Layer]
    projectors: list[Layer]
    draft: Layer | None
    template: str | None
    system: str
    parameters: dict[str, Any]
    messages: list[dict[str, Any]]
    licenses: list[str]
    kv: dict[str, Any]

    @property
    def parent_model(self) -> str:
        return self.weights.from_ if self.weights else ""

    @property
    def template_text(self) -> str:
        return self.template if self.template is not None else "{{ .Prompt }}"


def load_model(store: Store, name: ModelName, record: ManifestRecord) -> ModelView:
    """Read every layer of a manifest (the model's effective, inherited content)."""
    config: dict[str, Any] = {}
    cfg_layer = record.config
    raw = store.get_blob(cfg_layer.digest)
    if raw:
        config = json.loads(raw)
    view = ModelView(name, record, config, None, [], [], None, None, "", {}, [], [], {})

    def text(layer: Layer) -> str:
        blob = store.get_blob(layer.digest)
        if blob is None:
            raise ApiError(500, f"open {layer.digest}: no such file or directory")
        return blob.decode("utf-8", "replace")

    for layer in record.layers:
        mt = layer.media_type
        if mt == MT_MODEL:
            view.weights = layer
            view.kv = store.gguf_kv(layer.digest)
        elif mt == MT_DRAFT:
            view.draft = layer
        elif mt == MT_ADAPTER:
            view.adapters.append(layer)
        elif mt == MT_PROJECTOR:
            view.projectors.append(layer)
        elif mt in (MT_TEMPLATE, MT_PROMPT):
            view.template = text(layer)
        elif mt == MT_SYSTEM:
            view.system = text(layer)
        elif mt == MT_PARAMS:
            view.parameters = json.loads(text(layer))
        elif mt == MT_MESSAGES:
            view.messages = json.loads(text(layer))
        elif mt == MT_LICENSE:
            view.licenses.append(text(layer))
    return view
