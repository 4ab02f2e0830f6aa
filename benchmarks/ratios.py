"""Benchmark: what a read-only command costs on 10,000 models, as a ratio to start-up.

Each figure is the wall clock of the installed console script in a fresh process, divided by
the median of `mfops --version` measured in the same run (interleaved, so a busy machine
slows both alike). Targets (issue 17, "cost grows with the change"):

    mfops ls                          (working tree)        cold <= 8x   warm <= 4x
    mfops digest --ref v2             (graph+digest at tag) cold <= 8x   warm <= 4x
    mfops diff v1 v2 --format json    (100 models edited)   cold <= 10x  warm <= 4x
    peak memory of any of them <= 150 MB; `mfops --version` itself <= 100 ms

*cold*: `.mfops/cache/` removed before the run; *warm*: the cache a previous run left.
CPU time (user + system) is printed beside each wall-clock figure, with its own ratio to
`--version`'s CPU time: on a machine busy with other work it is the steadier measure.
Run: `python benchmarks/ratios.py [--runs 7] [--models 10000] [--repo DIR]` (with --repo an
existing generated repo is reused). Exits 1 when a target is missed.

The mfops package is byte-compiled first, as pip does when it installs a wheel: in an
editable install under PYTHONDONTWRITEBYTECODE=1 every run would otherwise compile each
module it imports from source (~40 ms for `ls`), which no installed copy does.
`--no-compile` measures without it.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from genrepo import generate

VERSION_MAX_S = 0.100
PEAK_MAX_MB = 150
#: label -> (arguments, cold target, warm target)
COMMANDS: dict[str, tuple[list[str], float, float]] = {
    "ls": (["ls"], 8.0, 4.0),
    "graph+digest @v2": (["digest", "--ref", "v2"], 8.0, 4.0),
    "diff v1 v2": (["diff", "v1", "v2", "--format", "json"], 10.0, 4.0),
}


def mfops_script() -> str:
    beside = Path(sys.executable).parent / "mfops"
    found = str(beside) if beside.exists() else shutil.which("mfops")
    if found is None:
        sys.exit("benchmarks/ratios.py: the mfops console script is not installed")
    return found


def run(root: Path, args: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, CPU seconds) of one `mfops ARGS` in `root`."""
    env = {**os.environ, "NO_COLOR": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [mfops_script(), *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode != 0:
        sys.exit(f"mfops {' '.join(args)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def drop_cache(root: Path) -> None:
    shutil.rmtree(root / ".mfops" / "cache", ignore_errors=True)


def measure(root: Path, runs: int) -> bool:
    version: list[float] = []
    version_cpu: list[float] = []
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    peak = 0.0

    def run_version() -> None:
        wall, _, used = run(root, ["--version"])
        version.append(wall)
        version_cpu.append(used)

    for _ in range(runs):
        run_version()
        for label, (args, _, _) in COMMANDS.items():
            drop_cache(root)
            for kind in ("cold", "warm"):
                wall, mb, used = run(root, args)
                times.setdefault((label, kind), []).append(wall)
                cpu.setdefault((label, kind), []).append(used)
                peak = max(peak, mb)
        run_version()
    base = statistics.median(version)
    base_cpu = statistics.median(version_cpu)
    ok = base <= VERSION_MAX_S
    print(
        f"mfops --version: median {base * 1000:.0f} ms over {len(version)} runs "
        f"(target <= {VERSION_MAX_S * 1000:.0f} ms): {'ok' if ok else 'MISSED'}; "
        f"CPU {base_cpu * 1000:.0f} ms"
    )
    for label, (args, cold_target, warm_target) in COMMANDS.items():
        for kind, target in (("cold", cold_target), ("warm", warm_target)):
            median = statistics.median(times[(label, kind)])
            ratio = median / base
            hit = ratio <= target
            ok = ok and hit
            used = statistics.median(cpu[(label, kind)])
            print(
                f"mfops {' '.join(args):<28} {kind}: median {median:.3f} s = {ratio:4.1f}x "
                f"--version (target <= {target:g}x): {'ok' if hit else 'MISSED'}; "
                f"CPU {used:.3f} s = {used / base_cpu:4.1f}x"
            )
    hit = peak <= PEAK_MAX_MB
    ok = ok and hit
    print(f"peak memory {peak:.0f} MB (target <= {PEAK_MAX_MB} MB): {'ok' if hit else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--repo", type=Path, help="reuse a repo made by genrepo.py")
    parser.add_argument("--no-compile", action="store_true", help="do not byte-compile mfops")
    args = parser.parse_args()
    if not args.no_compile:
        package = Path(__file__).resolve().parent.parent / "mfops"
        compileall.compile_dir(str(package), quiet=1)
        print(f"byte-compiled {package} (as pip does on install)")
    if args.repo is not None:
        return 0 if measure(args.repo, args.runs) else 1
    with tempfile.TemporaryDirectory(prefix="mfops-bench-ratios-") as tmp:
        root = Path(tmp) / "repo"
        generate(root, models=args.models)
        time.sleep(2.1)  # files younger than 2 s are never trusted by their stat data
        return 0 if measure(root, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
