"""Ollama's model-name grammar (`types/model/name.go`), reimplemented for the double.

The double must reject exactly the names Ollama rejects and store models under the same
fully-qualified key, or mfops could pass against the double and fail against a server. The
double deliberately does not import mfops' own name code: an independent implementation is
what lets the tests catch a mistake in either one.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MISSING = "!MISSING!"  # what Go puts where a separator promised a part that is empty

_ALNUM_ = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class ModelName:
    """A parsed name; `valid` tells whether Ollama would accept it (`Name.IsValid`)."""

    host: str
    namespace: str
    model: str
    tag: str
    scheme: str = "https"

    @property
    def valid(self) -> bool:
        return all(
            _valid_part(kind, part)
            for kind, part in (
                ("host", self.host),
                ("namespace", self.namespace),
                ("model", self.model),
                ("tag", self.tag),
            )
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The manifest path parts, spelled as given (a case-sensitive filesystem path)."""
        return (self.host, self.namespace, self.model, self.tag)

    @property
    def folded(self) -> tuple[str, str, str, str]:
        """The case-insensitive identity used by most endpoints."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def __str__(self) -> str:  # Name.String without the scheme
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def short(self) -> str:
        """`DisplayShortest`: default host and namespace left out, tag always shown."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    def with_parts(self, parts: tuple[str, str, str, str]) -> ModelName:
        return ModelName(parts[0], parts[1], parts[2], parts[3], self.scheme)


def _valid_part(kind: str, s: str) -> bool:
    limit = 350 if kind == "host" else 80
    if not 1 <= len(s) <= limit:
        return False
    if not s.isascii():
        return False
    for i, ch in enumerate(s):
        if i == 0:
            if ch not in _ALNUM_:
                return False
        elif ch in "_-":
            continue
        elif ch == ".":
            if kind == "namespace":
                return False
        elif ch == ":":
            if kind != "host":
                return False
        elif ch not in _ALNUM_:
            return False
    return True


def _cut_promised(s: str, sep: str) -> tuple[str, str, bool]:
    i = s.rfind(sep)
    if i < 0:
        return s, "", False
    return (s[:i] or MISSING), (s[i + len(sep) :] or MISSING), True


def parse_name(s: str) -> ModelName:
    """`model.ParseName`: split `[scheme://][host/][namespace/]model[:tag]`, fill defaults."""
    host = namespace = tag = ""
    scheme = ""
    if s.rfind(":") > s.rfind("/"):
        s, tag, _ = _cut_promised(s, ":")
    s, model, promised = _cut_promised(s, "/")
    if not promised:
        model = s
    else:
        s, namespace, promised = _cut_promised(s, "/")
        if not promised:
            namespace = s
        else:
            if "://" in s:
                scheme, host = s.split("://", 1)
            else:
                host = s
    return ModelName(
        host or DEFAULT_HOST,
        namespace or DEFAULT_NAMESPACE,
        model,
        tag or DEFAULT_TAG,
        scheme or "https",
    )


@dataclass(frozen=True)
class ModelRef:
    """`modelref.ParseRef`: a name with its `:local` / `:cloud` source suffix split off."""

    original: str
    base: str
    source: str  # "", "local" or "cloud"


class RefError(ValueError):
    """The reference is empty (`model is required`) or names two sources."""


def parse_ref(raw: str) -> ModelRef:
    """Trim, then peel a `:cloud`, `:local` or `-cloud` tag suffix (reference §5)."""
    raw = raw.strip()
    if not raw:
        raise RefError("model is required")
    base, source = _source_suffix(raw)
    if source and _source_suffix(base)[1]:
        raise RefError(f"use either :local or :cloud, not both: {go_q(raw)}")
    return ModelRef(raw, base, source)


def go_q(s: str) -> str:
    from .gocompat import go_quote

    return go_quote(s)


def _source_suffix(raw: str) -> tuple[str, str]:
    idx = raw.rfind(":")
    if idx >= 0:
        suffix_raw = raw[idx + 1 :].strip()
        suffix = suffix_raw.lower()
        if suffix == "cloud":
            return raw[:idx], "cloud"
        if suffix == "local":
            return raw[:idx], "local"
        if "/" not in suffix_raw and suffix.endswith("-cloud"):
            return raw[: idx + 1] + suffix_raw[: -len("-cloud")], "cloud"
    return raw, ""
