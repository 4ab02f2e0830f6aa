"""`POST /api/pull` (`PullModel`), also run by create when its FROM model is missing.

The registry is the pretend one in the store. Statuses follow `images.go`: `pulling
manifest`, `pulling <12 hex>` per blob (with digest/total/completed; a blob already on disk
reports one complete line), `verifying sha256 digest`, `writing manifest`, `removing unused
layers` only when an older manifest of that name leaves blobs behind, `success`. A name the
registry does not know fails with `pull model manifest: file does not exist` after the
first line, so a streaming client sees it as an error line.

With `store.registry.upstream` set, a name the pretend registry lacks is fetched over HTTP
(`GET /v2/<ns>/<model>/manifests/<tag>`, then each blob), like Ollama's own pull: default-host
names from `upstream`, names with a host from that host, over http only with `insecure`.
Only loopback hosts are ever contacted (tests run on 127.0.0.1 only). The manifest is stored
byte for byte, so its digest is the registry's, as with Ollama.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from .names import ModelName
from .store import ApiError, Layer, Store, sha256_digest

Event = dict[str, Any]


def progress(status: str, digest: str = "", total: int = 0, completed: int = 0) -> Event:
    """An `api.ProgressResponse` with Go's `omitempty` applied."""
    out: Event = {"status": status}
    if digest:
        out["digest"] = digest
    if total:
        out["total"] = total
    if completed:
        out["completed"] = completed
    return out


def pull_events(store: Store, name: ModelName, *, insecure: bool = False) -> Iterator[Event]:
    """`PullModel`: copy a registry manifest and its blobs into the local store."""
    with store.writing():
        yield from _pull(store, name, insecure=insecure)


def _pull(store: Store, name: ModelName, *, insecure: bool) -> Iterator[Event]:
    old = store.get_manifest(name)
    if name.scheme == "http" and not insecure:
        raise ApiError(500, "insecure protocol http")
    yield progress("pulling manifest")
    with store.lock:
        data = store.registry.manifests.get(name.folded)
    remote = _remote(store, name, insecure) if data is None else None
    if remote is not None:
        data = _fetch(f"{remote}/manifests/{name.tag}", "pull model manifest")
    if data is None:
        raise ApiError(500, "pull model manifest: file does not exist")
    manifest = json.loads(data)
    layers = [Layer.from_json(obj) for obj in manifest["layers"]]
    config = Layer.from_json(manifest["config"])
    for layer in [*layers, config]:
        short = f"pulling {layer.digest[7:19]}"
        if store.has_blob(layer.digest):
            yield progress(short, layer.digest, layer.size, layer.size)
            continue
        if remote is not None:
            blob = _fetch(f"{remote}/blobs/{layer.digest}", "download blob")
            if sha256_digest(blob) != layer.digest:
                raise ApiError(500, "digest mismatch")
        else:
            with store.lock:
                blob = store.registry.blobs[layer.digest]
        yield progress(short, layer.digest, layer.size)
        store.put_blob(blob)
        yield progress(short, layer.digest, layer.size, layer.size)
    yield progress("verifying sha256 digest")
    yield progress("writing manifest")
    record = store.write_manifest(name, data)
    if old is not None:
        keep = {layer.digest for layer in record.layers} | {record.config.digest}
        stale = [layer for layer in [*old.layers, old.config] if layer.digest not in keep]
        if stale:
            yield progress("removing unused layers")
            store.remove_unused(old)
    yield progress("success")


def _remote(store: Store, name: ModelName, insecure: bool) -> str | None:
    """The registry base URL (`.../v2/<ns>/<model>`) to fetch `name` from, or None."""
    if name.host.lower() == "registry.ollama.ai":
        base = store.registry.upstream
    elif name.host.split(":")[0] in ("127.0.0.1", "localhost"):
        scheme = "http" if insecure else "https"
        base = f"{scheme}://{name.host}"
    else:
        return None
    return f"{base}/v2/{name.namespace}/{name.model}" if base else None


def _fetch(url: str, what: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url, headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    try:
        with opener.open(request, timeout=30) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise ApiError(500, f"{what}: file does not exist") from None
        raise ApiError(500, f"{what}: registry answered {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise ApiError(500, f"{what}: {err}") from None
