"""Ollama model names: `[scheme://][host/][namespace/]model[:tag]` (ollama-reference.md §5).

FROM lines, build targets, promotion tags and the lock all speak in Ollama names, and a name
Ollama rejects only shows up late, on the server. So mfops checks names with Ollama's own
grammar, up front: the parts are cut from the right (tag after the last `:` if it follows the
last `/`, then model, namespace, host), each part has its own character set and length, only
ASCII is allowed, and a separator with nothing on one side makes the whole name invalid.

`ModelName.display` is Ollama's DisplayShortest, the spelling `/api/tags` uses, so that names
mfops prints match what `ollama list` shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
DEFAULT_SCHEME = "https"
#: mfops' content tags, `mf-<first 12 hex of the mfops digest>` (build/tags.py): reserved.
CONTENT_TAG = re.compile(r"mf-[0-9a-f]{12}\Z")

# Each part starts with a letter, digit or `_`; the rest of the set differs per part.
_PARTS = {
    "host": (
        re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*"),
        350,
        "letters, digits, '_', '-', '.' and ':'",
    ),
    "namespace": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*"), 80, "letters, digits, '_' and '-'"),
    "model": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), 80, "letters, digits, '_', '-' and '.'"),
    "tag": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), 80, "letters, digits, '_', '-' and '.'"),
}


@dataclass(frozen=True)
class ModelName:
    """A parsed model name with Ollama's defaults filled in.

    `has_tag` records whether the text spelled a tag: `FROM engine-bot` (a source edge, built
    together) and `FROM engine-bot:latest` (a pinned release) mean different things in a repo
    even though both name the tag `latest`. `scheme` is kept only because `http://` changes
    how Ollama pulls; it is not part of the display form.
    """

    host: str
    namespace: str
    model: str
    tag: str
    has_tag: bool = True
    scheme: str = DEFAULT_SCHEME

    @property
    def untagged(self) -> str:
        """DisplayShortest without the tag: `model`, `ns/model` or `host/ns/model`."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}"
        return self.model

    @property
    def display(self) -> str:
        """Ollama's DisplayShortest: default host and namespace left out, tag always shown."""
        return f"{self.untagged}:{self.tag}"

    def with_tag(self, tag: str) -> ModelName:
        """The same model at another tag (checked like a parsed tag)."""
        _check_part("tag", tag, f"{self.untagged}:{tag}")
        return ModelName(self.host, self.namespace, self.model, tag, True, self.scheme)

    def __str__(self) -> str:
        return self.display


def part_problem(kind: str, part: str) -> str | None:
    """Why `part` is not a valid `kind` (model, tag, ...) of a name, or None: the words a
    user who typed only that part should read (`tag 'bad tag' may only contain ...`)."""
    pattern, limit, allowed = _PARTS[kind]
    if not part:
        return f"empty {kind}"
    if not part.isascii():
        return f"{kind} {part!r} is not ASCII"
    if len(part) > limit:
        return f"{kind} is {len(part)} characters long (at most {limit})"
    if pattern.fullmatch(part) is None:
        if pattern.fullmatch("a" + part[1:]) is not None:
            return f"{kind} {part!r} must start with a letter, digit or '_'"
        return f"{kind} {part!r} may only contain {allowed}"
    return None


def _check_part(kind: str, part: str, text: str) -> None:
    problem = part_problem(kind, part)
    if problem is not None:
        raise ValueError(f"invalid model name {text!r}: {problem}")


def tag_problem(tag: str) -> str | None:
    """What is wrong with `tag` on its own (None: a valid tag), worded about the tag alone."""
    pattern, limit, allowed = _PARTS["tag"]
    if not tag:
        return "empty"
    if not tag.isascii():
        return "not ASCII"
    if len(tag) > limit:
        return f"{len(tag)} characters long (at most {limit})"
    if pattern.fullmatch(tag) is None:
        if pattern.fullmatch("a" + tag[1:]) is not None:
            return "must start with a letter, digit or '_'"
        return f"may only contain {allowed}"
    return None


def _cut(text: str, sep: str) -> tuple[str, str] | None:
    """Split at the last `sep` (None when absent), like Go's cutPromised."""
    i = text.rfind(sep)
    return None if i < 0 else (text[:i], text[i + len(sep) :])


@lru_cache(maxsize=1 << 16)
def parse_name(text: str) -> ModelName:
    """Parse a model name as Ollama's ParseName does; ValueError says why it is invalid.

    Memoised (ModelName is immutable): a graph parses each model's name and each FROM,
    the same few thousand names over and over."""
    if not text:
        raise ValueError("invalid model name '': empty")
    if "@" in text:
        raise ValueError(
            f"invalid model name {text!r}: '@' is not allowed (Ollama does not accept digest "
            "references)"
        )
    rest = text
    tag = ""
    has_tag = rest.rfind(":") > rest.rfind("/")
    if has_tag:
        rest, tag = rest.rsplit(":", 1)
        if not rest:
            raise ValueError(f"invalid model name {text!r}: empty model before ':'")
        if not tag:
            raise ValueError(f"invalid model name {text!r}: empty tag after ':'")
    host = namespace = ""
    scheme = DEFAULT_SCHEME
    cut = _cut(rest, "/")
    if cut is None:
        model = rest
    else:
        rest, model = cut
        if not model:
            raise ValueError(f"invalid model name {text!r}: empty model after '/'")
        if not rest:
            raise ValueError(f"invalid model name {text!r}: empty namespace before '/'")
        cut = _cut(rest, "/")
        if cut is None:
            namespace = rest
        else:
            rest, namespace = cut
            if not namespace:
                raise ValueError(f"invalid model name {text!r}: empty namespace")
            if not rest:
                raise ValueError(f"invalid model name {text!r}: empty host before '/'")
            if "://" in rest:
                scheme, rest = rest.split("://", 1)
            host = rest
            if "/" in host:
                raise ValueError(
                    f"invalid model name {text!r}: too many '/' (the form is "
                    "host/namespace/model:tag)"
                )
    if cut is not None:  # a host was spelled (it may still be empty after `scheme://`)
        _check_part("host", host, text)
    if namespace:
        _check_part("namespace", namespace, text)
    _check_part("model", model, text)
    if has_tag:
        _check_part("tag", tag, text)
    return ModelName(
        host=host or DEFAULT_HOST,
        namespace=namespace or DEFAULT_NAMESPACE,
        model=model,
        tag=tag or DEFAULT_TAG,
        has_tag=has_tag,
        scheme=scheme or DEFAULT_SCHEME,
    )


def is_valid_name(text: str) -> bool:
    try:
        parse_name(text)
    except ValueError:
        return False
    return True


def is_content_tag(tag: str) -> bool:
    """A tag mfops writes itself for one content (`mf-<12 hex>`, build/tags.py)."""
    return CONTENT_TAG.match(tag.casefold()) is not None


def is_reserved_tag(tag: str) -> bool:
    """Tags that send a request down Ollama's cloud/local routing: `cloud`, `local`, `*-cloud`.

    A local build under such a tag would not be what a later pull or run finds, so builds and
    promotions refuse them. Compared case-insensitively, since Ollama matches tags that way.
    """
    low = tag.lower()
    return low in ("cloud", "local") or low.endswith("-cloud")


def check_repo_model_name(name: str) -> None:
    """A repo model is named `[namespace/]model`: the host comes from the server it is built
    on and the tag from the build, so neither may be part of its name. ValueError otherwise."""
    parsed = parse_name(name)
    if ".." in name:  # Ollama allows it; mfops refuses anything that reads like a path
        raise ValueError(f"invalid repo model name {name!r}: '..' is not allowed")
    if parsed.has_tag:
        raise ValueError(
            f"invalid repo model name {name!r}: no tag allowed (tags come from builds, e.g. "
            f"`mfops build --tag {parsed.tag}`)"
        )
    if name.count("/") > 1 or "://" in name:
        raise ValueError(
            f"invalid repo model name {name!r}: expected [namespace/]model without a host"
        )
