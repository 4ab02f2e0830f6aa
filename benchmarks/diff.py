"""Benchmark: `mfops diff v1 v2 --format json` on the 10,000-model repo of the graph benchmark.

Target (issue "mfops diff"): median <= 2 s, wall clock of the installed console script in a
fresh process (interpreter start-up, both revisions loaded from git, digests, effective
configs of the changed models and the JSON included). genrepo.py edits 100 models between
the tags; their descendants change digest too, so several hundred models are reported.
Run: `python benchmarks/diff.py [--runs 5] [--models 10000] [--changed 100]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from genrepo import generate

TARGET_S = 2.0


def mfops_script() -> str:
    """The installed console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "mfops"
    found = str(beside) if beside.exists() else shutil.which("mfops")
    if found is None:
        sys.exit("benchmarks/diff.py: the mfops console script is not installed")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=100)
    args = parser.parse_args()
    command = [mfops_script(), "diff", "v1", "v2", "--format", "json"]
    with tempfile.TemporaryDirectory(prefix="mfops-bench-diff-") as tmp:
        root = Path(tmp) / "repo"
        start = time.perf_counter()
        generate(root, models=args.models, changed=args.changed)
        print(
            f"generated {args.models} models, {args.changed} edited between v1 and v2 "
            f"({time.perf_counter() - start:.1f} s)"
        )
        times = []
        out = ""
        for _ in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run(
                command, cwd=root, check=True, capture_output=True, text=True
            ).stdout
            times.append(time.perf_counter() - start)
        summary = json.loads(out)["summary"]
        median = statistics.median(times)
        verdict = "ok" if median <= TARGET_S else "MISSED"
        print(
            f"reported: {summary['changed']} changed, {summary['unchanged']} unchanged "
            f"({len(out) // 1024} KiB of JSON)"
        )
        print(
            f"mfops diff v1 v2 --format json: median {median:.3f} s over {args.runs} runs "
            f"(min {min(times):.3f} s, max {max(times):.3f} s), target <= {TARGET_S} s: "
            f"{verdict}"
        )


if __name__ == "__main__":
    main()
