"""The one-file-per-commit revisions map and lazily looked-up Modelfiles (repo/cache.py,
graph/stored.py, language/modelfile.py)."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import pytest

from mfops.fileio.bulk import frozen_loads, paused_gc
from mfops.graph.revision import Revision
from mfops.language.modelfile import Modelfile, parse
from mfops.repo import cache as cache_mod
from mfops.repo.repository import Repo
from mfops.store import cache as trusted_cache  # installs the on-disk cache's guard

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from genrepo import _git, generate


def revision_files(root: Path) -> list[Path]:
    return sorted((root / ".mfops" / "cache").glob(f"f{cache_mod.CACHE_FORMAT}-revisions-*"))


def test_each_commit_is_one_file_read_only_when_asked_for(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    generate(root, models=12, changed=2, seed=4)
    with Repo.find(root) as repo:
        v1 = Revision(repo, "v1")
        expected = (list(v1.graph.order), v1.digests)
        Revision(repo, "v2").digests  # noqa: B018
    assert len(revision_files(root)) == 2
    reads: list[Path] = []
    original = cache_mod._Disk.read

    def counting(self, path):
        reads.append(path)
        return original(self, path)

    monkeypatch.setattr(cache_mod._Disk, "read", counting)
    with Repo.find(root) as repo:
        again = Revision(repo, "v1")
        assert (list(again.graph.order), again.digests) == expected
    assert [p for p in reads if "-revisions-" in p.name] == [
        p for p in revision_files(root) if p.name.endswith(f"{again.revision_key()[7:]}.json")
    ]


def test_at_most_max_revisions_commits_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "MAX_REVISIONS", 3)
    root = tmp_path / "repo"
    generate(root, models=5, changed=1, seed=4)
    model = sorted(root.glob("models/**/*Modelfile"))[0]
    for i in range(5):
        model.write_text(model.read_text() + f"# {i}\n")
        _git(root, "commit", "-qam", f"c{i}")
        _git(root, "tag", f"t{i}")
        with Repo.find(root) as repo:
            Revision(repo, f"t{i}").digests  # noqa: B018
        time.sleep(0.02)  # distinct mtimes: the oldest is removed first
    assert len(revision_files(root)) == 3
    with Repo.find(root) as repo:  # the newest are the ones kept
        kept = {p.name for p in revision_files(root)}
        for i in (2, 3, 4):
            key = Revision(repo, f"t{i}").revision_key()
            assert f"f{cache_mod.CACHE_FORMAT}-revisions-{key[7:]}.json" in kept
    assert trusted_cache.TrustGuard is not None


def test_a_lazy_modelfile_is_the_parse_it_stands_for():
    text = "# a model\r\nFROM llama3.2\r\nPARAMETER temperature 0.5\r\nSYSTEM hi\r\n"
    real = parse(text, path="m/Modelfile")
    looked: list[int] = []

    def resolve() -> Modelfile:
        looked.append(1)
        return parse(text, path="m/Modelfile")

    lazy = Modelfile.lazy(resolve, path="m/Modelfile", newline=real.newline)
    assert lazy.path == "m/Modelfile" and lazy.newline == "\r\n" and looked == []
    assert lazy.of("FROM")[0].value == "llama3.2"
    assert looked == [1]
    assert lazy == real and lazy.nodes == real.nodes
    assert lazy.parameters() == real.parameters() and lazy.header == real.header
    assert looked == [1]  # looked up once


def test_a_lazy_modelfile_of_a_deferred_one_stays_deferred_for_the_graph():
    real = parse("FROM base\nSYSTEM x\n", path="p")
    graph = {"FROM": real.of("FROM")}
    decoded: list[int] = []

    def load():
        decoded.append(1)
        return real.nodes

    deferred = Modelfile.deferred(load, path="p", newline="\n", graph=graph)
    lazy = Modelfile.lazy(lambda: deferred, path="p", newline="\n")
    assert lazy.of("FROM") == real.of("FROM") and decoded == []
    assert lazy.of("SYSTEM") == real.of("SYSTEM") and decoded == [1]


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_gc_restores_the_collector_as_found(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with paused_gc():
            assert not gc.isenabled()
            with paused_gc():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(KeyError), paused_gc():
            raise KeyError("x")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


class _Cyclic:
    def __init__(self) -> None:
        self.me = self


def test_bulk_loads_freeze_what_they_built_only_inside_frozen_loads():
    """Inside `frozen_loads` what a bulk load built is set aside from later collections
    (they do not walk it again); once it ends, a cycle among it that became garbage is
    collected again. Outside, nothing is frozen."""
    import weakref

    was = gc.isenabled()
    try:
        gc.enable()
        with paused_gc():
            ref = weakref.ref(_Cyclic())
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert ref() is None
        with frozen_loads():
            with paused_gc():
                ref = weakref.ref(_Cyclic())
            assert gc.get_freeze_count() > 0
            gc.collect()
            assert ref() is not None  # frozen: the collector does not see it
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()


def test_a_cold_worktree_load_reads_each_modelfile_without_a_separate_stat(tmp_path, monkeypatch):
    """With no stat data known there is nothing to look a file up by: each Modelfile's
    stat data comes from the descriptor it is read through, and is what the worktree memo
    records. Once stat data is known, files are looked up by it again (a warm run)."""
    import os

    from mfops.repo.sources import WorktreeSource

    root = tmp_path / "repo"
    generate(root, models=8, changed=1, seed=6)
    statted: list[str] = []
    real_stat = os.stat

    def counting(path, *args, **kwargs):
        if str(path).endswith("Modelfile"):
            statted.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting)
    with Repo.find(root) as repo:
        snapshot = repo.snapshot(None)
        models = snapshot.models
        assert statted == []
        source = snapshot.source
        assert isinstance(source, WorktreeSource)
        for model in models.values():
            st = source.file_stats[model.path]
            assert (st.st_ino, st.st_size, st.st_mtime_ns) == (
                real_stat(root / model.path).st_ino,
                real_stat(root / model.path).st_size,
                real_stat(root / model.path).st_mtime_ns,
            )
        for model in models.values():  # what a stat lookup finds from now on
            repo.cache.put_stat(model.path, source.file_stats[model.path], model.blob, 1 << 62)
        again = repo.snapshot(None)
        assert {n: m.blob for n, m in again.models.items()} == {
            n: m.blob for n, m in models.items()
        }
        assert len(statted) == len(models)
