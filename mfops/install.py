"""How this mfops was installed, as a pip requirement another machine can install.

`mfops init --ci github` writes the workflow that installs mfops on the CI runner; it must
install the mfops the user is running, not a version number that no index has. The answer
comes from the package's install metadata (PEP 610 `direct_url.json`):

- no `direct_url.json`: installed from a package index -> `mfops==VERSION`;
- a VCS install (`pip install git+URL@REV`) -> `mfops @ git+URL@COMMIT`, the exact commit
  pip checked out (a `file://` URL is written too, with a warning: CI cannot reach it);
- an archive at an http(s) URL -> `mfops @ URL`;
- a local directory, an editable install, a local archive, or metadata no installer wrote
  or none at all (running from a source tree) -> no requirement can be written: a clearly
  marked placeholder, which the workflow refuses with a message saying what to put there.

Reading the metadata is cheap, but it is only done by `init`, never at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mfops.errors import ConfigError
from mfops.fileio.jsonfile import loads_json

__all__ = ["PLACEHOLDER", "InstallLine", "install_line"]

#: What the workflow gets when mfops cannot name its own source. The workflow's install
#: step recognises it and fails with instructions instead of letting pip fail obscurely.
PLACEHOLDER = "REPLACE-ME-with-the-mfops-to-install"

Kind = Literal["release", "vcs", "url", "local"]


@dataclass(frozen=True)
class InstallLine:
    """`requirement` for pip (PLACEHOLDER when `kind` is local) and, when something needs
    saying, a `note` for the person running init."""

    requirement: str
    kind: Kind
    note: str | None = None


def _local(why: str) -> InstallLine:
    return InstallLine(
        PLACEHOLDER,
        "local",
        f"mfops runs from {why}, which CI cannot install: the workflow's MFOPS_INSTALL is a "
        "placeholder; set it to `mfops==X.Y.Z` or `mfops @ git+https://...@COMMIT`",
    )


def install_line(dist_name: str = "mfops") -> InstallLine:
    """The requirement that installs the running mfops elsewhere (module docstring)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return _local("a source tree that is not installed")
    raw = dist.read_text("direct_url.json")
    if raw is None and dist.read_text("INSTALLER") is None:
        # metadata no installer wrote: a source tree's own `mfops.egg-info`
        return _local("a source tree (its metadata was not written by an installer)")
    if raw is None:
        return InstallLine(f"{dist_name}=={dist.version}", "release")
    try:
        info = loads_json(raw, "direct_url.json")
        url = str(info["url"])
    except (ConfigError, KeyError, TypeError):
        return _local("an installation whose direct_url.json cannot be read")
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("commit_id"):
        line = f"{dist_name} @ {vcs.get('vcs', 'git')}+{url}@{vcs['commit_id']}"
        note = None
        if url.startswith("file:"):
            note = (
                f"mfops was installed from a git repository on this machine ({url}); a CI "
                "runner cannot reach it: point MFOPS_INSTALL at a URL it can"
            )
        return InstallLine(line, "vcs", note)
    if info.get("dir_info") is not None:
        editable = bool(info["dir_info"].get("editable"))
        return _local("an editable checkout" if editable else "a local directory")
    if url.startswith(("https:", "http:")):
        return InstallLine(f"{dist_name} @ {url}", "url")
    return _local("a local file")
