""" "Did you mean …?": the one way mfops answers a mistyped word with the words that exist.

Model names already get this from the graph; tags, commands and models on a server share
this module so every suggestion reads the same. Tags get one extra rule besides difflib's
similarity: a bare commit (`75fe17e`) or a shortened/lengthened candidate (`sha-75fe17`)
is matched by hex prefix against the candidate tags that exist, because that is how people
mistype them (they copy a short SHA from `git log`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from mfops.language.names import is_content_tag

__all__ = [
    "close_matches",
    "close_tags",
    "did_you_mean",
    "existing_tags_hint",
    "missing_tag_hint",
    "tags_of",
]

_HEX = re.compile(r"^(?:sha-)?([0-9a-f]{4,40})$", re.IGNORECASE)
#: At most this many tags are listed in "tags on the server: …".
_LIST_AT_MOST = 8


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices most like `word`, best first (difflib, case-insensitive)."""
    by_fold: dict[str, str] = {}
    for c in choices:
        by_fold.setdefault(c.casefold(), c)
    found = difflib.get_close_matches(word.casefold(), list(by_fold), n=n, cutoff=0.6)
    return [by_fold[f] for f in found]


def close_tags(tag: str, tags: Iterable[str], n: int = 3) -> list[str]:
    """Tags that `tag` was probably meant to be: hex-prefix matches of candidates first
    (`75fe17e` or `sha-75fe17` -> `sha-75fe17e…`), then similar spellings."""
    tags = list(dict.fromkeys(tags))
    out: list[str] = []
    m = _HEX.match(tag)
    if m:
        want = m.group(1).lower()
        for t in tags:
            tm = _HEX.match(t)
            if tm and t != tag:
                have = tm.group(1).lower()
                if have.startswith(want) or want.startswith(have):
                    out.append(t)
    for t in close_matches(tag, tags, n=n):
        if t not in out and t != tag:
            out.append(t)
    return out[:n]


def did_you_mean(found: list[str]) -> str | None:
    """`did you mean a, b?` or None when nothing is close."""
    return f"did you mean {' or '.join(found)}?" if found else None


def existing_tags_hint(name: str, tag: str, tags: Iterable[str]) -> str:
    """A hint for `name:tag` that does not exist: the close tags, else the tags there are."""
    tags = sorted(set(tags))
    close = close_tags(tag, tags)
    if close:
        return did_you_mean([f"{name}:{t}" for t in close]) or ""
    if not tags:
        return f"the server has no tag of {name}"
    shown = ", ".join(tags[:_LIST_AT_MOST])
    more = f" and {len(tags) - _LIST_AT_MOST} more" if len(tags) > _LIST_AT_MOST else ""
    return f"tags of {name} on the server: {shown}{more}"


_RELEASE_SHAPED = re.compile(r"^v?\d+(\.\d+)*([-+].*)?$|^(latest|prod|stable|staging)$", re.I)


def tags_of(name: str, names: Iterable[str]) -> list[str]:
    """The tags that the server `names` (`model:tag` spellings) hold for model `name`;
    content tags (`mf-<12 hex>`, mfops' own) are left out: nobody means one."""
    want = name.casefold()
    out = []
    for full in names:
        model, sep, tag = full.rpartition(":")
        if sep and "/" not in tag and model.casefold() == want and not is_content_tag(tag):
            out.append(tag)
    return sorted(set(out))


def missing_tag_hint(name: str, tag: str, names: Iterable[str]) -> str:
    """What to say when `name:tag` is not on the server, given the names it has:
    a close tag ("did you mean expert:sha-75fe17e?"), else for a release-shaped tag the
    tags that exist (building a release tag is never the answer), else "build it first"."""
    tags = tags_of(name, names)
    close = close_tags(tag, tags)
    if close:
        return did_you_mean([f"{name}:{t}" for t in close]) or ""
    if _RELEASE_SHAPED.match(tag):
        return existing_tags_hint(name, tag, tags)
    return f"build it first: mfops build {name} --tag {tag}"
