"""Long fuzz and limit runs (`@pytest.mark.slow`) are skipped unless asked for: set
MFOPS_SLOW=1 or select them with `-m slow`. The default run keeps a short budget."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MFOPS_SLOW") == "1" or "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="long run: set MFOPS_SLOW=1 or select it with -m slow")
    for item in items:
        if item.get_closest_marker("slow") and _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
