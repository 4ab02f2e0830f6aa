"""Benchmark `mfops test` against the Ollama test double (127.0.0.1 only).

    python benchmarks/behave.py            # prints the figures, exits 1 on a miss

A repo of two models (a base and an expert FROM it) with an inherited suite of 100 cases:
200 case runs. Both are built with `mfops build`, then:

(a) Parallelism: every chat reply is delayed 50 ms by the double; `mfops test --jobs 8`
    must run its cases (the run phase the report times, from the first request to the last
    result) within 1.3 x (200 x 50 ms / 8) = 1.625 s. The wall clock of the whole command
    (process start, suite loading, server probe included) is printed too.
(b) Cache: the same command again must make zero chat, generate and embed calls and take at
    most 1 s of wall clock, the whole command included.
(c) Comparison: the built models are promoted to `v1`, then `mfops test --against v1
    --samples 5 --jobs 8` runs the 200 cases x 5 samples x 2 sides = 2000 chats (50 ms each)
    in one pool; its run phase must be within 1.3 x (2000 x 50 ms / 8) = 16.25 s.
(d) The same comparison again makes no model call (every sample of both sides is cached).

The double runs in this process; mfops runs as a subprocess through its console script, the
way a user or CI runs it. Everything lives in a temporary directory that is removed.
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
DELAY = 0.05
JOBS = 8


def mfops(
    repo: Path, double: OllamaDouble, *args: str, ok: tuple[int, ...] = (0,)
) -> tuple[float, Any]:
    return run_mfops(repo, *args, host=double.url, ok=ok, timeout=300)


def write_repo(root: Path) -> GitRepo:
    repo = GitRepo(root)
    repo.write(
        "base/Modelfile",
        "FROM llama3.2:3b\nSYSTEM You are Acme's assistant. Never discuss pricing.\n",
    )
    repo.write(
        "expert/Modelfile",
        "FROM base\nSYSTEM You are a Python expert. Never discuss "
        "pricing. Never discuss JavaScript.\n",
    )
    cases = []
    for i in range(CASES):
        if i % 2:
            cases.append(
                f"  - name: pricing {i}\n    prompt: What is the pricing of plan {i}?\n"
                "    assert:\n      - {type: icontains, value: cannot}\n"
                "      - {type: max-length, value: 200}\n"
            )
        else:
            cases.append(
                f"  - name: topic {i}\n    prompt: Tell me about topic number {i}\n"
                "    assert:\n      - {type: not-contains, value: cannot}\n"
                "      - {type: regex, value: '(?i)topic'}\n"
            )
    repo.write("tests/company.test.yaml", "model: base\ninherit: true\ncases:\n" + "".join(cases))
    repo.commit("models and suite")
    return repo


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mfops-bench-behave-") as tmp:
        double = OllamaDouble().start()
        try:
            double.add_registry_model("llama3.2:3b", template="{{ .Prompt }}")
            repo = write_repo(Path(tmp) / "repo")
            mfops(repo.root, double, "lock", "--pull")
            repo.commit("lock")
            mfops(repo.root, double, "build", "--all")
            double.calls.reset()
            double.faults.latency["/api/chat"] = DELAY

            wall, done = mfops(repo.root, double, "test", "--jobs", str(JOBS), "--format", "json")
            report = json.loads(done.stdout)
            summary = report["summary"]
            chats = double.calls.count("/api/chat")
            in_flight = double.calls.max_concurrency.get("/api/chat", 0)
            budget = 1.3 * (2 * CASES * DELAY / JOBS)
            ok_a = (
                summary["seconds"] <= budget
                and summary["passed"] == 2 * CASES
                and chats == 2 * CASES
            )
            print(
                f"(a) {2 * CASES} cases, {DELAY * 1000:.0f} ms per reply, --jobs {JOBS}: "
                f"run phase {summary['seconds']:.3f} s (budget {budget:.3f} s, ideal "
                f"{2 * CASES * DELAY / JOBS:.3f} s); whole command {wall:.3f} s; "
                f"{chats} chat calls, at most {in_flight} in flight; "
                f"{summary['passed']} passed -> {'ok' if ok_a else 'MISS'}"
            )

            double.calls.reset()
            wall, done = mfops(repo.root, double, "test", "--jobs", str(JOBS), "--format", "json")
            summary = json.loads(done.stdout)["summary"]
            calls = {r: double.calls.count(r) for r in ("/api/chat", "/api/generate", "/api/embed")}
            ok_b = wall <= 1.0 and not any(calls.values()) and summary["cached"] == 2 * CASES
            print(
                f"(b) cached re-run: whole command {wall:.3f} s (budget 1.000 s), run phase "
                f"{summary['seconds']:.3f} s; model calls {calls}; {summary['cached']} cases "
                f"cached -> {'ok' if ok_b else 'MISS'}"
            )
            ok_c, ok_d = compare_phase(repo, double)
        finally:
            double.stop()
    return 0 if ok_a and ok_b and ok_c and ok_d else 1


def compare_phase(repo: GitRepo, double: OllamaDouble) -> tuple[bool, bool]:
    """(c) and (d): candidate against release, 5 samples per case, both sides in one pool."""
    samples = 5
    double.faults.latency.pop("/api/chat", None)
    cand = "sha-" + repo.git("rev-parse", "HEAD").strip()[:12]
    mfops(repo.root, double, "promote", "--all", "--from", cand, "--to", "v1")
    double.faults.latency["/api/chat"] = DELAY
    double.calls.reset()
    args = ("test", "--against", "v1", "--samples", str(samples), "--jobs", str(JOBS))
    wall, done = mfops(repo.root, double, *args, "--format", "json")
    data = json.loads(done.stdout)
    seconds = data["candidate"]["summary"]["seconds"]
    chats = double.calls.count("/api/chat")
    calls = 2 * CASES * samples * 2
    ideal = calls * DELAY / JOBS
    budget = 1.3 * ideal
    ok_c = seconds <= budget and chats == calls and data["ok"] and data["summary"]["regressed"] == 0
    print(
        f"(c) --against v1: {2 * CASES} cases x {samples} samples x 2 sides, "
        f"{DELAY * 1000:.0f} ms per reply, --jobs {JOBS}: run phase {seconds:.3f} s (budget "
        f"{budget:.3f} s, ideal {ideal:.3f} s); whole command {wall:.3f} s; {chats} chat "
        f"calls -> {'ok' if ok_c else 'MISS'}"
    )
    double.calls.reset()
    wall, done = mfops(repo.root, double, *args, "--format", "json")
    calls_again = {r: double.calls.count(r) for r in ("/api/chat", "/api/generate", "/api/embed")}
    ok_d = not any(calls_again.values()) and json.loads(done.stdout)["ok"]
    print(
        f"(d) cached comparison: whole command {wall:.3f} s; model calls {calls_again} "
        f"-> {'ok' if ok_d else 'MISS'}"
    )
    return ok_c, ok_d


if __name__ == "__main__":
    raise SystemExit(main())
