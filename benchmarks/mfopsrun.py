"""Running the installed `mfops` from a benchmark: one place for how it is started.

Each benchmark times `mfops` as a user runs it, a subprocess of the venv's console script,
in the benchmark's repository and against its double (or none, with OLLAMA_HOST unset so
a stray setting cannot send a benchmark to a real server). A run that exits outside `ok`
stops the benchmark with what mfops printed: a figure from a failed run means nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

MFOPS = str(Path(sys.executable).parent / "mfops")


def run_mfops(
    repo: Path,
    *args: str,
    host: str | None = None,
    ok: tuple[int, ...] | None = (0,),
    timeout: float = 600,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """`mfops -C repo ARGS` against `host`; (wall seconds, the finished process). With
    `ok=None` any exit code is returned to the caller."""
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"} | {"NO_COLOR": "1"}
    if host is not None:
        env["OLLAMA_HOST"] = host
    started = time.perf_counter()
    done = subprocess.run(
        [MFOPS, "-C", str(repo), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    if ok is not None and done.returncode not in ok:
        raise SystemExit(
            f"mfops {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return elapsed, done
