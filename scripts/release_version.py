"""Set mfops' version from a release tag: `python scripts/release_version.py v1.2.3`.

The release workflow (.github/workflows/release.yml) runs this before building, so the
published version is the pushed tag's (`v1.2.3` -> `1.2.3`) and nothing else needs editing
to release. The version stays a plain string in `mfops/__init__.py`, read by setuptools at
build time (`tool.setuptools.dynamic`): `mfops --version` reads no metadata and stays fast.

Exit 2 when the tag is not `v` + a PEP 440 release version (1.2.3, 1.2.3rc1, 1.2.3.post1).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

INIT = Path(__file__).resolve().parent.parent / "mfops" / "__init__.py"
TAG = re.compile(r"^v(\d+(?:\.\d+){1,2}(?:(?:a|b|rc)\d+)?(?:\.post\d+)?)$")
LINE = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)


def set_version(tag: str, init: Path = INIT) -> str:
    """Write the version of `tag` into `init`; return it. ValueError for a bad tag."""
    m = TAG.match(tag)
    if m is None:
        raise ValueError(f"tag {tag!r} is not v + a release version (v1.2.3, v1.2.3rc1)")
    version = m.group(1)
    text = init.read_text(encoding="utf-8")
    new, count = LINE.subn(f'__version__ = "{version}"', text)
    if count != 1:
        raise ValueError(f'{init}: expected one `__version__ = "..."` line, found {count}')
    init.write_text(new, encoding="utf-8")
    return version


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: release_version.py TAG", file=sys.stderr)
        return 2
    try:
        print(set_version(argv[0]))
    except ValueError as err:
        print(f"release_version: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
