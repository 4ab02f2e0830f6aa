"""Semantic versions as Go's golang.org/x/mod/semver reads them, and version tags.

Ollama validates REQUIRES with x/mod/semver (after adding a leading `v`), which allows the
shorthands `v1` and `v1.2` but no prerelease on them, and no leading zeros. Release tags of a
repo (`v1.2.0`) are ordered with the same rules (prerelease before release).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"(?:0|[1-9][0-9]*)"
_IDENT = r"[0-9A-Za-z-]+"
_GO_SEMVER = re.compile(
    rf"v(?P<major>{_NUM})(?:\.(?P<minor>{_NUM})(?:\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?)?)?\Z"
)
_TAG = re.compile(
    rf"v?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?\Z"
)


def _bad_prerelease(pre: str | None) -> bool:
    """Numeric prerelease identifiers may not have leading zeros."""
    return bool(pre) and any(
        p.isdigit() and len(p) > 1 and p[0] == "0" for p in (pre or "").split(".")
    )


def is_valid_go_semver(text: str) -> bool:
    """x/mod/semver.IsValid: `v` + MAJOR[.MINOR[.PATCH[-PRE][+BUILD]]]."""
    m = _GO_SEMVER.match(text)
    return m is not None and not _bad_prerelease(m.group("pre"))


def normalize_requires(value: str) -> str | None:
    """What Ollama stores for `REQUIRES value`, or None when it rejects it."""
    candidate = value if value.startswith("v") else "v" + value
    return candidate[1:] if is_valid_go_semver(candidate) else None


@dataclass(frozen=True, order=False)
class Version:
    """A release version parsed from a tag like `v1.2.3` or `1.2.3-rc.1`."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    tag: str = ""

    def key(self) -> tuple[object, ...]:
        """Sort key: releases after their prereleases; numeric identifiers numerically."""
        pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, not self.pre, pre_key)

    def bump(self, part: str) -> Version:
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + (0 if self.pre else 1))

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core + (f"-{'.'.join(self.pre)}" if self.pre else "")


#: `vX.Y`: a release tag too (build/tags.py, the default `--since`), read as X.Y.0, so that
#: `diff --suggest-version` after `v1.0` proposes `v2.0.0`, not "no earlier version tag".
_SHORT_TAG = re.compile(rf"v(?P<major>{_NUM})\.(?P<minor>{_NUM})\Z")


def parse_version_tag(tag: str) -> Version | None:
    """The version a tag names, or None for tags that are not versions."""
    short = _SHORT_TAG.match(tag)
    if short is not None:
        return Version(int(short.group("major")), int(short.group("minor")), 0, (), tag)
    m = _TAG.match(tag)
    if m is None or _bad_prerelease(m.group("pre")):
        return None
    pre = tuple(m.group("pre").split(".")) if m.group("pre") else ()
    return Version(int(m.group("major")), int(m.group("minor")), int(m.group("patch")), pre, tag)
