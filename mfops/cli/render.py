"""Output helpers shared by the CLI commands: JSON, colour decisions, GitHub annotations.

Only the CLI renders; the library returns data. Keeping the small formatting rules here
(stable JSON, when to colour, how to escape a workflow command) means every command agrees.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any


def to_json(obj: Any) -> str:
    """Stable, readable JSON: sorted where order carries no meaning is the caller's choice."""
    return json.dumps(obj, indent=2, ensure_ascii=False)


def use_color(setting: bool | None, stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR set or --no-color given."""
    if setting is not None:
        return setting
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def rich_console(setting: bool | None, *, stderr: bool = True, file: IO[str] | None = None) -> Any:
    """A rich Console for live displays, coloured by the same rule as everything else
    (`--no-color`, NO_COLOR): rich alone would only look at NO_COLOR."""
    from rich.console import Console

    stream = file or (sys.stderr if stderr else sys.stdout)
    color = use_color(setting, stream)
    if file is not None:
        return Console(file=file, force_terminal=True, no_color=not color, highlight=False)
    return Console(stderr=stderr, no_color=not color, highlight=False)


def github_escape(text: str, *, property_value: bool = False) -> str:
    """Escape text for a GitHub workflow command (`::error file=...::message`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text
