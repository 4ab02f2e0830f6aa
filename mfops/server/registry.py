"""What a model registry serves now for a model name, without pulling it.

Ollama's pull starts with `GET /v2/<namespace>/<model>/manifests/<tag>` (Accept: the Docker
v2 manifest type) on the name's registry, and writes the body it got, byte for byte, as the
local manifest (ollama server/images.go, `pullModelManifest` and `PullModel`). The digest
`/api/tags` shows, and so the one `mfops.lock` records, is the SHA-256 of that file, hence
of the registry's body: comparing the sha256 of today's body with the lock says whether the
base moved upstream, at the cost of one small request per base. Headers such as
`Docker-Content-Digest` are not trusted for this: Ollama does not use them either.

Where a name is looked up: a name with a host (`127.0.0.1:5000/library/base:v1`) at that
host; a short name (`llama3.2`) at `defaults.registry` when mfops.yaml sets it, else at
Ollama's registry. https always, except for hosts listed in `defaults.insecure_registries`.

This module owns httpx for the registry (tests/test_architecture.py): the Ollama client in
server/client.py talks to one Ollama server with retries and its error vocabulary; a
registry is another party, with its own faults (credentials, redirects to a CDN), so it gets
its own small client rather than a detour through `ollama.Client`.

Faults are `RegistryError`s (exit 2), one line each naming the registry and the base:
unreachable, 401/403, 404, other statuses, a body that is not a manifest, a redirect to
another host (never followed: the registry is trusted, a host it points at is not), and a
deadline for the whole answer (`--registry-timeout`: a registry that trickles bytes is as
stuck as a silent one). The deadline covers looking the registry's host name up too, which
has no timeout of its own: the client's connection pools go through server/deadline.py, as
the Ollama client's do, so every connect, read and write is clamped to the time left, and
a new connection to a host name (not to an IP literal) is made on a thread of its own that
is abandoned at the deadline (a hung resolver then ends in the same timeout error).
No credentials are ever shown: messages use `Registry.display`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.errors import ServerError
from mfops.language.names import DEFAULT_HOST, parse_name
from mfops.language.registryname import Registry, check_registry
from mfops.server.deadline import Expired, clamp_pools, within

if TYPE_CHECKING:
    import httpx

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
#: A manifest is a few kilobytes; anything far larger is not one.
MAX_MANIFEST = 4 << 20
MAX_REDIRECTS = 5
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


class RegistryError(ServerError):
    """A registry could not say what it serves for a base (exit 2)."""


@dataclass(frozen=True)
class RegistrySettings:
    """`defaults.registry`, `defaults.insecure_registries`, and the deadline per manifest."""

    default: str | None = None
    insecure: tuple[str, ...] = ()
    deadline: float = 30.0

    def is_insecure(self, netloc: str) -> bool:
        return netloc.lower() in {h.lower() for h in self.insecure}


def registry_for(reference: str, settings: RegistrySettings) -> Registry:
    """The registry that `reference` is looked up at (see the module docstring)."""
    name = parse_name(reference)
    if name.host.lower() != DEFAULT_HOST:
        return Registry(name.host.lower(), "http" if name.scheme == "http" else None)
    if settings.default:
        return check_registry(settings.default)
    return Registry(DEFAULT_HOST)


def insecure_pull(reference: str, insecure: tuple[str, ...]) -> bool:
    """Whether Ollama must be told `insecure` to pull `reference`: its name has a host, and
    that host is listed in `defaults.insecure_registries` (Ollama then uses plain http)."""
    name = parse_name(reference)
    return name.host.lower() != DEFAULT_HOST and name.host.lower() in {h.lower() for h in insecure}


def _scheme(reg: Registry, settings: RegistrySettings, reference: str) -> str:
    insecure = settings.is_insecure(reg.netloc)
    if reg.scheme == "http" and not insecure:
        raise RegistryError(
            f"registry {reg.display} ({reference}) speaks plain http but is not listed as insecure",
            hint=f"add {reg.netloc} to defaults.insecure_registries in mfops.yaml",
        )
    return "http" if insecure and reg.scheme != "https" else "https"


def _manifest_digest(body: bytes) -> str:
    """`sha256:<hex>` of a body that must parse as an Ollama image manifest."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    config = data.get("config")
    layers = data.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list) or not layers:
        raise ValueError("no 'config' object or 'layers' list")
    for part in [config, *layers]:
        if not isinstance(part, dict) or not _DIGEST.match(str(part.get("digest", ""))):
            raise ValueError("a layer without a sha256 digest")
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def upstream_digest(reference: str, settings: RegistrySettings) -> str:
    """The digest Ollama would record after pulling `reference` now (`sha256:<hex>`)."""
    import httpx

    reg = registry_for(reference, settings)
    name = parse_name(reference)
    scheme = _scheme(reg, settings, reference)
    where = f"registry {scheme}://{reg.netloc}"
    start = httpx.URL(
        f"{scheme}://{reg.netloc}/v2/{name.namespace}/{name.model}/manifests/{name.tag}"
    )
    auth = None
    if reg.userinfo is not None:
        user, _, password = reg.userinfo.partition(":")
        auth = httpx.BasicAuth(user, password)
    ends = time.monotonic() + settings.deadline

    def timed_out() -> RegistryError:
        return RegistryError(
            f"{where}: {reference}: no complete answer within {settings.deadline:g}s",
            hint="the registry is slow or stuck; try again later, or raise --registry-timeout",
        )

    def left() -> float:
        remaining = ends - time.monotonic()
        if remaining <= 0:
            raise timed_out()
        return remaining

    def fetch(client: httpx.Client) -> str:
        url, origin = start, start
        for _ in range(MAX_REDIRECTS + 1):
            request = client.build_request(
                "GET", url, headers={"Accept": MANIFEST_TYPE}, timeout=httpx.Timeout(left())
            )
            response = client.send(request, auth=auth, stream=True)
            try:
                if response.is_redirect:
                    target = url.join(response.headers.get("location", ""))
                    if not _same_origin(target, origin):
                        port = f":{target.port}" if target.port else ""
                        raise RegistryError(
                            f"{where}: {reference}: redirected to another host "
                            f"({target.scheme}://{target.host}{port}); mfops never "
                            "follows a registry off its own host"
                        )
                    url = target
                    continue
                _status(response.status_code, where, reference)
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    left()
                    if len(body) > MAX_MANIFEST:
                        raise RegistryError(
                            f"{where}: {reference}: the answer is larger than a manifest "
                            f"({MAX_MANIFEST >> 20} MiB read)"
                        )
                left()
            finally:
                response.close()
            try:
                return _manifest_digest(bytes(body))
            except ValueError as why:
                raise RegistryError(
                    f"{where}: {reference}: the answer is not a model manifest ({why})"
                ) from None
        raise RegistryError(f"{where}: {reference}: more than {MAX_REDIRECTS} redirects")

    try:
        with httpx.Client(follow_redirects=False, trust_env=True) as client:
            # Every lookup, connect and read is bounded by `ends` (server/deadline.py): a
            # hung resolver gives up with the registry's own timeout like a silent registry.
            clamped = clamp_pools(client, proxies=True)
            return within(lambda: fetch(client), ends, clamped=clamped)
    except (Expired, httpx.TimeoutException):
        raise timed_out() from None
    except httpx.TransportError as err:
        raise RegistryError(
            f"cannot reach {where} for {reference} ({type(err).__name__})",
            hint="check the network, or defaults.registry in mfops.yaml",
        ) from None


def _status(code: int, where: str, reference: str) -> None:
    if code == 200:
        return
    if code in (401, 403):
        raise RegistryError(
            f"{where}: {reference}: access denied (HTTP {code})",
            hint="the model is private, or the registry needs credentials in defaults.registry",
        )
    if code == 404:
        raise RegistryError(
            f"{where}: {reference}: no such model or tag there (HTTP 404)",
            hint="check the FROM line, or defaults.registry in mfops.yaml",
        )
    raise RegistryError(f"{where}: {reference}: the registry answered HTTP {code}")
