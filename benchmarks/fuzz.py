"""Fuzz the loaders of user-controlled text for as long as you like, and report case counts.

    python benchmarks/fuzz.py --examples 200000                # hypothesis, every target
    python benchmarks/fuzz.py --examples 50000 --target suite  # one target
    python benchmarks/fuzz.py --atheris 300                    # atheris, 300 s per target
    python benchmarks/fuzz.py --limits                         # the big-input table

The targets (tests/fuzz/targets.py) are the Modelfile parser (with parameters, formatter
round trip and lint), the YAML loader, mfops.yaml, suites, mfops.lock, the state and
baselines; the contract is that nothing escapes but the typed errors (ModelfileError,
ConfigError). Hypothesis draws structured inputs (tests/fuzz/strategies.py); atheris, when
it is installed (`pip install -e '.[fuzz]'`: Linux wheels exist), mutates
bytes with libFuzzer's coverage feedback over the instrumented mfops modules, one process
per target. Exits 1 on the first finding, printing the input that caused it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_hypothesis(name: str, examples: int) -> tuple[int, float]:
    from tests.fuzz.strategies import fuzz

    started = time.monotonic()
    count = fuzz(name, examples)
    return count, time.monotonic() - started


_ATHERIS_CHILD = r"""
import sys
sys.path.insert(0, {root!r})
import atheris
with atheris.instrument_imports(include=["mfops"]):
    # the targets import lazily: load every module they reach here, so it is instrumented
    import mfops.behave.baseline, mfops.behave.spec, mfops.repo.config, mfops.language.format
    import mfops.fileio.yamlfile, mfops.language.modelfile, mfops.language.params
    import mfops.lint.engine, mfops.repo.lockfile, mfops.store.builds
    from tests.fuzz.targets import TARGETS, check
target = TARGETS[{name!r}]

def one(data):
    check(target, data)

atheris.Setup([sys.argv[0], "-max_total_time={seconds}", "-rss_limit_mb=4096",
               "-max_len=65536", "-print_final_stats=1", *{corpus!r}], one)
atheris.Fuzz()
"""


def run_atheris(name: str, seconds: int) -> tuple[int, float]:
    """One atheris process for `name`; returns (executions, seconds) from libFuzzer's stats."""
    import tempfile

    corpus = Path(tempfile.mkdtemp(prefix=f"mfops-fuzz-{name}-"))
    for i, seed in enumerate(_seeds(name)):
        (corpus / f"seed{i}").write_bytes(seed)
    code = _ATHERIS_CHILD.format(root=str(ROOT), name=name, seconds=seconds, corpus=[str(corpus)])
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=seconds * 3 + 120
    )
    elapsed = time.monotonic() - started
    runs = 0
    for line in done.stderr.splitlines():
        if line.startswith("stat::number_of_executed_units:"):
            runs = int(line.split(":")[-1].strip())
        elif "DONE" in line and "cov:" in line:  # edges (cov), features (ft), corpus size
            print(f"  {name}: {line.split('DONE', 1)[1].strip()}", file=sys.stderr)
    if done.returncode != 0:
        print(done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"atheris found a problem in {name} (exit {done.returncode})")
    return runs, elapsed


def _seeds(name: str) -> list[bytes]:
    from tests.fuzz.test_fuzz import SEEDS

    seeds = list(SEEDS.get(name, []))
    if name == "modelfile":
        seeds += [p.read_bytes() for p in sorted((ROOT / "tests" / "data").rglob("*.Modelfile"))]
    if name in ("suite", "yaml"):
        seeds += [p.read_bytes() for p in sorted((ROOT / "examples").rglob("*.test.yaml"))]
    if name in ("config", "yaml"):
        seeds += [p.read_bytes() for p in sorted((ROOT / "examples").rglob("mfops.yaml"))]
    return seeds


def main() -> int:
    from tests.fuzz.targets import TARGETS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=2000, help="hypothesis examples per target")
    ap.add_argument(
        "--target",
        action="append",
        choices=sorted(TARGETS),
        help="only this target (repeatable; default: all)",
    )
    ap.add_argument(
        "--atheris", type=int, metavar="SECONDS", help="run atheris instead, this long per target"
    )
    ap.add_argument("--limits", action="store_true", help="print the big-input table instead")
    args = ap.parse_args()
    if args.limits:
        from tests.fuzz.limits import main as limits

        return limits([])
    names = args.target or sorted(TARGETS)
    engine = "atheris" if args.atheris else "hypothesis"
    print(f"{'target':10} {'engine':10} {'cases':>9} {'seconds':>8} {'cases/s':>8}")
    total_cases, total_time = 0, 0.0
    for name in names:
        if args.atheris:
            cases, seconds = run_atheris(name, args.atheris)
        else:
            cases, seconds = run_hypothesis(name, args.examples)
        total_cases += cases
        total_time += seconds
        print(f"{name:10} {engine:10} {cases:9d} {seconds:8.1f} {cases / seconds:8.0f}", flush=True)
    print(f"{'total':10} {engine:10} {total_cases:9d} {total_time:8.1f}  no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
