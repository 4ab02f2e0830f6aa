"""Which Ollama server a command talks to, and how to name it safely.

The URL rules are the `ollama` client's own (`_parse_host`), reimplemented here so that
resolving a host never imports the client: no scheme means `http` on port 11434, `http://h`
means port 80 and `https://h` 443, a path is kept, bare IPv6 addresses get brackets. The
order of precedence is `--host`, then `OLLAMA_HOST`, then `defaults.host` in mfops.yaml.
Credentials in the URL are kept for connecting, and never shown or used in file names.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import urllib.parse
from dataclasses import dataclass

from mfops.errors import ServerError

DEFAULT_HOST = "http://127.0.0.1:11434"
_DEFAULT_PORT = 11434
#: `scheme://user[:password]@`: the credentials part of any URL inside a text.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")
#: `user:password@host` without a scheme (`--host` accepts that too).
_BARE_USERINFO = re.compile(r"(?<![\w.+/:-])[^\s/@'\":]+:[^\s/@'\"]*@(?=[\w\[])")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***`.

    For text mfops does not compose itself (an unexpected exception, the argument list in
    a crash log): what mfops writes on purpose uses `Host.display` instead."""
    return _BARE_USERINFO.sub("***@", _USERINFO.sub(r"\g<scheme>***@", text))


def normalize_host(raw: str) -> str:
    """The base URL the `ollama` client would use for `raw` (its `_parse_host` rules).

    No scheme means `http` on port 11434; `http://h` means port 80 and `https://h` 443; a
    path is kept without its trailing slash; bare IPv6 addresses get brackets. Credentials
    in the URL are kept here (they are needed to connect); see `Host.display`.
    """
    raw = raw.strip()
    scheme, sep, rest = raw.partition("://")
    port = _DEFAULT_PORT
    if not sep:
        scheme, rest = "http", raw
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{rest}")
    hostname = split.hostname or "127.0.0.1"
    try:
        if isinstance(ipaddress.ip_address(hostname), ipaddress.IPv6Address):
            hostname = f"[{hostname}]"
    except ValueError:
        pass
    try:
        port = split.port or port
    except ValueError:
        raise ServerError(f"invalid Ollama host {redact(raw)!r}: bad port") from None
    userinfo = ""
    if split.username is not None:
        userinfo = split.username + (f":{split.password}" if split.password is not None else "")
        userinfo += "@"
    path = split.path.strip("/")
    return f"{scheme}://{userinfo}{hostname}:{port}" + (f"/{path}" if path else "")


_LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1", "localhost.", "ip6-localhost"}
LOOPBACK = "127.0.0.1"


def host_identity(raw: str) -> str:
    """The one spelling of a server for everything a host keys: records, cache folders.

    `normalize_host`'s rules (no scheme: `http` on 11434; `http://h` port 80, `https://h`
    443, as the client connects), then: scheme and host lower-case, `localhost`,
    `127.0.0.1` and `[::1]` all spelled `127.0.0.1`, no trailing slash, and never any
    credentials. `http://localhost:11434/`, `localhost` and `user:pw@127.0.0.1:11434` are
    one server; `http://localhost` (port 80) is another, because the client would connect
    to port 80.
    """
    split = urllib.parse.urlsplit(normalize_host(raw))
    hostname = (split.hostname or LOOPBACK).lower()
    if ":" in hostname:
        hostname = f"[{hostname}]"
    if hostname in _LOOPBACK:
        hostname = LOOPBACK
    path = split.path.rstrip("/")
    return f"{split.scheme.lower()}://{hostname}:{split.port}{path}"


@dataclass(frozen=True)
class Host:
    """A normalised Ollama base URL, and the two safe ways to show or store it."""

    url: str

    @property
    def display(self) -> str:
        """The URL without any `user:password@`: what messages, reports and state show."""
        split = urllib.parse.urlsplit(self.url)
        netloc = split.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit((split.scheme, netloc, split.path, "", ""))

    @property
    def identity(self) -> str:
        """The one spelling of this server that keys anything (records, cache folders)."""
        return host_identity(self.url)

    @property
    def key(self) -> str:
        """A filesystem-safe name for this host (state folders): no credentials, ever."""
        text = self.identity.replace("://", "_")
        safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in text)
        return safe.strip("_.") or "host"

    @property
    def basic_auth(self) -> str:
        """`Basic <base64>` for the URL's `user:password@`, or "" without credentials.

        The `ollama` client drops them from the host (its `_parse_host` keeps only host and
        port), so they must travel as a header; `%`-escapes in them are decoded."""
        split = urllib.parse.urlsplit(self.url)
        if split.username is None:
            return ""
        user = urllib.parse.unquote(split.username)
        password = urllib.parse.unquote(split.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return f"Basic {token}"

    def __str__(self) -> str:
        return self.display


def resolve_host(explicit: str | None = None, configured: str | None = None) -> Host:
    """`--host`, else `OLLAMA_HOST`, else `mfops.yaml`'s `defaults.host`, else the default."""
    for candidate in (explicit, os.environ.get("OLLAMA_HOST"), configured):
        if candidate and candidate.strip():
            return Host(normalize_host(candidate))
    return Host(DEFAULT_HOST)


def resolve_hosts(
    explicit: tuple[str, ...] = (),
    pool: tuple[str, ...] = (),
    configured: str | None = None,
) -> tuple[Host, ...]:
    """The servers of one run (issue 16): every `--host` given, else `OLLAMA_HOST`, else
    `mfops.yaml`'s `defaults.hosts` (a pool), else `defaults.host`, else the default.

    One host is the everyday case; several make a pool (`behave/pool.py`). A server named
    twice (by its identity: `localhost` and `127.0.0.1:11434` are one) is refused, since
    it would silently count twice in the pool."""
    given = [h for h in explicit if h and h.strip()]
    if len(given) <= 1:
        env = os.environ.get("OLLAMA_HOST")
        if given or (env and env.strip()) or not pool:
            return (resolve_host(given[0] if given else None, configured),)
        given = list(pool)
    hosts = tuple(Host(normalize_host(h)) for h in given)
    seen: dict[str, Host] = {}
    for h in hosts:
        twin = seen.get(h.identity)
        if twin is not None:
            raise ServerError(
                f"the pool names one server twice: {twin.display} and {h.display} are both "
                f"{h.identity}",
                hint="list each server of the pool once",
            )
        seen[h.identity] = h
    return hosts
