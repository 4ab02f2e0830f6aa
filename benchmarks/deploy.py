"""Benchmark `mfops deploy TAG --env ENV` against Ollama test doubles (127.0.0.1 only).

    python benchmarks/deploy.py              # both parts, prints the figures, exits 1 on a miss
    python benchmarks/deploy.py rollout      # only (a)
    python benchmarks/deploy.py sim          # only (b)

(a) rollout: a release of 100 models (each FROM one external base) is deployed to an
    environment of 10 doubles, every create delayed 50 ms by the double, for several
    `--max-parallel` M (one create at a time per host, `--jobs 1`). The ideal is the create
    time alone: ceil(hosts / M) waves of (models x 50 ms). The deploy's wall clock (the
    whole `mfops deploy` command, process start, reading the records and the release
    commit, probing every host, building, verifying and moving tags included) must stay
    within 1.3 x the ideal.
(b) sim: the same release to 20 doubles (issue 16: "measure with a simulation"), printed
    for a few M; no target, the figures go into docs/architecture.md.

Each line also prints the CPU seconds mfops and the doubles spent, and their sum over the
machine's cores: when that "CPU floor" is near the deploy's wall clock, the run is bound by
this machine's CPUs (every host of a real environment has its own), not by the rollout.

Each double of the environment runs in its own process (`Host` below), as each Ollama runs
on its own machine: in one process their handlers would compete for one GIL and the
benchmark would measure itself. mfops runs as a subprocess through its console script, the
way CI runs it. Everything lives in a temporary directory that is removed.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mfopsrun import run_mfops  # noqa: E402

from mfops.testing.double import OllamaDouble  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402

BASE = "llama3.2:3b"
TARGET = 1.3
CORES = os.cpu_count() or 1


#: CPU seconds (user + system) of the last mfops run.
LAST_CPU = [0.0]


def run(repo: Path, host: str, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, done = run_mfops(repo, *args, host=host, ok=None, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(
            f"mfops {' '.join(args)} failed ({done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return elapsed, done


#: The program of one host: a double with the base pulled and creates delayed; prints its
#: URL, serves until its stdin closes, then prints how many creates it answered.
HOST_PROGRAM = """
import json, sys, time
from mfops.testing.double import OllamaDouble
delay, base = float(sys.argv[1]), sys.argv[2]
d = OllamaDouble().start()
d.add_registry_model(base, template="{{ .System }} {{ .Prompt }}")
d.client().pull(base)
d.calls.reset()
d.faults.latency["/api/create"] = delay
print(d.url, time.process_time(), flush=True)
sys.stdin.read()
print(json.dumps({"creates": d.calls.count("/api/create"), "cpu": time.process_time(),
                  "most": d.calls.max_concurrency.get("/api/create", 0)}), flush=True)
d.stop()
"""


class Host:
    """One double in its own process (see HOST_PROGRAM)."""

    def __init__(self, delay: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOST_PROGRAM, str(delay), BASE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        url, _, cpu = self.proc.stdout.readline().strip().partition(" ")
        self.url, self.startup_cpu = url, float(cpu)

    def stop(self) -> dict[str, float]:
        out, _ = self.proc.communicate("", timeout=60)
        return json.loads(out.strip().splitlines()[-1])


def double_with_base() -> OllamaDouble:
    double = OllamaDouble().start()
    double.add_registry_model(BASE, template="{{ .System }} {{ .Prompt }}")
    double.client().pull(BASE)
    return double


def release(tmp: Path, models: int) -> tuple[GitRepo, OllamaDouble]:
    """A repo of `models` models FROM one base, locked, built and promoted to v1 on a CI
    double (no suites: --allow-untested)."""
    ci = double_with_base()
    repo = GitRepo(tmp / "repo")
    for i in range(models):
        repo.write(f"m{i:03d}/Modelfile", f"FROM {BASE}\nSYSTEM You are model {i}.\n")
    repo.commit("models")
    run(repo.root, ci.url, "lock")
    repo.commit("lock")
    run(repo.root, ci.url, "build", "--all", "--jobs", "8")
    tag = "sha-" + repo.git("rev-parse", "HEAD").strip()[:12]
    run(repo.root, ci.url, "promote", "--all", "--from", tag, "--to", "v1", "--allow-untested")
    return repo, ci


def deploy_once(
    repo: GitRepo, ci: OllamaDouble, hosts: int, delay: float, max_parallel: int, env: str
) -> tuple[float, int, float, float]:
    """Fresh doubles for `env`, one deploy; (seconds, creates, mfops CPU s, doubles' CPU s
    spent during the deploy)."""
    doubles = [Host(delay) for _ in range(hosts)]
    counts: list[dict[str, float]] = []
    try:
        text = "environments:\n  " + env + ":\n    hosts:\n"
        text += "".join(f"      - {d.url}\n" for d in doubles)
        (repo.root / "mfops.yaml").write_text(text)
        seconds, done = run(
            repo.root,
            ci.url,
            "deploy",
            "v1",
            "--env",
            env,
            "--max-parallel",
            str(max_parallel),
            "--jobs",
            "1",
            "--format",
            "json",
        )
        record = json.loads(done.stdout)
        assert record["outcome"] == "deployed", record
    finally:
        counts = [d.stop() for d in doubles]
    assert all(c["most"] <= 1 for c in counts), counts  # --jobs 1: one create per host
    served = sum(c["cpu"] for c in counts) - sum(d.startup_cpu for d in doubles)
    return seconds, int(sum(c["creates"] for c in counts)), LAST_CPU[0], served


def ideal(hosts: int, models: int, delay: float, max_parallel: int) -> float:
    return math.ceil(hosts / max_parallel) * models * delay


def part(name: str, hosts: int, models: int, delay: float, widths: list[int], target: bool) -> bool:
    ok = True
    with tempfile.TemporaryDirectory(prefix="mfops-bench-deploy-") as tmp:
        repo, ci = release(Path(tmp), models)
        try:
            print(f"({name}) {models} models to {hosts} doubles, {delay * 1000:.0f} ms per create")
            print(
                f"    {'M':>3}  {'ideal s':>8}  {'deploy s':>9}  {'ratio':>6}  {'creates':>7}  "
                f"{'mfops cpu s':>11}  {'doubles cpu s':>13}  cpu floor s ({CORES} cores)"
            )
            for m in widths:
                seconds, creates, cpu, served = deploy_once(repo, ci, hosts, delay, m, f"b{m}")
                best = ideal(hosts, models, delay, m)
                ratio = seconds / best
                miss = target and ratio > TARGET
                ok = ok and not miss
                flag = f"  MISS (> {TARGET})" if miss else ""
                print(
                    f"    {m:>3}  {best:>8.2f}  {seconds:>9.2f}  {ratio:>6.2f}  {creates:>7}  "
                    f"{cpu:>11.2f}  {served:>13.2f}  {(cpu + served) / CORES:.2f}{flag}"
                )
        finally:
            ci.stop()
    return ok


def main(argv: list[str]) -> int:
    parts = argv or ["rollout", "sim"]
    print(f"{CORES} CPU cores, load average {os.getloadavg()[0]:.1f} at the start")
    ok = True
    if "rollout" in parts:
        ok = part("a: rollout", 10, 100, 0.05, [1, 2, 5, 10], True) and ok
    if "sim" in parts:
        ok = part("b: sim", 20, 100, 0.05, [5, 10, 20], False) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
