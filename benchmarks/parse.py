"""Benchmark the Modelfile parser and the CLI's start-up time.

    /work/venv/bin/python benchmarks/parse.py          # or: python benchmarks/parse.py --quick

Three figures, each against its target:

* throughput of `mfops.language.modelfile.parse` over a generated 10 MB corpus of realistic
  Modelfiles (header comments, PARAMETERs, multi-line TEMPLATE/SYSTEM/LICENSE blocks,
  MESSAGE history), bytes in, command list out: target >= 20 MB/s;
* the time to parse one Modelfile whose SYSTEM value is 4 MB, once as a multi-line
  `\"\"\"` block and once as a single line: target <= 0.5 s each (the parser must be
  linear; a rune-by-rune parser that trims its buffer at every blank is quadratic);
* cold start of the installed `mfops --version` in a fresh process, median of several
  runs: target <= 100 ms (it must not import the parser, click plugins or anything heavy).

No network, no files outside a temporary directory; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mfops.language.modelfile import parse

TARGET_MB_S = 20.0
TARGET_BIG_VALUE_S = 0.5
TARGET_STARTUP_MS = 100.0
MB = 1_000_000

_WORDS = (
    "the",
    "assistant",
    "answers",
    "questions",
    "about",
    "our",
    "product",
    "catalogue",
    "politely",
    "and",
    "briefly",
    "never",
    "invent",
    "prices",
    "if",
    "unsure",
    "say",
    "so",
    "cite",
    "document",
    "section",
    "when",
    "possible",
    "customers",
    "may",
    "write",
    "in",
    "English",
    "German",
    "or",
    "French",
    "reply",
    "their",
    "language",
)

_TEMPLATE = '''TEMPLATE """{{- if .System }}<|start_header_id|>system<|end_header_id|>

{{ .System }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}{{ if $last }}<|eot_id|>{{ end }}
{{- end }}<|start_header_id|>assistant<|end_header_id|>

"""'''


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def realistic_modelfile(rng: random.Random, index: int) -> str:
    """One Modelfile as people write them: comments, parameters, long prompt blocks."""
    lines = [
        f"# support-bot-{index}: answers catalogue questions for team {rng.randint(1, 40)}",
        "# owner: platform-ml@example.com",
        "",
        rng.choice(["FROM llama3.2:3b", "FROM qwen2.5:7b", "from ./weights/model.gguf"]),
        "",
        f"PARAMETER temperature {rng.choice(['0.2', '0.7', '1', '.5'])}",
        f"PARAMETER num_ctx {rng.choice([4096, 8192, 32768])}",
        "PARAMETER top_p 0.9",
        'PARAMETER stop "<|eot_id|>"',
        "PARAMETER stop <|start_header_id|>",
        "",
        _TEMPLATE,
        "",
        'SYSTEM """',
    ]
    for _ in range(rng.randint(5, 60)):
        lines.append(_sentence(rng, rng.randint(6, 24)))
        if rng.random() < 0.2:
            lines.append("")
    lines.append('"""')
    lines.append("")
    for _ in range(rng.randint(0, 6)):
        lines.append(f"MESSAGE user {_sentence(rng, rng.randint(3, 12))}")
        lines.append(f'MESSAGE assistant "{_sentence(rng, rng.randint(3, 20))}"')
    if rng.random() < 0.5:
        lines.append('LICENSE """')
        lines.extend(_sentence(rng, 12) for _ in range(rng.randint(10, 40)))
        lines.append('"""')
    newline = "\r\n" if rng.random() < 0.1 else "\n"
    return newline.join(lines) + newline


def corpus(total: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    files: list[bytes] = []
    size = 0
    while size < total:
        data = realistic_modelfile(rng, len(files)).encode()
        files.append(data)
        size += len(data)
    return files


def _best(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_throughput(files: list[bytes], runs: int) -> tuple[float, int]:
    def parse_all() -> None:
        for data in files:
            parse(data).commands  # noqa: B018 - the semantic view is part of the work

    seconds = _best(runs, parse_all)
    return sum(map(len, files)) / MB / seconds, len(files)


def bench_big_values(runs: int) -> dict[str, float]:
    line = _sentence(random.Random(1), 14) + "\t"
    multi = "\n".join([line] * (4 * MB // (len(line) + 1)))
    single = (line * (4 * MB // len(line))).replace("\t", " ")
    cases = {
        '4 MB SYSTEM """ block': f'FROM x\nSYSTEM """{multi}"""\n'.encode(),
        "4 MB one-line SYSTEM": f"FROM x\nSYSTEM {single}\n".encode(),
    }
    out = {}
    for label, data in cases.items():
        assert len(parse(data).last("SYSTEM").value) >= 4 * MB - 200  # type: ignore[union-attr]
        out[label] = _best(runs, lambda data=data: parse(data))
    return out


def bench_startup(runs: int) -> list[float]:
    script = Path(sys.executable).parent / "mfops"
    exe = str(script) if script.exists() else shutil.which("mfops")
    if exe is None:
        raise SystemExit("the mfops console script is not installed")
    subprocess.run([exe, "--version"], check=True, capture_output=True)  # warm the disk cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "--version"], check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 MB corpus, fewer runs")
    args = parser.parse_args()
    size, runs = (1 * MB, 1) if args.quick else (10 * MB, 3)
    ok = True

    def verdict(passed: bool) -> str:
        nonlocal ok
        ok = ok and passed
        return "ok" if passed else "MISSED"

    files = corpus(size)
    mb_s, count = bench_throughput(files, runs)
    total = sum(map(len, files)) / MB
    print(
        f"parse throughput   {mb_s:8.1f} MB/s   ({total:.1f} MB, {count} Modelfiles, best of "
        f"{runs})   target >= {TARGET_MB_S:g} MB/s   {verdict(mb_s >= TARGET_MB_S)}"
    )
    for label, seconds in bench_big_values(runs).items():
        print(
            f"{label:<22} {seconds:6.3f} s   target <= {TARGET_BIG_VALUE_S:g} s   "
            f"{verdict(seconds <= TARGET_BIG_VALUE_S)}"
        )
    times = bench_startup(5 if args.quick else 15)
    median = statistics.median(times)
    print(
        f"mfops --version    {median:8.1f} ms median  (min {min(times):.1f}, max "
        f"{max(times):.1f}, {len(times)} runs)   target <= {TARGET_STARTUP_MS:g} ms   "
        f"{verdict(median <= TARGET_STARTUP_MS)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
