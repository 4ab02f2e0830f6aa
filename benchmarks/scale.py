"""Scale-out on loopback: 20 Ollama doubles standing for 20 hosts or pods (issue 16).

    python benchmarks/scale.py                  # every part, prints the figures
    python benchmarks/scale.py pods records     # only these parts
    python benchmarks/scale.py --models 200 --pods 20 --record-models 10000 --record-hosts 10

Parts (each prints one line; the figures are for architecture.md, "Scale-out"):

- export: a release of `--export-models` models (chains up to depth 5 under two external
  bases, built and promoted to v1 on one double) and `mfops export helm-values --tag v1`
  timed as a subprocess (the console script, as CI runs it), median of 3, with the size
  of the values file.
- pods: "every pod creates at start-up": the values of a `--models` release are given to
  `--pods` fresh doubles on 127.0.0.1, each its own process (`python -m mfops.testing
  --latency 0.05`: every call waits 50 ms), and each runs the chart's start-up (pull the
  bases, then create every model in list order, one at a time, as the chart's script does)
  while all pods run at once. Ideal: (pulls + models) x 50 ms (pods are independent);
  printed as the ratio of the slowest pod to that. `--in-process` runs the doubles in this
  process instead (50 ms on creates only), which measures the shared GIL too.
  Afterwards every model of one pod is compared with the release field by field, and all
  pods must list the same manifest digests.
- records: `--record-hosts` release records (a promotion of `--record-models` models with
  two tags each, one per host) appended to refs/mfops/history of a scratch repository;
  prints the append time per record, the git object size, and the time to read them all
  (history.load, which every release-aware command does), extrapolated linearly to 100
  hosts.
- deploy: `benchmarks/deploy.py sim`, a 100-model release deployed to 20 doubles.
- pool: `benchmarks/pool.py`, one test run over pools of 1, 2, 4 and 20 doubles.

The doubles run in this process (one HTTP server thread each); mfops runs as a subprocess.
Everything lives in a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ollama  # noqa: E402
import yaml  # noqa: E402
from mfopsrun import run_mfops  # noqa: E402

from mfops.repo import history  # noqa: E402
from mfops.repo.history import Destination, Entry, ModelEntry, TestCounts  # noqa: E402
from mfops.repo.repository import Repo  # noqa: E402
from mfops.server.client import Server, ServerOptions  # noqa: E402
from mfops.server.compare import compare_configs  # noqa: E402
from mfops.server.hosts import resolve_host  # noqa: E402
from mfops.testing.double import OllamaDouble  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.helmkit import create_from_text  # noqa: E402

BASES = ("llama3.2:3b", "qwen2.5:7b")
CREATE_LATENCY = 0.05


def mfops(repo: Path, double: OllamaDouble | None, *args: str) -> tuple[float, str]:
    host = double.url if double is not None else None
    elapsed, done = run_mfops(repo, *args, host=host, timeout=900)
    return elapsed, done.stdout


def add_bases(double: OllamaDouble) -> None:
    """The bases as `python -m mfops.testing --registry NAME` publishes them (defaults), so
    that in-process and standalone doubles hold the same base content."""
    for base in BASES:
        double.add_registry_model(base)


class StandaloneDouble:
    """A double in its own process (`python -m mfops.testing`), as a pod is its own server:
    20 doubles in this process would share one GIL with the clients and measure that."""

    def __init__(self, latency: float) -> None:
        args = [sys.executable, "-m", "mfops.testing", "--latency", str(latency)]
        for base in BASES:
            args += ["--registry", base]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def release(tmp: Path, models: int) -> tuple[GitRepo, OllamaDouble]:
    """`models` models in chains of 5 under BASES, locked, built and promoted to v1."""
    repo = GitRepo(tmp)
    for i in range(models):
        chain, level = divmod(i, 5)
        parent = BASES[chain % len(BASES)] if level == 0 else f"c{chain:04d}-l{level - 1}"
        name = f"c{chain:04d}-l{level}"
        repo.write(
            f"{name}/Modelfile",
            f"FROM {parent}\nSYSTEM You are {name}; it costs $5.\n"
            f"PARAMETER temperature 0.{i % 9 + 1}\nPARAMETER num_ctx {2048 * (level + 1)}\n",
        )
    repo.commit("models")
    double = OllamaDouble().start()
    add_bases(double)
    mfops(repo.root, double, "lock", "--pull")
    repo.commit("lock")
    mfops(repo.root, double, "build", "--all", "--jobs", "16")
    mfops(repo.root, double, "promote", "--all", "--to", "v1", "--allow-untested")
    return repo, double


def part_export(tmp: Path, args: argparse.Namespace) -> None:
    repo, double = release(tmp / "export", args.export_models)
    double.stop()  # export reads git only
    times = []
    out = ""
    for _ in range(3):
        elapsed, out = mfops(repo.root, None, "export", "helm-values", "--tag", "v1")
        times.append(elapsed)
    mfops(repo.root, None, "--version")  # warm the page cache
    started = time.perf_counter()
    for _ in range(3):
        mfops(repo.root, None, "--version")
    start_up = (time.perf_counter() - started) / 3
    print(
        f"export: {args.export_models} models: `mfops export helm-values --tag v1` median "
        f"{statistics.median(times):.2f}s wall ({statistics.median(times) / start_up:.1f}x "
        f"`mfops --version` {start_up:.3f}s), values {len(out) / 1024:.0f} KiB "
        f"({len(out) / args.export_models:.0f} bytes a model)"
    )


def pod_startup(
    pod: OllamaDouble | StandaloneDouble, values: dict[str, Any], out: dict[str, float]
) -> None:
    """What the chart's postStart script does, with the python client instead of the CLI
    (a process per create would measure process start-up, not the server)."""
    client = ollama.Client(host=pod.url)
    started = time.perf_counter()
    for base in values["ollama"]["models"]["pull"]:
        client.pull(base)
    pulled = time.perf_counter()
    for entry in values["ollama"]["models"]["create"]:
        text = entry["template"].replace("\\$", "$").replace("\\`", "`").replace("\\\\", "\\")
        create_from_text(client, entry["name"], text)
    out["pull"] = pulled - started
    out["total"] = time.perf_counter() - started


def part_pods(tmp: Path, args: argparse.Namespace) -> None:
    repo, source = release(tmp / "pods", args.models)
    _, text = mfops(repo.root, None, "export", "helm-values", "--tag", "v1")
    values = yaml.safe_load(text)
    pods: list[Any] = []
    if args.in_process:
        pods = [OllamaDouble().start() for _ in range(args.pods)]
        for pod in pods:
            add_bases(pod)
            pod.faults.latency["/api/create"] = CREATE_LATENCY
    else:  # every call waits 50 ms there: the pull calls too (counted in the ideal)
        pods = [StandaloneDouble(CREATE_LATENCY) for _ in range(args.pods)]
    try:
        results: list[dict[str, float]] = [{} for _ in pods]
        threads = [
            threading.Thread(target=pod_startup, args=(pod, values, res))
            for pod, res in zip(pods, results, strict=True)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        if any("total" not in r for r in results):
            raise SystemExit("a pod's start-up failed (see the traceback above)")
        pull = max(r["pull"] for r in results)
        pulls = len(values["ollama"]["models"]["pull"])
        ideal = (0 if args.in_process else pulls * CREATE_LATENCY) + args.models * CREATE_LATENCY
        slowest = max(r["total"] for r in results)
        released = Server(resolve_host(source.url), ServerOptions(timeout=30))
        first = Server(resolve_host(pods[0].url), ServerOptions(timeout=30))
        differ = 0
        for entry in values["ollama"]["models"]["create"]:
            a, b = released.show(entry["name"]), first.show(entry["name"])
            if a is None or b is None or compare_configs(a, b):
                differ += 1
        listings = {
            tuple(sorted((k, m.digest) for k, m in Server(resolve_host(p.url)).models().items()))
            for p in pods
        }
    finally:
        for pod in pods:
            pod.stop()
        source.stop()
    where = "in this process" if args.in_process else "each its own process"
    print(
        f"pods: {args.pods} doubles ({where}) x {args.models} models, "
        f"{CREATE_LATENCY * 1000:.0f} ms a create, pods in parallel, creates in list order: "
        f"slowest pod {slowest:.2f}s (pull {pull:.2f}s), all {wall:.2f}s wall; ideal "
        f"{ideal:.2f}s ({pulls if not args.in_process else 0} pulls + {args.models} creates x "
        f"{CREATE_LATENCY * 1000:.0f} ms) -> {slowest / ideal:.2f}x; {differ} models differ "
        f"from the release on pod 1; {len(listings)} distinct listings over {args.pods} pods"
    )


def part_records(tmp: Path, args: argparse.Namespace) -> None:
    root = tmp / "records"
    repo_git = GitRepo(root)
    repo_git.write("mfops.yaml", "models: {}\n")
    repo_git.commit("init")
    repo = Repo.find(explicit=root)
    # digests as random as real ones (a counter would compress far better than they do)
    hexes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(args.record_models)]
    appended = []
    for h in range(args.record_hosts):
        entry = Entry(
            id=history.new_id(),
            kind="promote",
            outcome="promoted",
            at="2026-12-07T12:00:00Z",
            host=f"http://10.0.{h // 250}.{h % 250}:11434",
            from_tag="sha-0123456789ab",
            to_tag="v1",
            aliases=("latest",),
            models=tuple(
                ModelEntry(
                    f"team{i % 8}-model-{i:05d}",
                    f"team{i % 8}-model-{i:05d}:sha-0123456789ab",
                    hexes[i],
                    "sha256:" + hexes[-1 - i],
                    "passed",
                    (Destination("v1", None, hexes[i]), Destination("latest", None, hexes[i])),
                )
                for i in range(args.record_models)
            ),
            tests=TestCounts(passed=args.record_models * 4),
            commit="0123456789abcdef0123456789abcdef01234567",
        )
        started = time.perf_counter()
        history.append(repo, entry)
        appended.append(time.perf_counter() - started)
    objects = subprocess.run(
        ["git", "-C", str(root), "count-objects", "-v"], capture_output=True, text=True, check=True
    ).stdout
    loose_kib = int(next(x for x in objects.splitlines() if x.startswith("size:")).split()[1])
    subprocess.run(["git", "-C", str(root), "gc", "-q"], check=True)
    packed = subprocess.run(
        ["git", "-C", str(root), "count-objects", "-v"], capture_output=True, text=True, check=True
    ).stdout
    pack_kib = int(next(x for x in packed.splitlines() if x.startswith("size-pack:")).split()[1])
    started = time.perf_counter()
    entries = history.load(repo)
    read = time.perf_counter() - started
    assert len(entries) == args.record_hosts
    scale = 100 / args.record_hosts
    print(
        f"records: {args.record_hosts} records of {args.record_models} models (2 tags each): "
        f"append {statistics.median(appended):.2f}s a record; {loose_kib / 1024:.1f} MiB "
        f"loose, {pack_kib / 1024:.1f} MiB packed; reading all {read:.2f}s -> at 100 hosts "
        f"about {loose_kib / 1024 * scale:.0f} MiB loose / {pack_kib / 1024 * scale:.0f} MiB "
        f"packed and {read * scale:.1f}s for every command that reads the history"
    )


def part_deploy(tmp: Path, args: argparse.Namespace) -> None:
    """`benchmarks/deploy.py sim`: a release of 100 models deployed with `mfops deploy`
    to an environment of 20 doubles (50 ms a create) at --max-parallel 5, 10 and 20, each
    line with its ratio to the ideal ceil(20 / K) x 100 creates x 50 ms."""
    _script("deploy.py", "sim")


def part_pool(tmp: Path, args: argparse.Namespace) -> None:
    """`benchmarks/pool.py`: one `mfops test` run over pools of 1, 2, 4 and 20 doubles
    (50 ms a reply), the speed-up over one host and that every verdict is the same."""
    _script("pool.py")


def _script(name: str, *argv: str) -> None:
    """Run a sibling benchmark in its own interpreter (each starts its own doubles)."""
    print(f"--- benchmarks/{name} {' '.join(argv)}".rstrip(), flush=True)
    subprocess.run([sys.executable, str(Path(__file__).with_name(name)), *argv], check=False)


PARTS = {
    "export": part_export,
    "pods": part_pods,
    "records": part_records,
    "deploy": part_deploy,
    "pool": part_pool,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "parts", nargs="*", default=[], help="parts to run (default: all): " + ", ".join(PARTS)
    )
    parser.add_argument("--models", type=int, default=100, help="models per pod (pods)")
    parser.add_argument("--pods", type=int, default=20, help="doubles (pods)")
    parser.add_argument(
        "--in-process", action="store_true", help="pods: doubles in this process (GIL-bound)"
    )
    parser.add_argument("--export-models", type=int, default=1000, help="models (export)")
    parser.add_argument("--record-models", type=int, default=10_000, help="models a record")
    parser.add_argument("--record-hosts", type=int, default=10, help="records (one a host)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; the parts are {', '.join(PARTS)}")
    with tempfile.TemporaryDirectory(prefix="mfops-scale-") as tmp:
        for part in args.parts or list(PARTS):
            PARTS[part](Path(tmp), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
