"""`GitStore.iter_blobs`: many blobs streamed from one `git cat-file --batch`, in order.

Snapshots at a commit read their Modelfiles through it and parse each blob while git reads
the next; these tests check what it yields against git's own `cat-file blob`, that a missing
object is a RepoError naming it, and that leaving the loop early stops git.
"""

from __future__ import annotations

import subprocess

import pytest

from mfops.errors import RepoError
from mfops.repo.gitstore import GitStore
from tests.gitrepo import GitRepo


def blob_ids(repo: GitRepo, count: int) -> list[str]:
    for i in range(count):
        # sizes from 0 up, binary and empty content included
        repo.write(f"f{i:03d}.bin", bytes((i * 7 + j) % 256 for j in range(i * 97)))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "blobs")
    listing = repo.git("ls-tree", "HEAD")
    return [line.split()[2] for line in listing.splitlines()]


def test_blobs_stream_in_order_and_as_git_reads_them(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    shas = blob_ids(repo, 60)
    store = GitStore(repo.root)
    expected = [
        subprocess.run(
            ["git", "cat-file", "blob", sha], cwd=repo.root, capture_output=True, check=True
        ).stdout
        for sha in shas
    ]
    twice = shas + shas[::-1]  # repeated ids, more input than a pipe holds is fine too
    assert list(store.iter_blobs(twice)) == expected + expected[::-1]
    assert store.read_blobs(shas) == expected
    assert list(store.iter_blobs([])) == []


def test_a_missing_object_is_named(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    shas = blob_ids(repo, 3)
    missing = "0" * 40
    blobs = GitStore(repo.root).iter_blobs([shas[0], missing, shas[1]])
    next(blobs)
    with pytest.raises(RepoError, match=f"git object {missing} is missing"):
        next(blobs)


def test_leaving_the_loop_early_stops_git(tmp_path, monkeypatch):
    repo = GitRepo(tmp_path / "repo")
    shas = blob_ids(repo, 40)
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording)
    blobs = GitStore(repo.root).iter_blobs(shas * 200)
    next(blobs)
    blobs.close()
    assert len(started) == 1 and started[0].returncode is not None
