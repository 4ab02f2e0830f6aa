"""Registry addresses as `mfops.yaml` spells them: `host[:port]`, or a URL `https://host`.

`defaults.registry` names where short model names are looked up upstream (a mirror of
Ollama's registry, or a local registry in tests); `defaults.insecure_registries` lists the
hosts that speak plain http. Both are checked when mfops.yaml is read, so a typo is one line
at `mfops.yaml:LINE` rather than a connection error later. Credentials (`user:token@host`)
are accepted in `defaults.registry` for a private mirror; `Registry.display` never shows them.
No network here: this is grammar only (mfops.server.registry does the talking).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

#: `host` or `host:port`; the host a DNS name, an IPv4 address or a bracketed IPv6 address.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z"
)


@dataclass(frozen=True)
class Registry:
    """A registry endpoint: `scheme` is None when mfops.yaml did not spell one (https unless
    the host is listed as insecure); `netloc` is `host[:port]`, lower-cased, without
    credentials, which live in `userinfo` only."""

    netloc: str
    scheme: str | None = None
    userinfo: str | None = None

    @property
    def display(self) -> str:
        return f"{self.scheme}://{self.netloc}" if self.scheme else self.netloc


def check_registry_host(text: str) -> Registry:
    """`host[:port]` exactly (an entry of `insecure_registries`); ValueError says why not."""
    value = text.strip()
    if not _HOST.match(value):
        raise ValueError(f"{value!r} is not a registry host (expected host or host:port)")
    port = value.rpartition(":")[2] if not value.endswith("]") and ":" in value else None
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: port out of range")
    return Registry(value.lower())


def check_registry(text: str) -> Registry:
    """`[http[s]://][user[:password]@]host[:port][/]`; ValueError says why not (without
    repeating credentials)."""
    value = text.strip()
    scheme: str | None = None
    rest = value
    if "://" in value:
        scheme, rest = value.split("://", 1)
        if scheme not in ("http", "https"):
            raise ValueError(f"registry scheme must be http or https, not {scheme!r}")
    rest = rest.rstrip("/")
    userinfo, at, hostpart = rest.rpartition("@")
    if "/" in hostpart:
        raise ValueError("a registry is host[:port] or a URL without a path")
    shown = f"{scheme}://{hostpart}" if scheme else hostpart
    try:
        host = check_registry_host(hostpart)
    except ValueError:
        raise ValueError(f"{shown!r} is not a registry (expected host[:port] or a URL)") from None
    return Registry(host.netloc, scheme, urllib.parse.unquote(userinfo) if at else None)
