"""Markdown that untrusted text cannot break out of: one fence helper for every renderer.

Model output, file names and error messages end up in pull-request comments. A fenced block
ends at the first line holding a backtick run at least as long as its opening fence (GitHub
and CommonMark also accept up to three leading spaces of indentation), so a reply containing
a ``` line would close a fixed ``` fence and whatever follows it, say a fake "## passed"
heading, would be rendered as the comment's own Markdown. `fence` always opens with a run
longer than any run of backticks in the text, so no line of the text can close it; every
Markdown writer in mfops (behave reports, `mfops diff`, the gate summary) uses it.
"""

from __future__ import annotations

import re

_TICKS = re.compile(r"`+")


def longest_backticks(text: str) -> int:
    return max((len(r) for r in _TICKS.findall(text)), default=0)


def fence(text: str, info: str = "text", indent: str = "") -> list[str]:
    """`text` as a fenced code block (a list of lines), `indent` before every line (for a
    block inside a list item). The fence is longer than any backtick run in `text`."""
    ticks = "`" * max(3, longest_backticks(text) + 1)
    body = text.rstrip("\n").split("\n") if text else []
    return [f"{indent}{ticks}{info}", *[f"{indent}{line}" for line in body], f"{indent}{ticks}"]


def code_span(text: str) -> str:
    """An inline code span that survives backticks and table pipes in `text`."""
    ticks = "`" * (longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}".replace("|", "\\|")
