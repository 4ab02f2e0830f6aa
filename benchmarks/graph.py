"""Benchmark: load + graph + digest of a 10,000-model repo, from the working tree and a tag.

Targets (issue "versioned inheritance graph"): median <= 1.5 s from the working tree,
<= 2.5 s from a git tag, peak memory <= 300 MB. Each run is a fresh Python process, timed
from just before the library call to just after (interpreter start-up excluded); memory is
the child's peak RSS. Run: `python benchmarks/graph.py [--runs 5] [--models 10000]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from genrepo import generate

CHILD = """
import json, resource, sys, time
from mfops.graph.revision import Revision
t0 = time.perf_counter()
rev = Revision.open(repo=__import__('pathlib').Path(sys.argv[1]), ref=sys.argv[2] or None)
n = len(rev.digests)
elapsed = time.perf_counter() - t0
print(json.dumps({"models": n, "seconds": elapsed,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(root: Path, ref: str, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(root), ref], capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.exit(f"benchmark child failed:\n{done.stderr}")
        results.append(json.loads(done.stdout))
    return {
        "models": results[0]["models"],
        "median_s": statistics.median(r["seconds"] for r in results),
        "min_s": min(r["seconds"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mfops-bench-graph-") as tmp:
        root = Path(tmp) / "repo"
        generate(root, models=args.models)
        for label, ref, target in (("working tree", "", 1.5), ("git tag v2", "v2", 2.5)):
            r = measure(root, ref, args.runs)
            verdict = "ok" if r["median_s"] <= target and r["peak_mb"] <= 300 else "MISSED"
            print(
                f"load+graph+digest, {label}: {r['models']} models, median {r['median_s']:.3f} s"
                f" (min {r['min_s']:.3f} s, target <= {target} s), peak {r['peak_mb']:.0f} MB"
                f" (target <= 300 MB): {verdict}"
            )


if __name__ == "__main__":
    main()
