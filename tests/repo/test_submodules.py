"""Modelfiles inside a git submodule (issue 18, item 7): the working tree and every git ref
see a submodule the same way, as one entry mfops does not enter, so its Modelfiles are
neither "added" in every diff nor found in one view and missing in the other."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import invoke_mfops
from tests.gitrepo import GIT_ENV, GitRepo


def run(root: Path, *args: str) -> tuple[int, str, str]:
    code, out, err = invoke_mfops("-C", str(root), *args)
    return int(code or 0), out, err


def with_submodule(tmp_path: Path) -> GitRepo:
    inner = GitRepo(tmp_path / "inner")
    inner.write("Modelfile", "FROM llama3.2:3b\nSYSTEM Inner.\n")
    inner.write("helper/Modelfile", "FROM llama3.2:3b\nSYSTEM Helper.\n")
    inner.commit("inner models")
    outer = GitRepo(tmp_path / "outer")
    outer.write("bot/Modelfile", "FROM llama3.2:3b\nSYSTEM Bot.\n")
    outer.commit("outer model")
    subprocess.run(
        [
            "git",
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "--quiet",
            str(inner.root),
            "vendor/inner",
        ],
        cwd=outer.root,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
    )
    outer.commit("add a submodule")
    assert (outer.root / "vendor" / "inner" / "helper" / "Modelfile").is_file()
    return outer


def test_a_submodule_is_not_always_changed(tmp_path: Path):
    outer = with_submodule(tmp_path)
    code, out, err = run(outer.root, "diff", "--format", "json", "--exit-code")
    assert code == 0, out + err
    for ref in ("HEAD", "HEAD~1"):
        code, out, err = run(outer.root, "diff", ref, "--format", "json")
        assert code == 0, out + err
        report = json.loads(out)
        assert report["models"] == [] and report["summary"]["added"] == 0
        assert report["summary"]["unchanged"] == 1


def test_the_worktree_and_a_ref_list_the_same_models(tmp_path: Path):
    outer = with_submodule(tmp_path)
    code, here, err = run(outer.root, "ls", "--format", "json")
    assert code == 0, err
    code, at_head, err = run(outer.root, "ls", "--ref", "HEAD", "--format", "json")
    assert code == 0, err
    names = [m["name"] for m in json.loads(here)]
    assert names == [m["name"] for m in json.loads(at_head)] == ["bot"]


def test_the_walk_tells_nested_repositories_by_any_kind_of_dot_git(tmp_path: Path):
    """A directory holding `.git` (a folder, a file as in a submodule's work tree, even a
    dangling link) is a nested repository: listed as special, its files not listed, its
    stat data recorded; `.GIT` on a case-sensitive filesystem is what lexists says."""
    from mfops.repo.sources import dir_stat, is_nested_repo, walk_dir

    for name, make in [
        ("folder", lambda p: p.mkdir()),
        ("file", lambda p: p.write_text("gitdir: ../.git/modules/x\n")),
        ("dangling", lambda p: p.symlink_to(tmp_path / "nowhere")),
    ]:
        sub = tmp_path / "models" / name
        sub.mkdir(parents=True)
        (sub / "Modelfile").write_text("FROM x\n")
        make(sub / ".git")
    plain = tmp_path / "models" / "plain"
    plain.mkdir()
    (plain / "Modelfile").write_text("FROM x\n")
    odd = tmp_path / "models" / "odd"
    odd.mkdir()
    (odd / "Modelfile").write_text("FROM x\n")
    (odd / ".GIT").mkdir()
    listing: dict[str, tuple[dict[str, str], set[str]]] = {}
    dirstats: dict[str, tuple[int, int, int]] = {}
    found = sorted(walk_dir(str(tmp_path), listing, dirstats, {}))
    odd_nested = is_nested_repo(str(odd))  # True only where the filesystem folds case
    want = [("models/plain/Modelfile", False)]
    if not odd_nested:
        want.insert(0, ("models/odd/Modelfile", False))
    assert found == want
    kinds = listing["models"][0]
    assert kinds == {
        "folder": "special",
        "file": "special",
        "dangling": "special",
        "plain": "dir",
        "odd": "special" if odd_nested else "dir",
    }
    for name in ("folder", "file", "dangling", "plain"):
        assert dirstats[f"models/{name}"] == dir_stat(str(tmp_path / "models" / name))
    assert "models/folder/.git" not in dirstats and "models/folder" not in listing
