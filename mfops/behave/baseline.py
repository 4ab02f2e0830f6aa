"""Baselines: the recorded output of a case on the last promoted version, kept in the repo.

A `baseline` assertion passes when the new output is similar (embedding cosine) to the
recorded one, which catches a model drifting away from what was approved without pinning
exact wording. Baselines are committed files so that a change to one is reviewed in a pull
request like any other change in behaviour:

    <suite dir>/baselines/<suite name>/<model>/<case slug>.json

where the suite name is the file name without `.test.yaml` and the slug is the case name in
lower case with runs of other characters turned into `-`. The file (version 1):

    {
      "version": 1,
      "suite": "tests/house.test.yaml", "case": "greets politely", "model": "python-bot",
      "target": "python-bot:v1.2.0",
      "output": "...",                       # sample 0 of the run that recorded it
      "server_version": "0.33.0",            # flagged when a later run uses another server
      "model_manifest": "<64 hex>",          # /api/tags digest of the target then
      "model_digest": "sha256:<64 hex>",     # mfops content digest, when known
      "options": {"temperature": 0, "seed": 42},
      "recorded_at": "2026-01-31T12:00:00Z"
    }

They are written (atomically) only by `mfops test --update-baseline`, and read from the
snapshot under test, so a run at a git ref compares with the baselines of that ref.
"""

from __future__ import annotations

import errno
import json
import os
import posixpath
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfops.errors import ConfigError
from mfops.fileio.atomic import inside, write_atomic
from mfops.fileio.jsonfile import loads_json

if TYPE_CHECKING:
    from mfops.behave.results import TestReport
    from mfops.behave.selection import CaseRun
    from mfops.repo.repository import Snapshot

BASELINE_VERSION = 1
BASELINE_DIR = "baselines"


@dataclass(frozen=True)
class Baseline:
    output: str
    server_version: str = ""
    model_manifest: str = ""
    model_digest: str = ""
    target: str = ""
    recorded_at: str = ""
    sha256: str = ""  # of the file's bytes: part of the result cache key


def baseline_path(run: CaseRun) -> str:
    """The repo-relative path of a case run's baseline file."""
    model = run.model.replace("/", "--")
    return posixpath.join(
        run.suite.dir, BASELINE_DIR, run.suite.name, model, f"{run.case.slug}.json"
    )


def parse_baseline(raw: bytes, where: str) -> Baseline:
    import hashlib

    data = loads_json(
        raw, where, what="baseline", hint="re-record it with `mfops test --update-baseline`"
    )
    if not isinstance(data, dict) or not isinstance(data.get("output"), str):
        raise ConfigError("baseline must be a JSON object with a string `output`", path=where)
    if data.get("version") != BASELINE_VERSION:
        raise ConfigError(f"unsupported baseline version {data.get('version')!r}", path=where)

    def text(key: str) -> str:
        value = data.get(key, "")
        return value if isinstance(value, str) else ""

    return Baseline(
        data["output"],
        text("server_version"),
        text("model_manifest"),
        text("model_digest"),
        text("target"),
        text("recorded_at"),
        hashlib.sha256(raw).hexdigest(),
    )


class BaselineStore:
    """Reads baselines from a snapshot, once each (thread-safe)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._cache: dict[str, Baseline | None] = {}
        self._lock = threading.Lock()

    def get(self, run: CaseRun) -> Baseline | None:
        path = baseline_path(run)
        with self._lock:
            if path in self._cache:
                return self._cache[path]
        raw = self.snapshot.read_bytes(path)
        found = None if raw is None else parse_baseline(raw, self.snapshot.display(path))
        with self._lock:
            self._cache[path] = found
        return found


def baseline_json(
    run: CaseRun,
    output: str,
    *,
    target: str,
    server_version: str,
    manifest: str,
    digest: str,
    recorded_at: str,
) -> dict[str, Any]:
    return {
        "version": BASELINE_VERSION,
        "suite": run.suite.path,
        "case": run.case.name,
        "model": run.model,
        "target": target,
        "output": output,
        "server_version": server_version,
        "model_manifest": manifest,
        "model_digest": digest,
        "options": run.case.options,
        "recorded_at": recorded_at,
    }


def write_baselines(report: TestReport, root: Path) -> list[str]:
    """Record sample 0's output of every case with a `baseline` assertion that produced
    one, under the repo root `root`; returns the paths written (repo-relative)."""
    written = []
    for result in report.results:
        run = result.run
        if not any(c.type == "baseline" for c in run.case.assertions):
            continue
        first = next((s for s in result.samples if s.index == 0 and s.error is None), None)
        if first is None:
            continue
        path = baseline_path(run)
        data = baseline_json(
            run,
            first.output,
            target=result.target,
            server_version=report.env.server_version,
            manifest=result.manifest or "",
            digest=result.model_digest or "",
            recorded_at=report.env.started_at,
        )
        target = root / path
        if not inside(Path(os.path.realpath(target.parent)), root):  # before mkdir creates any
            raise OSError(
                errno.EXDEV, "a symlink leads outside the repository; not writing", str(target)
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps(data, indent=2, ensure_ascii=False) + "\n", root=root)
        written.append(path)
    return written
