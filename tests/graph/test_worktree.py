"""The working tree's remembered graph (graph/worktree.py): reused only while everything it
depended on is unchanged, so it can save time but never change a result.

Each check builds the graph in-process twice, once with the on-disk cache off and once with
it, and requires the same stored rows. Files written by a test are seconds younger than the
racy-git limit allows, so most tests lower that limit to zero and sleep a little between
changes (a change in the same timestamp tick is exactly what the limit guards against).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import mfops.graph.worktree as worktree_mod
import mfops.repo.sources as sources_mod
from mfops.errors import RepoError
from mfops.graph import stored
from mfops.graph.revision import Revision
from mfops.repo import cache as cache_mod
from mfops.repo.repository import Repo
from mfops.store import cache as trusted_cache  # installs the on-disk cache's guard
from mfops.store.trust import machine_key, sign

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from genrepo import generate

MEMO = cache_mod.WORKTREE_FILE


def rows(root: Path, *, cache: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    with monkeypatch.context() as m:
        if not cache:
            m.setenv("MFOPS_CACHE", "0")
        with Repo.find(root) as repo:
            return stored.dump(Revision(repo).graph)


def same_with_and_without(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    expected = rows(root, cache=False, monkeypatch=monkeypatch)
    assert rows(root, cache=True, monkeypatch=monkeypatch) == expected  # checks or refills
    assert rows(root, cache=True, monkeypatch=monkeypatch) == expected  # the memo itself
    return expected


def memo_payload(root: Path) -> dict:
    head, _, body = (root / ".mfops" / "cache" / MEMO).read_bytes().partition(b"\n")
    assert head.startswith(b"mfops-cache ")
    return json.loads(body)


def tick() -> None:
    time.sleep(0.05)  # past the filesystem's timestamp granularity


@pytest.fixture
def repo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(worktree_mod, "RACY_NS", 0)
    root = tmp_path / "repo"
    generate(root, models=40, changed=3, seed=5)
    tick()
    assert trusted_cache.TrustGuard is not None
    return root


def no_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> None:
        raise AssertionError("the tree was walked")

    monkeypatch.setattr(sources_mod, "walk_dir", refuse)


def test_a_remembered_graph_is_reused_without_walking_or_reading(repo_root, monkeypatch):
    expected = same_with_and_without(repo_root, monkeypatch)
    assert memo_payload(repo_root)["entries"]["worktree"]["graph"] == expected
    no_walk(monkeypatch)
    with Repo.find(repo_root) as repo:
        rev = Revision(repo)
        assert stored.dump(rev.graph) == expected
        assert "snapshot" not in rev.__dict__
        # nothing was looked up in the parse cache yet; a Modelfile used is found there
        node = rev.graph.nodes["m00007"]
        assert "_resolve" in node.model.modelfile.__dict__
        assert node.model.modelfile.of("FROM")[0].value == node.base.arg
        assert node.model.modelfile.nodes


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def _edit_keeping_size_and_mtime(root: Path) -> None:
    path = _first(root, "models/*/*.Modelfile")
    st = path.stat()
    text = path.read_text()
    path.write_text(text.replace("temperature 0.", "temperature 1.", 1))
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _dir_where_from_names_a_model(root: Path) -> None:
    for path in sorted(root.glob("models/*/dirs/*/Modelfile")):
        parent = next(
            line.split()[1] for line in path.read_text().splitlines() if line.startswith("FROM")
        )
        if parent.startswith("m"):
            (path.parent / parent).mkdir()
            return
    raise AssertionError("no model FROM a repo model")


def _listed(root: Path) -> None:
    path = _first(root, "models/*/*.Modelfile").relative_to(root).as_posix()
    (root / "mfops.yaml").write_text(
        f"models:\n  listed:\n    modelfile: {path}\n    description: now listed\n"
    )


def _renamed(root: Path) -> None:
    path = _first(root, "models/*/*.Modelfile")
    path.rename(path.with_name("renamed.Modelfile"))


def _new_folder(root: Path) -> None:
    (root / "models/new/n2").mkdir(parents=True)
    (root / "models/new/n2/Modelfile").write_text("FROM m00004\nSYSTEM hi\n")


CHANGES = {
    "a new model in an existing folder": lambda r: (r / "models/sales/n1.Modelfile").write_text(
        "FROM m00003\n"
    ),
    "a new folder with a model": _new_folder,
    "a model removed": lambda r: _first(r, "models/*/*.Modelfile").unlink(),
    "a model renamed": _renamed,
    "an edit keeping size and mtime": _edit_keeping_size_and_mtime,
    "mfops.yaml lists a model under another name": _listed,
    "a folder becomes a nested repository": lambda r: (
        _first(r, "models/*/dirs/*/Modelfile").parent / ".git"
    ).mkdir(),
    "a folder appears where a FROM names a model": _dir_where_from_names_a_model,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_to_what_the_graph_read_is_seen(repo_root, monkeypatch, change):
    before = same_with_and_without(repo_root, monkeypatch)
    tick()
    CHANGES[change](repo_root)
    tick()
    try:
        expected = rows(repo_root, cache=False, monkeypatch=monkeypatch)
    except Exception as err:  # the change made the tree invalid: so must the cached run
        with pytest.raises(type(err)):
            rows(repo_root, cache=True, monkeypatch=monkeypatch)
        return
    assert expected != before
    assert rows(repo_root, cache=True, monkeypatch=monkeypatch) == expected


def test_a_symlink_probed_is_checked_again(repo_root, monkeypatch):
    model = next(repo_root.glob("models/*/dirs/*/Modelfile"))
    (repo_root / "weights").mkdir()
    (repo_root / "weights" / "a.gguf").write_bytes(b"GGUF one")
    (repo_root / "weights" / "b.gguf").write_bytes(b"GGUF two")
    (model.parent / "w.gguf").symlink_to(repo_root / "weights" / "a.gguf")
    model.write_text("FROM ./w.gguf\n")
    tick()
    before = same_with_and_without(repo_root, monkeypatch)
    assert memo_payload(repo_root)["entries"]["worktree"]["probes"]
    tick()
    (model.parent / "w.gguf").unlink()
    (model.parent / "w.gguf").symlink_to("../../../../weights/b.gguf")
    tick()
    after = same_with_and_without(repo_root, monkeypatch)
    assert after != before


def test_nothing_modified_within_the_racy_limit_is_remembered(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    generate(root, models=10, changed=1, seed=2)  # written just now
    same_with_and_without(root, monkeypatch)
    assert not (root / ".mfops" / "cache" / MEMO).exists()


def test_files_outside_the_repository_keep_the_graph_from_being_remembered(
    repo_root, monkeypatch, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.gguf").write_bytes(b"GGUF")
    (repo_root / "mfops.yaml").write_text(f"allow_paths: [{outside}]\nmodels: {{}}\n")
    next(repo_root.glob("models/*/*.Modelfile")).write_text(f"FROM {outside}/w.gguf\n")
    tick()
    same_with_and_without(repo_root, monkeypatch)
    assert not (repo_root / ".mfops" / "cache" / MEMO).exists()


def test_a_memo_of_another_version_or_malformed_is_ignored(repo_root, monkeypatch):
    expected = same_with_and_without(repo_root, monkeypatch)
    path = repo_root / ".mfops" / "cache" / MEMO
    data = memo_payload(repo_root)
    entry = data["entries"]["worktree"]
    graph = entry["graph"]  # columns (graph/stored.py): a well-formed forgery
    forged = {**graph, "path": ["models/forged.Modelfile", *graph["path"][1:]]}
    variants = [
        {**data, "mfops": "0.0.0-other", "entries": {"worktree": {**entry, "graph": forged}}},
        {**data, "format": cache_mod.CACHE_FORMAT + 1},
        {**data, "entries": {"worktree": {**entry, "version": 99, "graph": forged}}},
        {**data, "entries": {"worktree": {**entry, "dirs": {"": [1, 2]}}}},
        {**data, "entries": {"worktree": {**entry, "files": "no"}}},
        {**data, "entries": {"worktree": {**entry, "graph": [["m", 1]]}}},
        {**data, "entries": {"worktree": {**entry, "root": "elsewhere", "graph": forged}}},
    ]
    for variant in variants:
        body = json.dumps(variant).encode()
        path.write_bytes(b"mfops-cache " + sign(machine_key(), body).encode() + b"\n" + body)
        assert rows(repo_root, cache=True, monkeypatch=monkeypatch) == expected, variant
    path.write_bytes(b"mfops-cache x\n{garbage")
    assert rows(repo_root, cache=True, monkeypatch=monkeypatch) == expected
    # signed with another key: a forged graph is not believed
    body = json.dumps({**data, "entries": {"worktree": {**entry, "graph": forged}}}).encode()
    path.write_bytes(
        b"mfops-cache " + sign(b"another machine's key, 32 bytes!", body).encode() + b"\n" + body
    )
    assert rows(repo_root, cache=True, monkeypatch=monkeypatch) == expected


def test_a_modelfile_changed_after_the_check_is_an_error_not_a_wrong_parse(repo_root, monkeypatch):
    same_with_and_without(repo_root, monkeypatch)
    # the parse cache forgets everything: a Modelfile is then read when used
    for seg in (repo_root / ".mfops" / "cache").glob("*-modelfiles-*"):
        seg.unlink()
    with Repo.find(repo_root) as repo:
        graph = Revision(repo).graph
        node = graph.nodes["m00005"]
        assert node.model.modelfile.nodes  # read from disk, same bytes: fine
        other = graph.nodes["m00006"]
        (repo_root / other.model.path).write_text("FROM llama3.2\nSYSTEM changed\n")
        with pytest.raises(RepoError, match="changed while mfops was reading"):
            other.model.modelfile.nodes  # noqa: B018


def test_concurrent_runs_leave_one_valid_memo(repo_root, monkeypatch):
    expected = rows(repo_root, cache=False, monkeypatch=monkeypatch)
    script = Path(sys.executable).parent / "mfops"
    procs = [
        subprocess.Popen(
            [str(script), "ls", "--format", "json"],
            cwd=repo_root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0] for o in outs}) == 1
    # the subprocesses keep the real racy limit: files are too young for them to remember,
    # so write the memo from threads here, all at once
    errors: list[BaseException] = []

    def build() -> None:
        try:
            assert rows(repo_root, cache=True, monkeypatch=monkeypatch) == expected
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert memo_payload(repo_root)["entries"]["worktree"]["graph"] == expected
    assert not [p for p in (repo_root / ".mfops" / "cache").iterdir() if ".tmp" in p.name]
    assert rows(repo_root, cache=True, monkeypatch=monkeypatch) == expected


def digests(root: Path, *, cache: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    with monkeypatch.context() as m:
        if not cache:
            m.setenv("MFOPS_CACHE", "0")
        with Repo.find(root) as repo:
            return Revision(repo).digests


def test_digests_are_remembered_with_the_graph_under_the_lock_text(repo_root, monkeypatch):
    expected = digests(repo_root, cache=False, monkeypatch=monkeypatch)
    assert digests(repo_root, cache=True, monkeypatch=monkeypatch) == expected
    assert memo_payload(repo_root)["entries"]["worktree"]["digests"]["values"] == expected
    no_walk(monkeypatch)
    calls: list[object] = []
    monkeypatch.setattr(
        "mfops.graph.revision.compute_digests", lambda *a, **k: calls.append(a) or {}
    )
    assert digests(repo_root, cache=True, monkeypatch=monkeypatch) == expected
    assert calls == []
    monkeypatch.undo()
    monkeypatch.setattr(worktree_mod, "RACY_NS", 0)
    # a base locked to another digest: every model under it gets a new digest
    (repo_root / "mfops.lock").write_text(
        json.dumps({"version": 1, "bases": {"llama3.2:3b": "sha256:" + "1" * 64}})
    )
    tick()
    changed = digests(repo_root, cache=False, monkeypatch=monkeypatch)
    assert changed != expected
    assert digests(repo_root, cache=True, monkeypatch=monkeypatch) == changed
    assert digests(repo_root, cache=True, monkeypatch=monkeypatch) == changed
