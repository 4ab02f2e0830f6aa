"""`python -m mfops.testing`: serve the Ollama double standalone (see `double/__main__.py`).

Prints the URL on the first line, then serves until interrupted:

    python -m mfops.testing --registry llama3.2:3b --port 11500
"""

from __future__ import annotations

import sys

from mfops.testing.double.__main__ import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m mfops.testing"))
