"""The one JSON file loader, beside the YAML one: mfops' own records (`mfops.lock`, the
`.mfops` state, test baselines, the result cache, writer-lock holders) are JSON files that
a user, a merge or an attacker may have changed.

A file that does not parse is a ConfigError in mfops' words naming the file and the line
(`mfops.lock:3: not valid JSON: Unterminated string`), never Python's message about
`char 41`; input that `json.loads` refuses beyond syntax (nesting deeper than the recursion
limit, an integer over 4300 digits) is named for what it is. Text that is not UTF-8 is
refused the same way before parsing.
"""

from __future__ import annotations

import json
from typing import Any

from mfops.errors import ConfigError


def line_of(text: str, needle: str) -> int | None:
    """The 1-based line of the first `needle` in `text`, None when it is not there."""
    pos = text.find(needle)
    return text.count("\n", 0, pos) + 1 if pos >= 0 else None


def json_limit(err: ValueError | RecursionError) -> str:
    """What `json.loads` refused beyond syntax: nesting deeper than Python's recursion
    limit, or an integer longer than Python converts (4300 digits)."""
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return "a number is too long" if "digits" in str(err) else str(err).split("\n")[0]


def loads_json(
    data: str | bytes, path: str, *, what: str | None = None, hint: str | None = None
) -> Any:
    """Parse one JSON document read from `path`; errors say `<what> is not valid JSON: ...`
    (or `not valid JSON: ...` without `what`) at the line where parsing stopped."""
    prefix = f"{what} is not" if what else "not"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"{prefix} UTF-8 text ({err.reason})", path=path, line=1, hint=hint
            ) from None
    try:
        return json.loads(data)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{prefix} valid JSON: {err.msg}", path=path, line=err.lineno, hint=hint
        ) from None
    except (ValueError, RecursionError) as err:  # hostile input, not a file mfops wrote
        raise ConfigError(
            f"{prefix} valid JSON: {json_limit(err)}", path=path, line=1, hint=hint
        ) from None
