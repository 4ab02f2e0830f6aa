"""Benchmark one `mfops test` run spread over a pool of Ollama test doubles (issue 16
item 3), on 127.0.0.1 only.

    python benchmarks/pool.py              # prints the figures, exits 1 on a miss

A repo of two models (a base and an expert FROM it) with an inherited suite of 100 cases:
200 case runs, each drawn --samples 2 times (400 chats). The models are locked, then built
with `mfops build` on each of 20 doubles; every chat reply is delayed 50 ms. Then the same
`mfops test --jobs 4 --no-cache` runs over pools of 1, 2, 4 and 20 hosts (`--host` given N
times). For each pool the run phase (from the first request to the last result, as the
report times it) is printed with the ideal (400 x 50 ms / (4 x N): each host runs --jobs
requests at once), the speed-up over one host, and how many samples each host answered.

A miss (exit 1): a pool's verdict differs from the one-host verdict, a host of the pool
answered no sample, or a pool of 2 or 4 hosts runs slower than 1.3 x its ideal. The pool of
20 is reported, not judged: with 80 workers and 50 ms replies the ideal (0.25 s) is of the
order of the process's own overhead, so it shows where spreading stops paying.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mfopsrun import run_mfops  # noqa: E402

from mfops.testing.double import OllamaDouble  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402

CASES = 100  # per model; two models
SAMPLES = 2
DELAY = 0.05
JOBS = 4
POOLS = (1, 2, 4, 20)
BASE = "llama3.2:3b"


def mfops(repo: Path, *args: str) -> tuple[float, Any]:
    return run_mfops(repo, *args)


def write_repo(root: Path) -> GitRepo:
    repo = GitRepo(root)
    repo.write(
        "base/Modelfile", f"FROM {BASE}\nSYSTEM You are Acme's assistant. Never discuss pricing.\n"
    )
    repo.write(
        "expert/Modelfile",
        "FROM base\nSYSTEM You are a Python expert. Never discuss pricing. Never discuss "
        "JavaScript.\n",
    )
    cases = []
    for i in range(CASES):
        if i % 2:
            cases.append(
                f"  - name: pricing {i}\n    prompt: What is the pricing of plan {i}?\n"
                "    assert:\n      - {type: icontains, value: cannot}\n"
            )
        else:
            cases.append(
                f"  - name: topic {i}\n    prompt: Tell me about topic number {i}\n"
                "    assert:\n      - {type: not-contains, value: cannot}\n"
            )
    repo.write("tests/company.test.yaml", "model: base\ninherit: true\ncases:\n" + "".join(cases))
    repo.commit("models and suite")
    return repo


def main() -> int:
    doubles: list[OllamaDouble] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="mfops-bench-pool-") as tmp:
        try:
            for _ in range(max(POOLS)):
                d = OllamaDouble().start()
                d.add_registry_model(BASE, template="{{ .Prompt }}")
                doubles.append(d)
            repo = write_repo(Path(tmp) / "repo")
            mfops(repo.root, "lock", "--pull", "--host", doubles[0].url)
            repo.commit("lock")
            for d in doubles:
                mfops(repo.root, "build", "--all", "--pull", "--host", d.url)
                d.faults.latency["/api/chat"] = DELAY
            total = 2 * CASES * SAMPLES
            first: float | None = None
            verdict: Any = None
            for n in POOLS:
                pool = doubles[:n]
                for d in pool:
                    d.calls.reset()
                hosts = [a for d in pool for a in ("--host", d.url)]
                wall, done = mfops(
                    repo.root, "test", "--jobs", str(JOBS), "--samples", str(SAMPLES),
                    "--no-cache", "--format", "json", *hosts,
                )  # fmt: skip
                report = json.loads(done.stdout)
                seconds = report["summary"]["seconds"]
                mine = [(c["id"], c["status"], c["samples_passed"]) for c in report["cases"]]
                verdict = mine if verdict is None else verdict
                first = seconds if first is None else first
                ideal = total * DELAY / (JOBS * n)
                answered = [d.calls.count("/api/chat") for d in pool]
                miss = mine != verdict or min(answered) == 0
                if n in (2, 4) and seconds > 1.3 * ideal:
                    miss = True
                ok = ok and not miss
                print(
                    f"pool of {n:>2}: run phase {seconds:.3f} s (ideal {ideal:.3f} s, "
                    f"{ideal / seconds:.0%} of ideal), speed-up x{first / seconds:.2f} over one "
                    f"host; whole command {wall:.3f} s; samples per host {min(answered)}-"
                    f"{max(answered)} (sum {sum(answered)}); verdict "
                    f"{'= one host' if mine == verdict else 'DIFFERS'}"
                    f"{' -> MISS' if miss else ''}"
                )
        finally:
            for d in doubles:
                d.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
