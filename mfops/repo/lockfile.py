"""`mfops.lock`: the resolved server digest of every external base, committed like a lockfile.

An external base (`FROM llama3.2:3b`) is a moving target: the registry can publish new weights
under the same tag. The lock pins what the repo was built and tested against; its entry goes
into every digest built on that base, so refreshing the lock (`mfops lock --update`) changes
those digests and `mfops build --changed` rebuilds exactly the models that depend on it.

Format (JSON, keys sorted so that diffs are one line per base):

    {
      "version": 1,
      "bases": {"llama3.2:3b": "sha256:<64 hex>"}
    }

Keys are Ollama's display form of the reference (tag always shown, default host and
namespace left out), so `FROM llama3.2` and `FROM llama3.2:latest` share one entry.

A base made on a server from an uploaded file (not pulled) also gets an entry under
`"contents"`: its content fingerprint (server/content.py). Ollama 0.24 writes the file's
path in the server's models directory into such a manifest, so the same weights made on a
server whose OLLAMA_MODELS differs are listed under another digest; a server whose digest
differs but whose read-back fingerprint is the locked one holds the locked base. Pulled
bases never get one (their manifest is the registry's), so their lock reads as before.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mfops.errors import ConfigError
from mfops.fileio.atomic import write_atomic
from mfops.fileio.jsonfile import line_of, loads_json

LOCK_VERSION = 1
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Lock:
    """External base reference (display form) -> the server's manifest digest, and, for a
    base made from a file, -> its content fingerprint (`contents`, see the docstring)."""

    bases: dict[str, str] = field(default_factory=dict)
    contents: dict[str, str] = field(default_factory=dict)

    def get(self, reference: str) -> str | None:
        return self.bases.get(reference)

    def dumps(self) -> str:
        data: dict[str, object] = {
            "version": LOCK_VERSION,
            "bases": dict(sorted(self.bases.items())),
        }
        if self.contents:
            data["contents"] = dict(sorted(self.contents.items()))
        return json.dumps(data, indent=2) + "\n"


def loads(text: str | None, path: str = "mfops.lock") -> Lock:
    """Parse a lock file; a malformed one is a ConfigError with its line, never guessed at."""
    if text is None or not text.strip():
        return Lock()
    data = loads_json(text, path)
    if not isinstance(data, dict) or set(data) - {"version", "bases", "contents"}:
        raise ConfigError(
            "expected an object with keys 'version', 'bases' and optionally 'contents'",
            path=path,
            line=1,
        )
    if data.get("version") != LOCK_VERSION:
        raise ConfigError(
            f"unsupported lock version {data.get('version')!r} (this mfops writes {LOCK_VERSION})",
            path=path,
            line=line_of(text, '"version"'),
        )
    bases = data.get("bases", {})
    if not isinstance(bases, dict):
        raise ConfigError("'bases' must be an object", path=path, line=line_of(text, '"bases"'))
    contents = data.get("contents", {})
    if not isinstance(contents, dict):
        raise ConfigError(
            "'contents' must be an object", path=path, line=line_of(text, '"contents"')
        )
    for section, entries in (("bases", bases), ("contents", contents)):
        for key, value in entries.items():
            if not isinstance(value, str) or not _DIGEST.match(value):
                raise ConfigError(
                    f"{section}.{key}: expected 'sha256:' and 64 lowercase hex digits, "
                    f"got {value!r}",
                    path=path,
                    line=line_of(text, json.dumps(key)),
                )
    stray = sorted(set(contents) - set(bases))
    if stray:
        raise ConfigError(
            f"contents.{stray[0]}: no such base under 'bases'",
            path=path,
            line=line_of(text, json.dumps(stray[0])),
        )
    return Lock(dict(bases), dict(contents))


def save(lock: Lock, path: Path) -> None:
    write_atomic(path, lock.dumps(), root=Path(path).parent)
