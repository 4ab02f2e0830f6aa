"""The parse and digest cache (repo/cache.py, trusted through store/cache.py): it may only
save time, never change a result.

Every comparison runs the installed `mfops` twice on the same repository, once with the
on-disk cache off (MFOPS_CACHE=0) and once with it (cold, then warm), and requires the same
output, also after edits, renames, new and removed models and files touched without a change.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

import mfops.graph.revision as revision_mod
import mfops.repo.repository as repository
from mfops.errors import MfopsError, UntrustedStateDir
from mfops.repo import cache as cache_mod
from mfops.repo.repository import Repo
from mfops.store import cache as trusted_cache  # installs the on-disk cache's guard
from mfops.store.trust import check_state_dir, machine_key, sign

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from genrepo import generate

COMMANDS = [
    ("ls", "--format", "json"),
    ("ls", "--ref", "v2", "--format", "json"),
    ("digest", "--json"),
    ("digest", "--ref", "v1", "--json"),
    ("digest", "--ref", "v2", "--json"),
    ("diff", "v1", "v2", "--format", "json"),
    ("diff", "v1", "v2", "--declared", "--format", "json"),
    ("diff", "v1", "v2", "--format", "markdown"),
    ("diff", "v1", "v2"),
    ("diff", "v1", "--format", "json"),
    ("graph", "--format", "json"),
]


def age(root: Path, seconds: float = 60) -> None:
    """Date every file back, so that its stat data is old enough to be trusted."""
    past = time.time() - seconds
    for path in root.rglob("*"):
        if ".git" not in path.parts and ".mfops" not in path.parts and path.is_file():
            os.utime(path, (past, past))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "repo"
    generate(root, models=150, changed=12, seed=3)
    age(root)
    return root


def outputs(run_mfops, root: Path, *, cache: bool) -> dict[tuple[str, ...], str]:
    env = {} if cache else {"MFOPS_CACHE": "0"}
    found = {}
    for args in COMMANDS:
        done = run_mfops(*args, cwd=root, env=env)
        assert done.returncode == 0, (args, done.stderr)
        found[args] = done.stdout
    return found


def segments(root: Path) -> list[Path]:
    return sorted((root / ".mfops" / "cache").glob("*.json"))


def read_segment(path: Path) -> dict:
    """A segment's JSON payload (after its signature line)."""
    head, _, body = path.read_bytes().partition(b"\n")
    assert head.startswith(b"mfops-cache ")
    return json.loads(body)


def write_segment(path: Path, data: dict, key: bytes | None = None) -> None:
    """Write a segment signed with `key` (default: this machine's, as mfops would)."""
    body = json.dumps(data).encode()
    mac = sign(key if key is not None else machine_key(), body)
    path.write_bytes(b"mfops-cache " + mac.encode() + b"\n" + body)


PREFIX = f"f{cache_mod.CACHE_FORMAT}"


def test_results_are_identical_with_and_without_the_cache(run_mfops, generated):
    root = generated
    without = outputs(run_mfops, root, cache=False)
    assert not segments(root)  # MFOPS_CACHE=0 writes nothing
    assert outputs(run_mfops, root, cache=True) == without  # cold: fills the cache
    assert segments(root)
    assert outputs(run_mfops, root, cache=True) == without  # warm

    # an edit that keeps the size and the mtime (only ctime and content change)
    edited = next(root.glob("models/*/*.Modelfile"))
    st = edited.stat()
    text = edited.read_text()
    edited.write_text(text.replace("temperature 0.", "temperature 1.", 1))
    assert edited.stat().st_size == st.st_size
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
    # a rename, a file touched without a change, a new model, a removed one
    moved = next(root.glob("models/*/dirs/*/Modelfile"))
    moved.rename(moved.parent / f"{moved.parent.name}.Modelfile")
    touched = sorted(root.glob("models/*/*.Modelfile"))[-1]
    os.utime(touched, (time.time() - 30, time.time() - 30))
    (root / "models" / "new").mkdir()
    (root / "models" / "new" / "fresh.Modelfile").write_text("FROM m00001\nSYSTEM new\n")
    removed = sorted(root.glob("models/*/*.Modelfile"))[0]
    if removed != edited:
        removed.unlink()

    without = outputs(run_mfops, root, cache=False)
    assert outputs(run_mfops, root, cache=True) == without
    age(root)  # now old enough for the stat data to be kept
    assert outputs(run_mfops, root, cache=True) == without
    assert outputs(run_mfops, root, cache=True) == without
    assert '"fresh"' in without[("ls", "--format", "json")]
    # ctime cannot be dated back: wait until every file and folder is old enough for the
    # working tree's graph (and digests) to be remembered (graph/worktree.py), then reuse it
    time.sleep(2.1)
    memo = root / ".mfops" / "cache" / cache_mod.WORKTREE_FILE
    memo.unlink(missing_ok=True)
    assert outputs(run_mfops, root, cache=True) == without
    assert memo.exists() and b'"digests"' in memo.read_bytes()
    written = memo.stat().st_mtime_ns
    assert outputs(run_mfops, root, cache=True) == without
    assert memo.stat().st_mtime_ns == written  # reused as it was: nothing to remember anew


def test_a_warm_run_reads_and_parses_nothing(generated, monkeypatch):
    root = generated
    with Repo.find(root) as repo:
        repo.snapshot(None).models  # noqa: B018  (fills the cache)
        repo.snapshot("v2").models  # noqa: B018
    parsed: list[str | None] = []
    real = cache_mod.Modelfile  # parse() is what a miss calls; count through the loader

    original = repository.parse

    def counting(data, *, path=None):
        parsed.append(path)
        return original(data, path=path)

    monkeypatch.setattr(repository, "parse", counting)
    with Repo.find(root) as repo:
        models = repo.snapshot(None).models
        assert models and parsed == []
        assert repo.snapshot("v2").models and parsed == []
        # the graph needs no decoded nodes: cached Modelfiles stay deferred
        assert all("nodes" not in m.modelfile.__dict__ for m in models.values())
        loaded, added, _ = repo.cache.counts()["modelfiles"]
        assert loaded >= len(models) and added == 0
    assert real is not None and trusted_cache.TrustGuard is not None


def test_between_two_refs_only_the_changed_blobs_are_parsed(tmp_path, monkeypatch):
    monkeypatch.setenv("MFOPS_CACHE", "0")  # in memory only: one process, two refs
    root = tmp_path / "repo"
    edited = generate(root, models=60, changed=5, seed=11)
    original = repository.parse
    parsed: list[str | None] = []

    def counting(data, *, path=None):
        parsed.append(path)
        return original(data, path=path)

    monkeypatch.setattr(repository, "parse", counting)
    with Repo.find(root) as repo:
        assert len(repo.snapshot("v1").models) == 60
        assert len(parsed) == 60
        parsed.clear()
        v2 = repo.snapshot("v2").models
        assert len(parsed) == 5 and all(p and p.startswith("v2:") for p in parsed)
        assert {p.split(":", 1)[1] for p in parsed if p} == {v2[n].path for n in edited}
        # reused parses carry the name of the version they are shown for
        assert all(m.modelfile.path == f"v2:{m.path}" for m in v2.values())
    assert not (root / ".mfops").exists()


def test_garbage_and_foreign_cache_files_are_ignored(run_mfops, generated):
    root = generated
    expected = outputs(run_mfops, root, cache=False)
    outputs(run_mfops, root, cache=True)  # make sure segments exist
    for path in segments(root):
        data = read_segment(path)
        if "-modelfiles-" in path.name:  # valid outline, nodes that do not decode
            data["entries"] = {k: [v[0], "[[1,2,3]", v[2]] for k, v in data["entries"].items()}
        elif "-stat-" in path.name:  # stat entries pointing at no valid blob id
            data["entries"] = {k: "not-a-blob" for k in data["entries"]}
        elif "-revisions-" in path.name:  # a commit's graph, lock and digests, malformed
            data["entries"] = {
                k: {"graph": [["m", 1]], "digests": ["no"], "lock": 5} for k in data["entries"]
            }
        else:
            data["entries"] = {k: 42 for k in data["entries"]}
        write_segment(path, data)  # signed: only the shape checks stop these
    cache_dir = root / ".mfops" / "cache"
    (cache_dir / f"{PREFIX}-modelfiles-0-truncated.json").write_text('{"format": 1, "entr')
    (cache_dir / f"{PREFIX}-digests-0-binary.json").write_bytes(bytes(range(256)))
    other = {
        "format": cache_mod.CACHE_FORMAT,
        "mfops": "0.0.0-other",
        "entries": {"0" * 40: ["\n", "[]", []]},
    }
    write_segment(cache_dir / f"{PREFIX}-modelfiles-0-other.json", other)
    assert outputs(run_mfops, root, cache=True) == expected


def test_segments_not_signed_on_this_machine_are_ignored(run_mfops, tmp_path):
    """A cache restored from elsewhere or planted in a checkout changes nothing: its
    segments do not verify under this machine's key."""
    root = tmp_path / "repo"
    generate(root, models=20, changed=2, seed=7)
    age(root)
    expected = outputs(run_mfops, root, cache=False)
    outputs(run_mfops, root, cache=True)
    forged = "sha256:" + "0" * 64
    for path in segments(root):
        data = read_segment(path)
        if "-digests-" in path.name:
            data["entries"] = {k: forged for k in data["entries"]}
        elif "-revisions-" in path.name:
            data["entries"] = {
                k: {**v, "digests": {n: forged for n in v.get("digests", {})}}
                for k, v in data["entries"].items()
            }
        write_segment(path, data, key=b"another machine's key, 32 bytes!")
    (root / ".mfops" / "cache" / f"{PREFIX}-digests-9-unsigned.json").write_text(
        json.dumps({"format": cache_mod.CACHE_FORMAT, "entries": {}})
    )
    found = outputs(run_mfops, root, cache=True)
    assert found == expected and forged not in "".join(found.values())


def test_the_cache_is_bounded(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    generate(root, models=40, changed=2, seed=5)
    age(root)
    monkeypatch.setattr(cache_mod, "MAX_ENTRIES", 30)
    monkeypatch.setattr(cache_mod, "MAX_SEGMENTS", 3)
    files = sorted(root.glob("models/**/*Modelfile"))
    for round_ in range(8):
        for path in files[round_ * 3 : round_ * 3 + 3]:  # new content each round
            path.write_text(path.read_text() + f"# round {round_}\n")
        age(root)
        with Repo.find(root) as repo:
            repo.snapshot(None).models  # noqa: B018
        names = [p.name for p in segments(root)]
        assert len([n for n in names if "-modelfiles-" in n]) <= 3
    total = 0
    for path in segments(root):
        if "-modelfiles-" in path.name:
            total += len(read_segment(path)["entries"])
    assert total <= 30 + 3 * 40  # one bounded merge plus at most two later segments


def test_files_modified_recently_are_not_trusted_by_stat(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mfops.yaml").write_text("models: {}\n")
    (root / "a.Modelfile").write_text("FROM llama3.2\n")
    with Repo.find(root) as repo:
        repo.snapshot(None).models  # noqa: B018
        assert repo.cache.counts()["stat"] == (0, 0, 0)  # written just now: racy
        assert repo.cache.counts()["modelfiles"][0] == 1  # its parse is kept by blob id


def test_a_stat_entry_newer_than_its_segment_is_ignored(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mfops.yaml").write_text("models: {}\n")
    model = root / "a.Modelfile"
    model.write_text("FROM llama3.2\n")
    age(root)
    with Repo.find(root) as repo:
        repo.snapshot(None).models  # noqa: B018
    (stat_segment,) = [p for p in segments(root) if "-stat-" in p.name]
    # pretend the segment was written before the file's mtime: the entry is racy
    past = model.stat().st_mtime - 10
    os.utime(stat_segment, (past, past))
    reads: list[bytes] = []
    original = repository.blob_id  # what the loader calls on every file it reads
    monkeypatch.setattr(repository, "blob_id", lambda data: reads.append(data) or original(data))
    with Repo.find(root) as repo:
        repo.snapshot(None).models  # noqa: B018
    assert reads == [b"FROM llama3.2\n"]
    reads.clear()
    with Repo.find(root) as repo:  # the entry written again is trusted
        repo.snapshot(None).models  # noqa: B018
    assert reads == []


@pytest.mark.parametrize("how", ["tracked", "symlink", "symlink inside"])
def test_untrusted_state_dir_is_ignored_by_readers_and_refused_to_writers(
    run_mfops, git_repo, tmp_path, how
):
    git_repo.write("a/Modelfile", "FROM llama3.2\n")
    git_repo.commit("one")
    state = git_repo.root / ".mfops"
    if how == "tracked":
        git_repo.write(".mfops/verdict.json", "{}")
        git_repo.git("add", "-f", ".mfops/verdict.json")
        git_repo.commit("forged state")
    elif how == "symlink":
        (tmp_path / "elsewhere").mkdir()
        state.symlink_to(tmp_path / "elsewhere")
    else:
        state.mkdir()
        (state / "cache").symlink_to(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_mfops("ls", cwd=git_repo.root)
    assert done.returncode == 0, done.stderr
    assert "a" in done.stdout
    assert done.stderr.count("ignoring") == 1 and "keeps only local state" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written there
    assert not list((tmp_path / "elsewhere").glob("*")) if how == "symlink" else True
    assert check_state_dir(git_repo.root, writer=False) is False
    with pytest.raises(UntrustedStateDir) as err:
        check_state_dir(git_repo.root, writer=True)
    assert isinstance(err.value, MfopsError) and err.value.exit_code == 2
    assert "will not use it" in str(err.value)


def test_a_plain_state_dir_is_trusted(git_repo):
    assert check_state_dir(git_repo.root, writer=True) is True  # absent
    (git_repo.root / ".mfops").mkdir()
    assert check_state_dir(git_repo.root, writer=True) is True


def test_a_commit_graph_and_digests_come_from_the_cache_without_reading_the_tree(generated):
    Revision = revision_mod.Revision
    with Repo.find(generated) as repo:
        first = Revision(repo, "v1")
        expected = (list(first.graph.order), first.digests, first.lock)
    with Repo.find(generated) as repo:
        again = Revision(repo, "v1")
        assert (list(again.graph.order), again.digests, again.lock) == expected
        assert "snapshot" not in again.__dict__  # no tree listing, no blob read
        assert all("nodes" not in n.model.modelfile.__dict__ for n in again.graph.nodes.values())


def test_torn_segments_are_ignored(run_mfops, generated):
    """Segments are written without fsync (repo/cache.py, `_Disk.write`): after a power
    loss a renamed segment may hold fewer bytes, or zeros where its data should be. Such a
    segment fails its signature check and is ignored: the results stay the same."""
    root = generated
    expected = outputs(run_mfops, root, cache=False)
    outputs(run_mfops, root, cache=True)
    found = segments(root)
    assert found
    for i, path in enumerate(found):
        data = path.read_bytes()
        if i % 2:
            path.write_bytes(data[: len(data) // 2])
        else:
            path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
    assert outputs(run_mfops, root, cache=True) == expected


def test_segments_are_written_atomically_without_fsync(tmp_path, monkeypatch):
    """A segment goes to a temporary file renamed into place (never half written for a
    reader), but is not synced to disk; every other atomic write still is."""
    root = tmp_path / "repo"
    generate(root, models=6, changed=1, seed=2)
    with Repo.find(root) as repo:  # the machine key and `.mfops/` itself: durable writes
        revision_mod.Revision(repo, "v1").digests  # noqa: B018
    synced: list[int] = []
    renamed: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: renamed.append(str(b)) or real_replace(a, b))
    with Repo.find(root) as repo:
        assert repo.cache.directory is not None
        revision_mod.Revision(repo, "v2").digests  # noqa: B018
    written = [p for p in renamed if "/.mfops/cache/" in p]
    assert written and all(Path(p).exists() for p in written)
    assert synced == []
    from mfops.fileio.atomic import write_atomic

    write_atomic(root / "note.txt", "x")
    assert synced
