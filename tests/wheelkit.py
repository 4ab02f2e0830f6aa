"""Build mfops' wheel offline from a copy of the sources and unpack it, for tests that check
what an installed package (not the checkout) can do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: what the wheel is built from: the package and the folders it ships as package data
SOURCES = ("mfops", "templates", "examples")


def build_wheel(tmp_path: Path) -> Path:
    """The wheel built with the installed setuptools (no network, no build isolation)."""
    try:
        from setuptools.command import bdist_wheel  # noqa: F401  (setuptools >= 70.1)
    except ImportError:
        pytest.skip("needs setuptools>=70.1 (in the test extra) to build a wheel offline")
    src = tmp_path / "src"
    for part in SOURCES:
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("mfops-*.whl")
    return wheel


def unpack(wheel: Path, target: Path) -> Path:
    """The wheel's files under `target`: put it first on PYTHONPATH to run from it alone."""
    zipfile.ZipFile(wheel).extractall(target)
    return target
