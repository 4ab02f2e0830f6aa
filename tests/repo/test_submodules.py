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
