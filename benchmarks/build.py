"""Benchmark `mfops build` against the Ollama test double (127.0.0.1 only).

    python benchmarks/build.py            # all parts, prints the figures, exits 1 on a miss
    python benchmarks/build.py b c        # only these parts

(a) No-op: a repo of 1,000 models (chains up to depth 5 under two external bases) is built
    once, then `mfops build --all` runs again: it must make zero create calls and take at
    most 2 s (wall clock of the whole command, process start included).
(c) `build --changed` with nothing changed on the 10,000-model repository of genrepo.py
    (locked, committed): it must cost about as much as `mfops ls` (at most 1.5 x its median,
    with a warm cache), and make no create call.
(b) Parallelism: 100 models in 20 chains of 5, every create delayed 200 ms by the double;
    `mfops build --all --jobs 20` must finish its build phase (the ready-queue, from the
    first create to the last model recorded) within 1.2 x (5 x 200 ms) = 1.2 s. The wall
    clock of the whole command is printed too.

The double runs in this process; mfops runs as a subprocess through its console script, the
way a user or CI runs it. Everything lives in a temporary directory that is removed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mfopsrun import run_mfops  # noqa: E402

from mfops.testing.double import OllamaDouble  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402

BASES = ("llama3.2:3b", "qwen2.5:7b")


def mfops(repo: Path, double: OllamaDouble, *args: str) -> tuple[float, Any]:
    return run_mfops(repo, *args, host=double.url, timeout=300)


def write_repo(root: Path, chains: list[int]) -> tuple[GitRepo, int]:
    """One chain per entry of `chains` (its depth), rooted on alternating external bases."""
    repo = GitRepo(root)
    count = 0
    for c, depth in enumerate(chains):
        parent = BASES[c % len(BASES)]
        for level in range(depth):
            name = f"c{c:03d}-l{level}"
            repo.write(
                f"{name}/Modelfile",
                (
                    f"# {name}\nFROM {parent}\nSYSTEM You are model {name}.\n"
                    f"PARAMETER temperature 0.{(c + level) % 9 + 1}\n"
                ),
            )
            parent = name
            count += 1
    repo.commit("models")
    return repo, count


def setup(tmp: Path, name: str, chains: list[int]) -> tuple[GitRepo, OllamaDouble, int]:
    double = OllamaDouble().start()
    for base in BASES:
        double.add_registry_model(base, template="{{ .Prompt }}", parameters={"top_k": 40})
    repo, count = write_repo(tmp / name, chains)
    mfops(repo.root, double, "lock", "--pull")
    repo.commit("lock")
    return repo, double, count


def part_a(tmp: Path) -> bool:
    chains = [5, 4, 3, 2, 1] * 66 + [5, 5]  # 992 + 10 = 1,000 models, longest chain 5
    repo, double, count = setup(tmp, "a", chains)
    try:
        seed, _ = mfops(repo.root, double, "build", "--all", "--jobs", "16", "--format", "json")
        creates = double.calls.count("/api/create")
        double.calls.reset()
        elapsed, done = mfops(repo.root, double, "build", "--all", "--format", "json")
        report = json.loads(done.stdout)
        no_op_creates = double.calls.count("/api/create")
        up = report["summary"]["up_to_date"]
    finally:
        double.stop()
    ok = no_op_creates == 0 and elapsed <= 2.0 and up == count
    print(
        f"(a) {count} models: first build {seed:.2f}s ({creates} creates); "
        f"no-op build --all {elapsed:.2f}s wall, {no_op_creates} creates, {up} up to date, "
        f"{report['seconds']:.3f}s in the build phase -> {'OK' if ok else 'MISS'} "
        f"(limit 2.00s, 0 creates)"
    )
    return ok


def part_b(tmp: Path) -> bool:
    chains = [5] * 20
    repo, double, count = setup(tmp, "b", chains)
    try:
        double.faults.latency["/api/create"] = 0.2
        elapsed, done = mfops(
            repo.root, double, "build", "--all", "--jobs", "20", "--format", "json"
        )
        report = json.loads(done.stdout)
        concurrency = double.calls.max_concurrency.get("/api/create", 0)
        creates = double.calls.count("/api/create")
    finally:
        double.stop()
    limit = 1.2 * 5 * 0.2
    phase = report["seconds"]
    ok = phase <= limit and creates == count and report["ok"]
    print(
        f"(b) {count} models, longest chain 5, 200 ms per create, --jobs 20: build phase "
        f"{phase:.3f}s (limit {limit:.2f}s), whole command {elapsed:.2f}s wall, {creates} "
        f"creates, up to {concurrency} at once -> {'OK' if ok else 'MISS'}"
    )
    return ok


def part_c(tmp: Path, runs: int = 5) -> bool:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from genrepo import BASES as GEN_BASES
    from genrepo import _git, generate

    root = tmp / "c"
    generate(root)
    double = OllamaDouble().start()
    try:
        for base in GEN_BASES:
            double.add_registry_model(base, template="{{ .Prompt }}")
        mfops(root, double, "lock", "--pull")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "lock")
        time.sleep(2.1)  # files younger than 2 s are never trusted by their stat data
        ls_times, build_times, creates = [], [], 0
        mfops(root, double, "build", "--changed", "--since", "HEAD", "--format", "json")
        for _ in range(runs):
            ls_times.append(mfops(root, double, "ls")[0])
            double.calls.reset()
            elapsed, _ = mfops(
                root, double, "build", "--changed", "--since", "HEAD", "--format", "json"
            )
            build_times.append(elapsed)
            creates += double.calls.count("/api/create")
    finally:
        double.stop()
    ls_median = sorted(ls_times)[runs // 2]
    build_median = sorted(build_times)[runs // 2]
    ratio = build_median / ls_median
    ok = ratio <= 1.5 and creates == 0
    print(
        f"(c) 10000 models, nothing changed: build --changed median {build_median:.2f}s, "
        f"ls median {ls_median:.2f}s (warm cache) = {ratio:.2f}x ls (limit 1.5x), "
        f"{creates} creates -> {'OK' if ok else 'MISS'}"
    )
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mfops-bench-build-") as tmp:
        parts = sys.argv[1:] or ["a", "b", "c"]
        chosen = {"a": part_a, "b": part_b, "c": part_c}
        results = [chosen[p](Path(tmp)) for p in parts]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
