"""`mfops init`: the scaffold, its refusal to overwrite, and the templates in the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mfops.install import install_line
from mfops.scaffold import InitError, next_steps, plan, scaffold, template_files, templates_root

ROOT = Path(__file__).resolve().parent.parent
STARTER = {
    ".gitignore",
    "Base.Modelfile",
    "mfops.yaml",
    "expert/Modelfile",
    "expert/expert.test.yaml",
    "tests/company.test.yaml",
    "schemas/mfops.schema.json",
    "schemas/suite.schema.json",
}
WORKFLOW = ".github/workflows/mfops.yml"


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_templates_are_the_source_trees_templates_folder():
    assert templates_root() == ROOT / "templates"
    assert set(template_files("starter")) == STARTER
    assert set(template_files("ci/github")) == {WORKFLOW}


def test_init_writes_the_starter_and_says_what_next(tmp_path, mfops_cli):
    code, out, err = mfops_cli("-C", str(tmp_path), "init", "repo")
    assert (code, err) == (0, "")
    target = tmp_path / "repo"
    assert files_under(target) == STARTER
    for rel in STARTER:
        assert (target / rel).read_bytes() == (ROOT / "templates" / "starter" / rel).read_bytes()
    lines = out.splitlines()
    assert sorted(line.split()[1] for line in lines if line.startswith("created")) == sorted(
        f"{_shown(tmp_path / 'repo')}/{rel}" for rel in STARTER
    )
    steps = out[out.index("next steps:") :]
    assert "mfops lock --pull" in steps and "mfops build --all" in steps
    assert "mfops test" in steps and "mfops promote --all" in steps
    assert "git init" in steps, "the target is not in a git repository"
    assert WORKFLOW not in out


def _shown(path: Path) -> str:
    rel = os.path.relpath(path, Path.cwd())
    return rel if not rel.startswith("..") else str(path.resolve())


def test_ci_github_adds_the_workflow_and_mentions_the_tag_push(tmp_path, mfops_cli, git_repo):
    code, out, _ = mfops_cli("-C", str(git_repo.root), "init", "--ci", "github")
    assert code == 0
    assert files_under(git_repo.root) - {
        p for p in files_under(git_repo.root) if p.startswith(".git/")
    } == STARTER | {WORKFLOW}
    # the template, with the requirement of the mfops running (tests/test_install_line.py)
    assert (git_repo.root / WORKFLOW).read_bytes() == (
        ROOT / "templates" / "ci" / "github" / WORKFLOW
    ).read_bytes().replace(b"@MFOPS_INSTALL@", install_line().requirement.encode())
    assert "git push origin v0.1.0" in out
    assert "git init" not in out, "already a git repository"


def test_the_starter_is_a_clean_valid_repository(tmp_path, mfops_cli):
    assert mfops_cli("init", str(tmp_path))[0] == 0
    code, out, err = mfops_cli("-C", str(tmp_path), "lint", "--format", "json")
    assert (code, json.loads(out)) == (0, []), err
    code, out, _ = mfops_cli("-C", str(tmp_path), "ls", "--format", "json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"company-bot", "expert"}
    assert json.dumps(rows["expert"]).count("company-bot") >= 1


def test_an_existing_file_with_other_content_stops_everything(tmp_path, mfops_cli):
    (tmp_path / "expert").mkdir()
    (tmp_path / "expert" / "Modelfile").write_text("FROM mine\n")
    code, out, err = mfops_cli("init", str(tmp_path), "--ci", "github")
    assert code == 2 and out == ""
    assert err == (
        f"mfops: not overwriting 1 existing file in {tmp_path}: expert/Modelfile "
        "(nothing was written; --force overwrites them)\n"
    )
    assert files_under(tmp_path) == {"expert/Modelfile"}
    assert (tmp_path / "expert" / "Modelfile").read_text() == "FROM mine\n"


def test_force_overwrites_but_merges_the_gitignore(tmp_path, mfops_cli):
    (tmp_path / "Base.Modelfile").write_text("FROM mine\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n*.pyc")
    code, out, _ = mfops_cli("init", str(tmp_path), "--force")
    assert code == 0
    assert "overwrote" in out and "Base.Modelfile" in out
    assert (tmp_path / "Base.Modelfile").read_bytes() == (
        ROOT / "templates" / "starter" / "Base.Modelfile"
    ).read_bytes()
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", "*.pyc"] and ".mfops/" in lines


def test_an_existing_gitignore_gets_only_the_missing_lines(tmp_path, mfops_cli):
    (tmp_path / ".gitignore").write_text("build/\n")
    code, out, _ = mfops_cli("init", str(tmp_path))
    assert code == 0 and "updated    " in out
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "build/"
    (tmp_path / ".gitignore").write_text("/.mfops/\n")  # ignored already, spelled otherwise
    done = plan(tmp_path, ci=None, force=True)
    gitignore = next(f for f in done.files if f.path == ".gitignore")
    assert gitignore.action == "merge"  # `/.mfops/` is not the template's line; kept anyway
    assert gitignore.content.decode().splitlines()[0] == "/.mfops/"


def test_an_mfops_repository_is_not_rescaffolded_but_gets_the_workflow(tmp_path, mfops_cli):
    assert mfops_cli("init", str(tmp_path))[0] == 0
    (tmp_path / "mfops.yaml").write_text("models: {}\n")
    (tmp_path / "Base.Modelfile").unlink()
    code, _, err = mfops_cli("init", str(tmp_path))
    assert code == 2
    assert err == (
        f"mfops: {tmp_path} is already an mfops repository (mfops.yaml exists) "
        "(`mfops init --ci github` adds the CI workflow; --force overwrites the "
        "starter files)\n"
    )
    code, out, _ = mfops_cli("init", str(tmp_path), "--ci", "github")
    assert code == 0
    assert out.splitlines()[0] == f"created    {_shown(tmp_path)}/{WORKFLOW}"
    assert "kept the existing models and mfops.yaml" in out
    assert (tmp_path / "mfops.yaml").read_text() == "models: {}\n"
    assert not (tmp_path / "Base.Modelfile").exists()
    code, out, _ = mfops_cli("init", str(tmp_path), "--ci", "github")
    assert code == 0 and "nothing to write: everything is in place" in out


def test_rerun_on_an_identical_scaffold_with_force_writes_nothing(tmp_path):
    scaffold(tmp_path, ci="github")
    before = {p: (tmp_path / p).stat().st_mtime_ns for p in files_under(tmp_path)}
    done = scaffold(tmp_path, ci="github", force=True)
    assert {f.action for f in done.files} == {"unchanged"} and done.written == []
    assert before == {p: (tmp_path / p).stat().st_mtime_ns for p in files_under(tmp_path)}


def test_bad_targets_and_choices(tmp_path, mfops_cli):
    (tmp_path / "file").write_text("x")
    code, _, err = mfops_cli("init", str(tmp_path / "file"))
    assert code == 2 and "file" in err
    code, _, err = mfops_cli("init", str(tmp_path / "new"), "--ci", "gitlab")
    assert code == 2 and "mfops: invalid value for '--ci': 'gitlab'" in err
    (tmp_path / "d" / "mfops.yaml").mkdir(parents=True)
    with pytest.raises(InitError, match="is a directory"):
        plan(tmp_path / "d", force=True)
    with pytest.raises(InitError, match="unknown CI system"):
        plan(tmp_path / "e", ci="jenkins")


def test_plan_writes_nothing(tmp_path):
    done = plan(tmp_path / "x", ci="github")
    assert not (tmp_path / "x").exists()
    assert {f.path for f in done.files} == STARTER | {WORKFLOW}
    assert {f.action for f in done.files} == {"create"}
    commands = [cmd for cmd, _ in next_steps(done, shown_root="x", in_git=False)]
    assert commands[:3] == ["cd x", "git init", "mfops lock --pull"]


def test_installed_entry_point(run_mfops, tmp_path):
    done = run_mfops("init", "scaffolded", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert files_under(tmp_path / "scaffolded") == STARTER


# --------------------------------------------------------------------------- packaging


def test_every_package_is_in_the_explicit_package_list():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mfops").rglob("__init__.py")
    }
    assert found | {"mfops._templates", "mfops._examples"} == set(config["packages"])
    assert config["package-dir"] == {"mfops._templates": "templates", "mfops._examples": "examples"}


def test_the_wheel_ships_the_templates_and_init_works_from_it(tmp_path):
    """Build the wheel (no network: the installed setuptools, no build isolation) from a
    copy of the sources, run `mfops init` from the unpacked wheel alone and compare."""
    try:
        from setuptools.command import bdist_wheel  # noqa: F401  (setuptools >= 70.1)
    except ImportError:
        pytest.skip("needs setuptools>=70.1 (in the test extra) to build a wheel offline")
    src = tmp_path / "src"
    for part in ("mfops", "templates", "examples"):
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
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        n.removeprefix("mfops/_templates/") for n in names if n.startswith("mfops/_templates/")
    }
    source = files_under(ROOT / "templates")
    assert shipped == source
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import sys, mfops, mfops.scaffold as s\n"
        "from mfops.cli.main import main\n"
        "print(mfops.__file__); print(s.templates_root())\n"
        "try:\n    main(['init', sys.argv[1], '--ci', 'github'])\nexcept SystemExit as e:\n"
        "    assert not e.code, e.code\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "new")],
        env={**os.environ, "PYTHONPATH": str(unpacked)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    module, root = run.stdout.splitlines()[:2]
    assert module.startswith(str(unpacked)) and root == str(unpacked / "mfops" / "_templates")
    assert files_under(tmp_path / "new") == STARTER | {WORKFLOW}
