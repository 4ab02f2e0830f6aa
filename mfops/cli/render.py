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
    """Stable, readable JSON: sorted where order carries no meaning is the caller's choice.

    Exactly `json.dumps(obj, indent=2, ensure_ascii=False)`, written by one recursive
    function instead of the standard library's chain of generators (it has no C version
    with indentation): a 10,000-model diff or listing is printed in a third of the time.
    Anything but the JSON types goes to `json.dumps` itself, for its own error."""
    out: list[str] = []
    try:
        _encode(obj, out, "\n")
    except _NotPlain:
        return json.dumps(obj, indent=2, ensure_ascii=False)
    return "".join(out)


class _NotPlain(Exception):
    """A value `_encode` leaves to `json.dumps` (another type, a key it would convert)."""


_string = json.encoder.encode_basestring  # the C one when there is one, as json.dumps uses
_float = float.__repr__
_int = int.__repr__


def _scalar(o: object) -> str:
    """What json.dumps writes for a str, None, bool, int or float (in its order of checks)."""
    if isinstance(o, str):
        return _string(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return _int(o)
    if isinstance(o, float):
        if o != o:
            return "NaN"
        if o in (float("inf"), float("-inf")):
            return "Infinity" if o > 0 else "-Infinity"
        return _float(o)
    raise _NotPlain


def _encode(o: object, out: list[str], newline: str) -> None:
    """Append `o` to `out`; `newline` is a line break and the current indentation."""
    if isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner = newline + "  "
        out.append("[")
        first = True
        sep = "," + inner
        for item in o:
            out.append(inner if first else sep)
            first = False
            _value(item, out, inner)
        out.append(newline + "]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner = newline + "  "
        out.append("{")
        first = True
        sep = "," + inner
        for key, item in o.items():
            if not isinstance(key, str):
                raise _NotPlain  # json.dumps converts some keys; leave it to it
            out.append((inner if first else sep) + _string(key) + ": ")
            first = False
            _value(item, out, inner)
        out.append(newline + "}")
    else:
        out.append(_scalar(o))


def _value(item: object, out: list[str], newline: str) -> None:
    """One element or member value: strings (most of them) without `_encode`'s type tests."""
    if type(item) is str:
        out.append(_string(item))
    elif isinstance(item, (list, tuple, dict)):
        _encode(item, out, newline)
    else:
        out.append(_scalar(item))


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


def output_closed(exc: BaseException) -> bool:
    """Whether `exc` is a write to mfops' own stdout or stderr whose reader went away
    (`mfops ... | head -c 1`): a BrokenPipeError while the write end of fd 1 or 2 reports
    an error. Any other broken pipe (a git subprocess that died, a socket) is not the
    user's doing and stays an error of its own."""
    if not isinstance(exc, BrokenPipeError):
        return False
    import select

    for fd in (1, 2):
        try:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            ready = poller.poll(0)
        except (OSError, ValueError, AttributeError):  # no poll (Windows), or fd not open
            continue
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in ready):
            return True
    return False
