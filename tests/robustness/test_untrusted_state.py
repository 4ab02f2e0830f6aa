"""Untrusted repository content cannot redirect mfops' writes or forge its verdicts (issue 18,
items 1 and 2): `.mfops/` symlinks, a git-tracked `.mfops/`, a forged test cache."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mfops.errors import MfopsError, UntrustedStateDir
from mfops.fileio.atomic import write_atomic
from mfops.server.hosts import Host
from mfops.store.trust import check_state_dir, open_nofollow
from tests.gitrepo import GIT_ENV, GitRepo
from tests.promotekit import (  # noqa: F401  (fixtures)
    BROKEN_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)

CLEAN_HINT = "git rm -r --cached .mfops && rm -rf .mfops"


def host_dir(rel: Release) -> Path:
    """The server's `.mfops/<host>/` folder; a build no longer writes one (the server's
    content tags are the build state), so it is made here with an old state file in it, as
    an earlier mfops (or the test cache) leaves it."""
    folders = [p for p in (rel.root / ".mfops").iterdir() if p.is_dir() and p.name != "cache"]
    if not folders:
        folder = rel.root / ".mfops" / Host(rel.double.url).key
        folder.mkdir()
        (folder / "state.json").write_text('{"version": 1, "builds": {}}\n')
        folders = [folder]
    assert len(folders) == 1
    return folders[0]


# --------------------------------------------------------------------------- symlinks (item 1)


def test_a_symlinked_lock_does_not_truncate_a_file_outside_the_repo(rel: Release, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = rel.root / ".mfops" / "lock"
    lock.unlink()
    lock.symlink_to(victim)
    code, _, err = rel.mfops("build", "--all")
    assert code == 2
    assert "holds a symlink" in err and CLEAN_HINT in err
    assert victim.read_text() == "precious\n"


def test_a_symlinked_state_file_is_refused_and_its_target_untouched(rel: Release, tmp_path, caplog):
    victim = tmp_path / "victim.json"
    victim.write_text("precious\n")
    state = host_dir(rel) / "state.json"
    state.unlink()
    state.symlink_to(victim)
    code, _, err = rel.mfops("build", "--all")
    assert code == 2 and "holds a symlink" in err
    assert victim.read_text() == "precious\n"
    # a read-only command reads nothing there (the server and git hold the truth): it
    # answers, and the target stays untouched
    for _ in range(2):
        code, out, err = rel.mfops("status")
        assert code == 0, out + err
    assert victim.read_text() == "precious\n"


def test_a_symlinked_host_folder_creates_nothing_outside(rel: Release, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = host_dir(rel)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)
    code, _, err = rel.mfops("build", "--all")
    assert code == 2 and "holds a symlink" in err
    assert list(outside.iterdir()) == []


def test_a_tracked_state_dir_stops_writers_with_how_to_clean_it(rel: Release):
    rel.repo.git("add", "-f", ".mfops")
    rel.repo.commit("oops: state committed")
    code, _, err = rel.mfops("build", "--all")
    assert code == 2
    assert err.strip().splitlines() == [
        f"mfops: {rel.root / '.mfops'}: is tracked by git; mfops keeps only local state "
        f"there and will not use it (remove it: {CLEAN_HINT})"
    ]


def test_check_state_dir_answers_for_readers_and_writers(tmp_path: Path, caplog):
    repo = GitRepo(tmp_path / "r")
    assert check_state_dir(repo.root, writer=True)  # absent: fine
    (repo.root / ".mfops").mkdir()
    assert check_state_dir(repo.root, writer=True)
    (repo.root / ".mfops" / "x").symlink_to("/etc/passwd")
    with pytest.raises(UntrustedStateDir) as err:
        check_state_dir(repo.root, writer=True)
    assert err.value.exit_code == 2 and isinstance(err.value, MfopsError)
    assert check_state_dir(repo.root, writer=False) is False


def test_open_nofollow_refuses_links_in_the_state_dir(tmp_path: Path):
    state = tmp_path / ".mfops"
    (tmp_path / "elsewhere").mkdir()
    state.mkdir()
    (state / "host").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(UntrustedStateDir):
        open_nofollow(state / "host" / "state.json", os.O_WRONLY | os.O_CREAT)
    (state / "lock").symlink_to(tmp_path / "victim")
    with pytest.raises(UntrustedStateDir):
        open_nofollow(state / "lock", os.O_RDWR | os.O_CREAT)
    assert not (tmp_path / "victim").exists()
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_atomic_writer_never_writes_through_a_link_out_of_the_root(tmp_path: Path):
    root = tmp_path / "repo"
    root.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (root / "inside").write_text("old\n")
    (root / "in-link").symlink_to(root / "inside")
    (root / "out-link").symlink_to(victim)
    write_atomic(root / "in-link", "new\n", root=root)  # inside: written through
    assert (root / "inside").read_text() == "new\n" and (root / "in-link").is_symlink()
    with pytest.raises(OSError, match="outside the repository"):
        write_atomic(root / "out-link", "evil\n", root=root)
    with pytest.raises(OSError, match="symlink"):
        write_atomic(root / "out-link", "evil\n")  # no root: links are not followed at all
    assert victim.read_text() == "precious\n"
    (root / ".mfops").mkdir()
    (root / ".mfops" / "state.json").symlink_to(victim)
    with pytest.raises(UntrustedStateDir):
        write_atomic(root / ".mfops" / "state.json", "evil\n", root=root)
    assert victim.read_text() == "precious\n"


# --------------------------------------------------------------------------- forged cache (item 2)


def forge_passes(cache: Path) -> None:
    """Turn every cached assertion into a pass, as an attacker editing the file would."""
    data = json.loads(cache.read_text())
    for signed in data["entries"].values():
        for grade in signed.get("entry", signed)["assertions"]:
            grade["passed"] = True
    cache.write_text(json.dumps(data))


def failing_candidate(rel: Release) -> Path:
    """Release v1, commit the broken expert, run the gate once (it fails and caches the
    failing samples); returns the test cache."""
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    rel.commit({"expert/Modelfile": BROKEN_EXPERT}, "drop the javascript rule")
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    code, out, err = rel.mfops("gate", "--promote-to", "v2")
    assert code == 1, out + err
    cache = host_dir(rel) / "test-cache.json"
    assert cache.is_file()
    return cache


def test_a_forged_untracked_cache_entry_does_not_pass_a_case(rel: Release, caplog):
    cache = failing_candidate(rel)
    forge_passes(cache)
    code, out, err = rel.mfops("gate", "--promote-to", "v2")
    assert code == 1, out + err
    assert "not written by mfops on this machine" in caplog.text
    assert not rel.double.has_model("expert:v2")


def test_a_committed_forged_cache_does_not_promote_in_a_fresh_clone(rel: Release, tmp_path: Path):
    cache = failing_candidate(rel)
    forge_passes(cache)
    rel.repo.git("add", "-f", ".mfops")
    rel.repo.commit("forged verdicts")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(rel.root), str(clone)],
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    assert (clone / ".mfops" / cache.parent.name / "test-cache.json").is_file()
    fresh = Release(GitRepo.__new__(GitRepo), rel.double)
    fresh.repo.root = clone
    fresh.repo._commits = 0
    code, out, err = fresh.mfops("gate", "--promote-to", "v2")
    assert code == 2, out + err
    assert "is tracked by git" in err and CLEAN_HINT in err
    assert not rel.double.has_model("expert:v2")
    assert rel.double.calls.count("/api/copy") == 0 or all(
        not b["destination"].endswith(":v2") for b in rel.double.calls.bodies("/api/copy")
    )
