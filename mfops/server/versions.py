"""Which Modelfile commands a given Ollama server can create (issue 13 item 9).

Ollama's `/api/create` ignores JSON fields it does not know and still answers `success`, so
an older server silently builds a model without its RENDERER, REQUIRES or DRAFT: exactly the
loss verification exists to catch, but only after the create. `mfops build` therefore reads
`/api/version` once (the probe every command starts with) and refuses, before any create,
a model whose own Modelfile uses a command the server predates. The table is fixed
knowledge from Ollama's `api/types.go` history (the first release holding each field).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mfops.errors import CheckFailed
from mfops.graph.inheritance import Graph

#: keyword -> first Ollama release whose create request carries it.
SINCE = {
    "RENDERER": (0, 12, 0),
    "PARSER": (0, 12, 0),
    "REQUIRES": (0, 14, 0),
    "DRAFT": (0, 30, 0),
}

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of `0.24.0` or `0.33.0-rc2`; None for a dev build (`0.0.0`)
    or anything unreadable, which is then trusted to be new enough."""
    found = _VERSION.match(text.strip())
    if found is None:
        return None
    version = (int(found[1]), int(found[2]), int(found[3]))
    return None if version == (0, 0, 0) else version


def unsupported(version: str, graph: Graph, names: Iterable[str]) -> list[str]:
    """One line per (model, command) among `names` that the server at `version` would drop."""
    have = parse_version(version)
    if have is None:
        return []
    out: list[str] = []
    for name in names:
        mf = graph.nodes[name].model.modelfile
        for keyword, since in SINCE.items():
            found = mf.of(keyword)
            if found and have < since:
                need = ".".join(map(str, since))
                where = f"{mf.path or name}:{found[0].line}"
                out.append(f"{where}: {keyword} needs Ollama {need} or newer")
    return out


def require_supported(version: str, graph: Graph, names: Iterable[str], *, host: str) -> None:
    """Refuse, before any create, what this server would silently drop."""
    problems = unsupported(version, graph, names)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckFailed(
            f"{problems[0]}, but {host} runs Ollama {version}: it would drop the field "
            f"and still answer success{more}",
            hint="upgrade Ollama on that host, or build these models elsewhere",
        )
