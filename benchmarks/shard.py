"""Benchmark a sharded run against the unsharded one on Ollama test doubles (127.0.0.1).

    python benchmarks/shard.py            # prints the figures, exits 1 on a miss

One model (a single root, so only the (model, case, sample) unit can split the work) with a
suite of 20 cases x 5 samples at temperature 0.8, whose SYSTEM obeys its rule 70% of the
time: 100 chats, some samples passing and some not. Each double answers one chat at a time
with 200 ms per reply (`--jobs 1`, as one Ollama does by default; a real reply takes longer).

(a) Unsharded: `mfops test --no-cache --format json` on one double.
(b) Sharded: N = 4 doubles, each its own "runner" with the model built on it;
    `mfops test --shard K/4 --shard-report` for K = 1..4 run in parallel (subprocesses),
    then `mfops report merge --format json`. The merged verdict must equal the unsharded
    one (ok, and per case: status, passes, samples, statistics, every sample's output and
    grades); that is the pass/fail of this script. The shards' wall time (processes started
    together, each in its own checkout as on its own runner) is printed with the speed-up
    and the ideal (unsharded / N): the doubles share this process and the machine's CPUs,
    which the real runners of a CI matrix do not, so it is a figure, not a target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mfopsrun import MFOPS, run_mfops  # noqa: E402

from mfops.testing.double import OllamaDouble  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402

CASES, SAMPLES, SHARDS, DELAY = 20, 5, 4, 0.2


def env_for(double: OllamaDouble) -> dict[str, str]:
    return {**os.environ, "OLLAMA_HOST": double.url, "NO_COLOR": "1"}


def mfops(repo: Path, double: OllamaDouble, *args: str) -> subprocess.CompletedProcess[str]:
    return run_mfops(repo, *args, host=double.url, ok=None)[1]


def write_repo(root: Path) -> GitRepo:
    repo = GitRepo(root)
    repo.write(
        "bot/Modelfile",
        "FROM llama3.2:3b\nSYSTEM You are a Python expert. Never discuss JavaScript. "
        "Follow the rules 70% of the time.\n",
    )
    cases = "".join(
        f"  - name: javascript {i}\n    prompt: Explain JavaScript topic {i}\n"
        "    assert:\n      - {type: icontains, value: cannot}\n"
        for i in range(CASES)
    )
    repo.write(
        "bot/bot.test.yaml",
        f"model: bot\noptions:\n  temperature: 0.8\nsamples: {SAMPLES}\npass_rate: 0.6\n"
        f"cases:\n{cases}",
    )
    repo.commit("model and suite")
    return repo


def strip(doc: dict[str, Any]) -> dict[str, Any]:
    """What may differ between the runs: hosts, times, call counts, cache marks."""
    doc = json.loads(json.dumps(doc))
    doc.pop("merged", None)
    doc["environment"].pop("host")
    doc["environment"].pop("started_at")
    doc["summary"] = {k: doc["summary"][k] for k in ("cases", "passed", "failed", "error")}
    for case in doc["cases"]:
        case.pop("seconds")
        for s in case["samples"]:
            s.pop("latency_ms")
    return doc


def main() -> int:
    doubles = [OllamaDouble().start() for _ in range(SHARDS)]
    try:
        with tempfile.TemporaryDirectory(prefix="mfops-bench-shard-") as tmp:
            for double in doubles:
                double.add_registry_model("llama3.2:3b", template="{{ .System }} {{ .Prompt }}")
            repo = write_repo(Path(tmp) / "repo")
            assert mfops(repo.root, doubles[0], "lock", "--pull").returncode == 0
            repo.commit("lock")
            for double in doubles:
                double.client().pull("llama3.2:3b")
                done = mfops(repo.root, double, "build", "--all")
                assert done.returncode == 0, done.stdout + done.stderr
                double.faults.latency["/api/chat"] = DELAY

            started = time.perf_counter()
            whole = mfops(
                repo.root, doubles[0], "test", "--no-cache", "--jobs", "1", "--format", "json"
            )
            unsharded = time.perf_counter() - started
            if whole.returncode not in (0, 1):
                raise SystemExit(whole.stdout + whole.stderr)

            paths = [Path(tmp) / f"shard-{k}.json" for k in range(1, SHARDS + 1)]
            # each shard in its own checkout, as on its own runner (a checkout's writer lock
            # would otherwise queue them)
            clones = []
            for k in range(1, SHARDS + 1):
                clone = Path(tmp) / f"runner-{k}"
                subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
                clones.append(clone)
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [
                        MFOPS,
                        "-C",
                        str(clones[k - 1]),
                        "test",
                        "--no-cache",
                        "--jobs",
                        "1",
                        "--shard",
                        f"{k}/{SHARDS}",
                        "--shard-report",
                        str(paths[k - 1]),
                    ],
                    env=env_for(doubles[k - 1]),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for k in range(1, SHARDS + 1)
            ]
            for proc in procs:
                _, err = proc.communicate(timeout=600)
                if proc.returncode not in (0, 1):
                    raise SystemExit(err)
            sharded = time.perf_counter() - started
            merged = mfops(
                repo.root, doubles[0], "report", "merge", *map(str, paths), "--format", "json"
            )
            if merged.returncode not in (0, 1):
                raise SystemExit(merged.stdout + merged.stderr)
            startup = 0.0
            for _ in range(3):
                began = time.perf_counter()
                mfops(repo.root, doubles[0], "--version")
                startup = max(startup, time.perf_counter() - began)

            got, want = json.loads(merged.stdout), json.loads(whole.stdout)
            equal = strip(got) == strip(want) and merged.returncode == whole.returncode
            failed = sum(c["status"] == "failed" for c in want["cases"])
            chats = sum(d.calls.count("/api/chat") for d in doubles)
            print(
                f"unsharded: {CASES} cases x {SAMPLES} samples, {DELAY * 1000:.0f} ms per "
                f"reply, one double, --jobs 1: {unsharded:.3f} s; verdict "
                f"{'pass' if want['ok'] else 'fail'} ({failed} of {CASES} cases failed)"
            )
            print(
                f"sharded: {SHARDS} shards on {SHARDS} doubles in parallel: {sharded:.3f} s "
                f"(ideal {unsharded / SHARDS:.3f} s = unsharded / {SHARDS}; speed-up "
                f"{unsharded / sharded:.2f}x; mfops start-up {startup:.3f} s; "
                f"{os.cpu_count()} CPUs); {chats} chats in all"
            )
            print(
                f"merged verdict equals the unsharded one (exit {merged.returncode} vs "
                f"{whole.returncode}, every case and sample) -> {'ok' if equal else 'MISS'}"
            )
            return 0 if equal else 1
    finally:
        for double in doubles:
            double.stop()


if __name__ == "__main__":
    raise SystemExit(main())
