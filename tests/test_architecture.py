"""The module boundaries of docs/architecture.md, enforced by reading every import of mfops/
(module level, inside functions and under TYPE_CHECKING) with ast:

- mfops' own modules are imported at the top of a module, never inside a function;
- each subpackage imports only the layers below it (LAYERS), so there is no cycle between
  subpackages, and none between modules either;
- one module owns each outside library (OWNERS) and the loading of JSON files;
- no private name (`_x`) is imported from another module;
- the core never imports mfops.testing or mfops.cli; heavy libraries stay off the start-up path.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mfops"

#: The layers, lowest first. A module may import its own subpackage and any layer listed
#: before its own; names on one line are peers and must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("mfops", "errors"),  # the package itself (`__version__`) and the typed errors
    ("fileio",),  # atomic writes, regular-file reads, the YAML and JSON loaders
    ("language",),  # the Modelfile language
    ("repo",),  # the repository, its sources, config and lock
    ("graph",),  # inheritance, effective Modelfiles, digests, revisions
    ("diff", "lint", "server"),  # what changed; what is wrong; what the server holds
    ("store",),  # .mfops state and the writer lock
    ("build",),  # plan and execute builds
    ("behave",),  # behavioural tests
    ("release", "scaffold", "install", "schema"),  # promote, roll back, gate; `mfops init`'s
    # files, the install line its workflow gets; the JSON Schemas of mfops.yaml and suites
    ("testing",),  # the Ollama double, pytest plugin, demo (never imported by the core)
    ("cli",),  # the command line
    ("__main__",),  # `python -m mfops`
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}

#: outside library -> the only modules allowed to import it. (gitpython is no longer used:
#: git is run as plumbing subprocesses, see GIT_RUNNERS.)
OWNERS = {
    "ollama": {"server.client"},
    # server.registry asks model registries for manifests (lock --check): another party
    # than the Ollama server, with its own faults, so it has its own small httpx client.
    "httpx": {"server.client", "server.registry"},
    "httpcore": {"server.deadline"},  # its network backend bounds each socket operation
    "yaml": {"fileio.yamlfile"},
    "deepdiff": {"diff.compare"},
    "jsonschema": {"behave.assertions"},
    "rich": {"cli.commands.buildview", "cli.commands.test", "cli.pullview", "cli.render"},
}

#: modules that run the `git` command (a `["git", ...]` argument list), and why. Every
#: read of the repository goes through repo.gitstore's plumbing; gitpython is not imported.
GIT_RUNNERS = {
    "repo.gitstore": "every read of refs, trees and blobs",
    "store.trust": "one `git ls-files` to tell whether `.mfops/` is tracked",
    "testing.demo": "the demo builds its own repository (not the core)",
}

#: modules that call json.load/json.loads, and on what: files go through fileio.jsonfile
JSON_PARSERS = {
    "fileio.jsonfile": "every JSON file mfops reads",
    "server.client": "HTTP answers from Ollama",
    "server.registry": "a registry's manifest, hashed byte for byte (lock --check)",
    "behave.assertions": "a model's answer checked with `json`",
    "behave.judge": "a judge model's verdict",
}

#: what the core is: everything but these
NOT_CORE = ("cli", "testing", "__main__")

#: The Ollama double imitates the server, not mfops: it is kept self-contained (it imports
#: nothing of mfops outside itself, checked below) and written in its own style (relative
#: imports, some deferred; it parses HTTP bodies with `json` and may use `ollama`'s types), so
#: the rules about mfops' own imports, owners and JSON files do not apply inside it.
DOUBLE = "testing.double"

#: mfops imports allowed inside a function, and why
DEFERRED = {
    "testing.plugin": "pytest imports the plugin in every run; the double loads when used",
}


def in_double(module: str) -> bool:
    return module == DOUBLE or module.startswith(DOUBLE + ".")


MAX_TOP_LEVEL_MODULES = 12


@dataclass(frozen=True)
class Import:
    module: str  # importing module, relative to mfops ("lint.engine")
    line: int
    where: str  # "top", "type-checking" or "function"
    target: str  # full module name imported ("mfops.lint.rules", "yaml")
    name: str | None  # the name taken from it (`from X import name`), None for `import X`


def _rel(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "mfops"


def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports: the double keeps them)."""
    if node.level == 0:
        return node.module or ""
    package = ["mfops", *module.split(".")]
    if modules()[module].name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


@cache
def modules() -> dict[str, Path]:
    return {_rel(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    known = modules()

    def visit(module: str, node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            here = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                here = "function"
            elif where == "top" and _is_type_checking(child):
                here = "type-checking"
            if isinstance(child, ast.Import):
                found.extend(Import(module, child.lineno, here, a.name, None) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(module, child)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    target = full if full.removeprefix("mfops.") in known else base
                    found.append(Import(module, child.lineno, here, target, alias.name))
            visit(module, child, here)

    for module, path in modules().items():
        visit(module, ast.parse(path.read_text(), str(path)), "top")
    return tuple(found)


def own(imp: Import) -> str | None:
    """The imported mfops module relative to the package ("lint.rules"), None if outside."""
    if imp.target == "mfops":
        return "mfops"
    if imp.target.startswith("mfops."):
        return imp.target.removeprefix("mfops.")
    return None


def layer_of(module: str) -> str:
    return module.split(".")[0]


def test_layers_name_every_subpackage_and_top_level_module():
    tops = {layer_of(m) for m in modules()}
    assert tops == set(RANK), (
        f"add to LAYERS: {sorted(tops - set(RANK))}; gone: {sorted(set(RANK) - tops)}"
    )


def test_mfops_is_imported_at_the_top_of_modules():
    deferred = [
        f"mfops/{i.module}:{i.line}: {i.target}"
        for i in imports()
        if i.where == "function"
        and own(i) is not None
        and not in_double(i.module)
        and i.module not in DEFERRED
    ]
    assert not deferred, "import mfops modules at the top:\n" + "\n".join(deferred)


def test_each_subpackage_imports_only_the_layers_below():
    wrong = []
    for imp in imports():
        target = own(imp)
        if target is None:
            continue
        mine, theirs = layer_of(imp.module), layer_of(target)
        if mine != theirs and not RANK[theirs] < RANK[mine]:
            wrong.append(f"mfops/{imp.module}:{imp.line} ({mine}) imports {imp.target}")
    assert not wrong, "layering broken:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules():
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports():
        target = own(imp)
        if target is not None and imp.where != "type-checking" and target != imp.module:
            graph[imp.module].add(target)
            # importing a.b.c runs a/__init__ and a/b/__init__ first
            parts = target.split(".")
            graph[imp.module].update(
                ".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in graph
            )
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in graph or w == v:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package importing its own modules from __init__ is not a cycle
            if len(comp) > 1 and not all(c == v or c.startswith(v + ".") for c in comp):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_outside_library_has_one_owner(library):
    users = {
        i.module for i in imports() if i.target.split(".")[0] == library and not in_double(i.module)
    }
    assert users, f"nothing imports {library}: drop it from OWNERS"
    assert users <= OWNERS[library], f"{library} imported outside its owner: {users}"


def _runs_git(tree: ast.AST) -> bool:
    """Whether a module builds a command line starting with `git` (["git", ...])."""
    return any(
        isinstance(node, (ast.List, ast.Tuple))
        and node.elts
        and isinstance(node.elts[0], ast.Constant)
        and node.elts[0].value == "git"
        for node in ast.walk(tree)
    )


def test_git_runs_only_in_its_owners_and_gitpython_is_gone():
    runners = {
        module
        for module, path in modules().items()
        if not in_double(module) and _runs_git(ast.parse(path.read_text()))
    }
    assert runners <= set(GIT_RUNNERS), (
        f"git run outside repo.gitstore: {runners - set(GIT_RUNNERS)}"
    )
    assert "repo.gitstore" in runners
    core_runners = {m for m in runners if layer_of(m) not in NOT_CORE} - {"store.trust"}
    assert {layer_of(m) for m in core_runners} <= {"repo"}
    assert not [i for i in imports() if i.target.split(".")[0] == "git"], "gitpython imported"


def test_json_files_are_loaded_in_one_place():
    users = set()
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "json"
                and node.attr in ("load", "loads")
            ):
                users.add(module)
    users = {u for u in users if not in_double(u)}
    assert users <= set(JSON_PARSERS), (
        f"load JSON files with mfops.fileio.jsonfile: {sorted(users - set(JSON_PARSERS))}"
    )


def test_no_private_name_is_imported_from_another_module():
    private = [
        f"mfops/{i.module}:{i.line}: {i.name} from {i.target}"
        for i in imports()
        if own(i) is not None
        and i.name is not None
        and re.match(r"_(?!_)", i.name)
        and own(i) != i.module
    ]
    assert not private, "private names used across modules:\n" + "\n".join(private)


def test_core_never_imports_testing_or_cli():
    wrong = [
        f"mfops/{i.module}:{i.line}: {i.target}"
        for i in imports()
        if layer_of(i.module) not in NOT_CORE and (own(i) or "").split(".")[0] in ("cli", "testing")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_double_is_self_contained():
    """The double stands in for Ollama: it must not borrow mfops' idea of how Ollama works."""
    borrowed = [
        f"mfops/{i.module}:{i.line}: {i.target}"
        for i in imports()
        if in_double(i.module) and own(i) is not None and not in_double(own(i) or "")
    ]
    assert not borrowed, "\n".join(borrowed)


def test_few_modules_directly_in_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"move some into subpackages: {top}"


def test_library_code_never_imports_click_or_prints():
    for module, path in modules().items():
        if layer_of(module) in NOT_CORE:
            continue
        assert not any(i.target.split(".")[0] == "click" for i in imports() if i.module == module)
        tree = ast.parse(path.read_text())
        prints = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not prints, f"mfops/{module} prints at lines {prints}"


def _documented_subpackages() -> set[str]:
    """Subpackages named in docs/architecture.md's module map: `mfops/<name>/`."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return set(re.findall(r"`mfops/([a-z_]+)/`", text))


def test_architecture_doc_lists_exactly_the_subpackages():
    actual = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    documented = _documented_subpackages()
    assert documented - actual == set(), f"documented but missing: {documented - actual}"
    assert actual - documented == set(), f"not in docs/architecture.md: {actual - documented}"


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_start_up_loads_no_command_and_nothing_heavy(args):
    probe = (
        "import sys; from mfops.cli.main import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = {'git', 'ollama', 'httpx', 'yaml', 'deepdiff', 'rich', 'jsonschema',"
        " 'pydantic', 'mfops.language.modelfile', 'mfops.testing'}\n"
        "loaded = heavy & set(sys.modules)\n"
        "loaded |= {m for m in sys.modules if m.startswith('mfops.cli.commands.')}\n"
        "print(sorted(loaded))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_commands_load_no_server_or_git_library_at_import():
    """Command modules import library modules at the top; the heavy libraries stay deferred
    in their owners, so even loading every command imports none of them."""
    probe = (
        "import importlib, sys\n"
        "from mfops.cli.main import COMMANDS\n"
        "for module, _ in COMMANDS.values():\n"
        "    importlib.import_module(module)\n"
        "print(sorted({'git', 'ollama', 'httpx', 'yaml', 'deepdiff', 'jsonschema'}"
        " & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
