"""Big and deeply repetitive inputs for every loader: time and memory stay bounded.

Each case builds one input (10 MB where the loader takes that much; YAML files stop at
mfops' 5 MB limit) and runs it through its fuzz target in a fresh process, which reports
the seconds taken and its peak resident memory:

    python -m tests.fuzz.limits              # every case, a table
    python -m tests.fuzz.limits NAME         # one case, one JSON line (used by the tests)

`slow` cases are the line-dense Modelfiles (a million commands, comments or messages in
10 MB): they take seconds and about a gigabyte, linear in the input. `rss_mb` is the memory
limit a case must stay under; `seconds` is its expected time, reported by the table
(`benchmarks/fuzz.py --limits`) and, times three plus 30, the deadline that catches a hang.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MB = 1 << 20
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    target: str
    make: Callable[[], bytes]
    seconds: float = 20.0
    rss_mb: int = 512
    slow: bool = False


def _lines(line: bytes, size: int = 10 * MB, head: bytes = b"FROM x\n") -> Callable[[], bytes]:
    return lambda: head + line * (size // len(line))


CASES: dict[str, Case] = {
    # Modelfiles: one huge value, unterminated quotes, junk bytes, encodings
    "modelfile-10mb-system": Case("modelfile", lambda: b"FROM x\nSYSTEM " + b"a" * (10 * MB)),
    "modelfile-unterminated-triple-quote": Case(
        "modelfile", _lines(b"ab\n", head=b'FROM x\nSYSTEM """'), rss_mb=1500
    ),
    "modelfile-quote-closing-every-line": Case(
        "modelfile", _lines(b'"""\n', head=b'SYSTEM """\n'), rss_mb=1500
    ),
    "modelfile-quotes-only": Case("modelfile", lambda: b'"' * (10 * MB)),
    "modelfile-nul-bytes": Case("modelfile", lambda: b"\x00" * (10 * MB)),
    "modelfile-invalid-utf8": Case("modelfile", lambda: b"\xff" * (10 * MB)),
    "modelfile-one-comment": Case("modelfile", lambda: b"#" + b"x" * (10 * MB)),
    "modelfile-zero-width-joiners": Case(
        "modelfile", lambda: b"FROM x\nSYSTEM " + "\u200d".encode() * (3 * MB)
    ),
    "modelfile-10mb-parameter-name": Case(
        "modelfile", lambda: b"FROM x\nPARAMETER " + b"a" * (10 * MB) + b" 1\n", rss_mb=1500
    ),
    # ... and line-dense ones: a million small nodes
    "modelfile-million-stop-parameters": Case(
        "modelfile", _lines(b"PARAMETER stop a\n"), seconds=60, rss_mb=2500, slow=True
    ),
    "modelfile-million-messages": Case(
        "modelfile", _lines(b"MESSAGE user hi\n"), seconds=60, rss_mb=2500, slow=True
    ),
    "modelfile-million-comments": Case(
        "modelfile", _lines(b"# c\n"), seconds=60, rss_mb=2500, slow=True
    ),
    "modelfile-ten-million-blank-lines": Case(
        "modelfile", _lines(b"\n"), seconds=60, rss_mb=2500, slow=True
    ),
    "modelfile-utf16-million-lines": Case(
        "modelfile",
        lambda: b"\xff\xfe" + "FROM x\n".encode("utf-16-le") * (10 * MB // 14),
        seconds=90,
        rss_mb=3000,
        slow=True,
    ),
    "modelfile-bad-keyword-after-a-million-lines": Case(
        "modelfile",
        lambda: _lines(b"SYSTEM a\n")() + b"BAD x\n",
        seconds=60,
        rss_mb=2500,
        slow=True,
    ),
    # YAML (mfops.yaml, suites): refused over 5 MB, bounded up to it
    "yaml-10mb": Case("yaml", lambda: b"a: " + b"x" * (10 * MB), seconds=2),
    "yaml-4mb-flow-brackets": Case("yaml", lambda: b"[" * (4 * MB), seconds=2),
    "yaml-2000-nested-sequences": Case(
        "yaml", lambda: b"".join(b"  " * i + b"- \n" for i in range(2000)), seconds=2
    ),
    "yaml-4mb-scalar": Case("yaml", lambda: b"a: '" + b"x" * (4 * MB) + b"'\n", seconds=5),
    "yaml-200k-anchors": Case(
        "yaml", lambda: b"".join(b"k%d: &a%d 1\n" % (i, i) for i in range(200_000))
    ),
    "yaml-duplicate-key-after-300k": Case(
        "yaml", lambda: b"".join(b"k%d: 1\n" % i for i in range(300_000)) + b"k0: 2\n"
    ),
    "yaml-million-item-list": Case(
        "yaml", lambda: b"- 1\n" * (MB + MB // 4), seconds=30, slow=True
    ),
    "config-100k-models": Case(
        "config",
        lambda: (
            b"models:\n"
            + b"".join(b"  m%d: {modelfile: m%d/Modelfile}\n" % (i, i) for i in range(100_000))
        ),
        seconds=60,
        slow=True,
    ),
    "suite-50k-cases": Case(
        "suite",
        lambda: (
            b"model: base\ncases:\n"
            + b"".join(
                b"  - name: c%d\n    prompt: p\n    assert: [{type: contains, value: a}]\n" % i
                for i in range(50_000)
            )
        ),
        seconds=60,
        slow=True,
    ),
    "suite-60k-char-regex": Case(
        "suite",
        lambda: (
            b"model: base\ncases:\n  - name: x\n    "
            b"prompt: p\n    assert: [{type: regex, value: '" + b"(a|a)*" * 10_000 + b"'}]\n"
        ),
        seconds=10,
    ),
    # JSON (lock, state, baselines)
    "lock-10mb-brackets": Case("lock", lambda: b"[" * (10 * MB), seconds=2),
    "lock-2m-nested-objects": Case("lock", lambda: b'{"a":' * (2 * MB), seconds=2),
    "lock-10mb-string": Case(
        "lock", lambda: b'{"version": 1, "bases": {"a": "' + b"x" * (10 * MB) + b'"}}', seconds=2
    ),
    "lock-100k-bases": Case(
        "lock",
        lambda: (
            b'{"version": 1, "bases": {'
            + b",".join(b'"m%d:1": "sha256:%s"' % (i, b"a" * 64) for i in range(100_000))
            + b"}}"
        ),
        seconds=10,
    ),
    "state-10mb-brackets": Case(
        "state", lambda: b'{"version": 1, "builds": ' + b"[" * (10 * MB), seconds=2
    ),
    "state-60k-builds": Case(
        "state",
        lambda: (
            b'{"version": 1, "builds": {'
            + b",".join(
                b'"m%d:1": {"digest": "sha256:%s", "manifest": "%s"}' % (i, b"a" * 64, b"b" * 64)
                for i in range(60_000)
            )
            + b"}}"
        ),
        seconds=10,
    ),
    "baseline-10mb-brackets": Case("baseline", lambda: b"[" * (10 * MB), seconds=2),
    "baseline-10mb-output": Case(
        "baseline", lambda: b'{"version": 1, "output": "' + b"x" * (10 * MB) + b'"}', seconds=2
    ),
}


def run_here(name: str) -> dict[str, object]:
    """Run one case in this process (which should be fresh): seconds and peak RSS."""
    from tests.fuzz.targets import TARGETS, check

    case = CASES[name]
    data = case.make()
    started = time.monotonic()
    check(TARGETS[case.target], data)
    seconds = time.monotonic() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    if sys.platform == "darwin":
        rss /= 1024  # bytes there
    return {"case": name, "bytes": len(data), "seconds": round(seconds, 3), "rss_mb": round(rss, 1)}


def run_child(name: str, timeout: float | None = None) -> dict[str, object]:
    """Run one case in a fresh interpreter (so its peak memory is its own)."""
    case = CASES[name]
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.limits", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout or case.seconds * 3 + 30,
    )
    if done.returncode != 0:
        raise AssertionError(f"{name}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if argv:
        print(json.dumps(run_here(argv[0])))
        return 0
    print(f"{'case':48} {'MB':>6} {'seconds':>8} {'rss MB':>8}")
    for name in CASES:
        r = run_child(name)
        print(
            f"{name:48} {r['bytes'] / MB:6.1f} {r['seconds']:8.2f} {r['rss_mb']:8.0f}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
