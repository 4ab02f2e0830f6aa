"""The module boundaries of architecture.md, enforced: one module per outside dependency,
heavy libraries never on the start-up path."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mfops"

#: outside library -> the only modules allowed to import it
OWNERS = {
    "git": {"repo.gitstore"},
    "ollama": {"server.client"},
    # server.registry asks model registries for manifests (lock --check): another party
    # than the Ollama server, with its own faults, so it has its own small httpx client.
    "httpx": {"server.client", "server.registry"},
    "yaml": {"fileio.yamlfile"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_outside_library_has_one_owner(library):
    users = {
        str(p.relative_to(PACKAGE).with_suffix("")).replace("/", ".")
        for p in PACKAGE.rglob("*.py")
        if library in _imports(p)
    }
    assert users <= OWNERS[library], f"{library} imported outside its owner: {users}"


def test_library_code_never_imports_click_or_prints():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        assert "click" not in _imports(path), rel
        tree = ast.parse(path.read_text())
        prints = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not prints, f"{rel} prints at lines {prints}"


def test_help_does_not_load_heavy_modules():
    probe = (
        "import sys; from mfops.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'git', 'ollama', 'httpx', 'yaml', 'deepdiff', 'rich', 'jsonschema',"
        " 'pydantic', 'mfops.language.modelfile'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
