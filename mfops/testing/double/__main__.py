"""Run the double by hand or for benchmarks: `python -m mfops.testing --port 11500`.

Prints the URL on the first line (then serves until interrupted), so a script can start it,
read one line and point `OLLAMA_HOST` at it.
"""

from __future__ import annotations

import argparse
import sys
import threading

from .double import DEFAULT_VERSION, OllamaDouble


def main(argv: list[str] | None = None, prog: str = "python -m mfops.testing.double") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)"
    )
    parser.add_argument("--version", default=DEFAULT_VERSION, help="what /api/version reports")
    parser.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="NAME",
        help="publish a registry model that pull / create FROM can fetch (repeatable)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="create a local model (repeatable)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds of latency on every call"
    )
    args = parser.parse_args(argv)

    double = OllamaDouble(port=args.port, version=args.version)
    for name in args.registry:
        double.add_registry_model(name)
    for name in args.model:
        double.add_local_model(name)
    if args.latency:
        double.faults.latency["*"] = args.latency
    double.start()
    print(double.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
