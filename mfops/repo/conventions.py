"""Which files are Modelfiles and what models they name, by convention (architecture.md).

`<dir>/Modelfile` is the model `<dir>`; `<name>.Modelfile` is the model `<name>`. Files listed
in `mfops.yaml` may have any name; that mapping lives in repo.py. Directory walks skip VCS,
tool and virtualenv folders so that `mfops fmt .` never wanders into `.git` or `.venv`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

MODELFILE = "Modelfile"
SUFFIX = ".Modelfile"

#: Directories never searched for Modelfiles.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".mfops", "node_modules", "__pycache__", ".venv", "venv", ".tox"}
)


def is_modelfile_name(filename: str) -> bool:
    return filename == MODELFILE or (filename.endswith(SUFFIX) and len(filename) > len(SUFFIX))


def model_name_for(path: str | PurePosixPath, *, root_name: str = "") -> str:
    """The conventional model name of a Modelfile at a repo-relative POSIX path.

    A `Modelfile` at the repository root takes the root directory's name.
    """
    p = PurePosixPath(path)
    if p.name == MODELFILE:
        return p.parent.name or root_name
    return p.name[: -len(SUFFIX)]


def walk_modelfiles(directory: Path) -> Iterator[Path]:
    """Every conventional Modelfile under `directory`, in a stable (sorted) order."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for filename in sorted(filenames):
            if is_modelfile_name(filename):
                yield Path(dirpath) / filename


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories searched by the conventions; duplicates dropped."""
    seen: dict[Path, None] = {}
    for path in paths:
        found = walk_modelfiles(path) if path.is_dir() else [path]
        for item in found:
            seen.setdefault(item, None)
    return list(seen)
