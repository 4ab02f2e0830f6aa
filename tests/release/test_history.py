"""The release history: records on refs/mfops/history in git, and `mfops history`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import pytest

from mfops.errors import ConfigError
from mfops.repo import history
from mfops.repo.history import Destination, Entry, ModelEntry, TestCounts
from mfops.repo.records import RecordStore
from mfops.repo.repository import Repo
from mfops.server.hosts import Host
from tests.gitrepo import GIT_ENV, GitRepo
from tests.promotekit import (  # noqa: F401  (fixtures)
    BROKEN_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)

HOST = Host("http://127.0.0.1:11434")
M1, M2 = "1" * 64, "2" * 64
D1 = "sha256:" + "d" * 64


def entry(n: int = 0, *, name: str = "bot", outcome: str = "promoted") -> Entry:
    return Entry(
        id=f"id-{n}",
        kind="promote",
        outcome=outcome,
        at=f"2026-01-01T00:00:{n % 60:02d}Z",
        host=HOST.display,
        from_tag="sha-1",
        to_tag="v1",
        aliases=("latest",),
        models=(
            ModelEntry(
                name,
                f"{name}:sha-1",
                M2,
                D1,
                "passed",
                (Destination("v1", None, M2), Destination("latest", M1, M2)),
            ),
        ),
        tests=TestCounts(2, 0, 0, 1),
        failures=(),
        reason=None,
        commit="c" * 40,
    )  # type: ignore[arg-type]


BAD_ENTRIES = [
    ({"format": 1, "id": "x"}, "record.kind: expected"),
    (
        {**entry().to_json(), "tests": {"passed": "2"}},
        "record.tests: expected an object of counts",
    ),
    (
        {
            **entry().to_json(),
            "models": [{**entry().to_json()["models"][0], "destinations": [{"tag": 1}]}],
        },
        "record.models[0].destinations[0].tag: expected a string",
    ),
    *[
        (
            {**entry().to_json(), "models": [{**entry().to_json()["models"][0], key: value}]},
            f"record.models[0].{message}",
        )
        for key, value, message in [
            ("name", 1, "name: expected a string"),
            ("source", None, "source: expected a string"),
            ("manifest", 5, "manifest: expected a string or null"),
            ("digest", [], "digest: expected a string or null"),
            ("tests", "maybe", "tests: expected 'passed' or 'failed'"),
            ("destinations", "v1", "destinations: expected a list of objects"),
            ("destinations", [1], "destinations: expected a list of objects"),
            (
                "destinations",
                [{"tag": "v1", "before": 3}],
                "destinations[0].before: expected a string or null",
            ),
            (
                "destinations",
                [{"tag": "v1"}, {"tag": "v2", "after": {}}],
                "destinations[1].after: expected a string or null",
            ),
        ]
    ],
]


@pytest.fixture
def git(tmp_path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README", "models\n")
    repo.commit("init")
    return repo


def repo_of(git: GitRepo) -> Repo:
    return Repo.find(explicit=git.root)


def _git(git: GitRepo, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=git.root,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return done.stdout.strip()


def raw_record(git: GitRepo, content: bytes, parent: str | None = None) -> str:
    """A commit holding `content` as record.json, put on refs/mfops/history by hand."""
    blob = _git(git, "hash-object", "-w", "--stdin", stdin=content.decode())
    tree = _git(git, "mktree", stdin=f"100644 blob {blob}\trecord.json\n")
    args = ["commit-tree", tree, "-m", "hand-made"] + (["-p", parent] if parent else [])
    commit = _git(git, *args)
    _git(git, "update-ref", "refs/mfops/history", commit)
    return commit


def test_records_round_trip_through_git_refs_not_files(git):
    repo = repo_of(git)
    history.append(repo, entry(1))
    history.append(repo, entry(2, name="other", outcome="refused"))
    assert history.load(repo) == [entry(1), entry(2, name="other", outcome="refused")]
    assert history.load(repo, "OTHER") == [entry(2, name="other", outcome="refused")]
    assert history.load(repo, host="http://elsewhere:11434") == []
    assert git.git("status", "--porcelain") == ""  # nothing in the working tree
    log = git.git("log", "--format=%s", "refs/mfops/history").splitlines()
    assert log == [
        "mfops promote refused: other sha-1 -> v1,latest",
        "mfops promote promoted: bot sha-1 -> v1,latest",
    ]
    shutil.rmtree(git.root / ".mfops", ignore_errors=True)
    assert len(history.load(repo_of(git))) == 2


def test_concurrent_writers_lose_no_record(git):
    """Compare-and-swap on the ref: writers racing in parallel each land every record."""

    def write(k: int) -> None:
        mine = repo_of(git)
        for n in range(8):
            history.append(mine, entry(100 * k + n))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [e.id for e in history.load(repo_of(git))]
    assert sorted(ids) == sorted(f"id-{100 * k + n}" for k in range(4) for n in range(8))


def test_two_clones_share_records_through_a_bare_remote(tmp_path, git):
    remote = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(git.root), str(remote)], check=True)
    clones = []
    for n in (1, 2):
        path = tmp_path / f"clone{n}"
        subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True)
        clones.append(Repo.find(explicit=path))
    one, two = clones
    history.append(one, entry(1))
    history.append(two, entry(2))  # both promote before either pushed
    assert RecordStore(one.store).sync("origin") == (True, 1)
    assert RecordStore(two.store).sync("origin") == (True, 1)  # fetched, merged, pushed
    RecordStore(one.store).sync("origin")
    for clone in clones:
        assert sorted(e.id for e in history.load(clone)) == ["id-1", "id-2"]


def test_a_corrupt_record_names_the_ref_and_keeps_the_history(git):
    repo = repo_of(git)
    history.append(repo, entry(1))
    good = git.git("rev-parse", "refs/mfops/history").strip()
    bad = raw_record(git, b"{not json", parent=good)
    with pytest.raises(ConfigError) as info:
        history.load(repo)
    text = str(info.value)
    assert text.startswith(f"refs/mfops/history@{bad[:12]}: corrupt release record: not valid")
    assert f"git cat-file -p {bad[:12]}:record.json" in text and "--skip-invalid" in text
    assert [e.id for e in history.load(repo, skip_invalid=True)] == ["id-1"]
    history.append(repo, entry(2))  # writing goes on, and keeps the bad one
    assert [e.id for e in history.load(repo, skip_invalid=True)] == ["id-1", "id-2"]
    assert bad in git.git("rev-list", "refs/mfops/history")


def test_a_record_from_a_newer_mfops_is_refused(git):
    data = {**entry(1).to_json(), "format": 3}
    raw_record(git, json.dumps(data).encode())
    with pytest.raises(history.NewerRecord, match="written by a newer mfops") as info:
        history.load(repo_of(git))
    assert "upgrade mfops" in str(info.value)


@pytest.mark.parametrize(("bad", "message"), BAD_ENTRIES)
def test_a_malformed_record_is_a_config_error_naming_its_key_path(git, bad, message):
    raw_record(git, json.dumps(bad).encode())
    with pytest.raises(ConfigError) as info:
        history.load(repo_of(git))
    assert message in str(info.value)


def test_a_repo_reads_each_record_once_and_a_corrupt_one_every_time(git, monkeypatch):
    """Records are parsed once per repository per process (a commit never changes; the gate
    reads the history again to promote); what did not parse is not kept."""
    repo = repo_of(git)
    history.append(repo, entry(1))
    history.append(repo, entry(2))
    read: list[int] = []
    contents = RecordStore.contents

    def counting(self: RecordStore, commits: list[str]) -> list[bytes | None]:
        read.append(len(commits))
        return contents(self, commits)

    monkeypatch.setattr(RecordStore, "contents", counting)
    first = history.load(repo)
    assert first == history.load(repo) == [entry(1), entry(2)]
    assert read == [2, 0]
    history.append(repo, entry(3))
    assert [e.id for e in history.load(repo)] == ["id-1", "id-2", "id-3"]
    assert read[-1] == 1
    good = git.git("rev-parse", "refs/mfops/history").strip()
    raw_record(git, b"{not json", parent=good)
    for _ in range(2):
        with pytest.raises(ConfigError, match="corrupt release record"):
            history.load(repo)
    assert read[-2:] == [1, 1]
    assert [e.id for e in history.load(repo_of(git), skip_invalid=True)] == ["id-1", "id-2", "id-3"]


def test_ids_sort_by_time_and_are_unique():
    a, b = history.new_id("2026-01-31T12:00:00Z"), history.new_id("2026-01-31T12:00:00Z")
    assert a.startswith("20260131T120000Z-") and a != b


# --------------------------------------------------------------------------- the command


def test_history_lists_successes_refusals_and_rollbacks_newest_first(rel: Release):
    cand = rel.tag()
    rel.ok("promote", "--all", "--from", cand, "--to", "v1", "--alias", "latest")
    broken = rel.commit({"expert/Modelfile": BROKEN_EXPERT})
    rel.ok("build", "--changed")
    assert rel.mfops("promote", "expert", "--from", broken, "--to", "v2")[0] == 1
    rel.ok("rollback", "expert", "--to", "v1")
    out = rel.ok("history")
    heads = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert [h.split()[1] for h in heads] == ["rolled", "REFUSED", "promoted"]
    assert f"REFUSED     {broken} -> v2" in heads[1]
    assert f"promoted    {cand} -> v1, latest" in heads[2]
    assert "    tests: 4 passed, 0 failed, 0 errors (0 cached)" in out
    assert f"    failed: expert:{broken}: expert/expert.test.yaml:3" in out
    assert "    reason: promotion refused: expert:" in out
    v1 = rel.double.digest("expert:v1")
    assert f"    expert:v1  absent -> {v1[:12]}  [passed]" in out

    only_base = rel.ok("history", "base")
    assert len([x for x in only_base.splitlines() if x and not x.startswith(" ")]) == 1
    data = json.loads(rel.ok("history", "expert", "--format", "json", "--limit", "2"))
    assert [e["outcome"] for e in data] == ["rolled back", "refused"]


def test_history_when_nothing_was_promoted(rel: Release):
    assert rel.ok("history") == "no releases recorded (refs/mfops/history)\n"
    assert rel.ok("history", "--format", "json") == "[]\n"
    assert rel.ok("history", "base", "--host", "http://elsewhere:1234").startswith(
        "no releases for base recorded for http://elsewhere:1234"
    )


def test_history_does_not_contact_the_server(rel: Release):
    rel.ok("promote", "base", "--from", rel.tag(), "--to", "v1")
    rel.double.calls.reset()
    rel.ok("history")
    assert rel.double.calls.all == []


def test_an_unreadable_history_exits_2_with_one_line(rel: Release):
    rel.ok("promote", "base", "--from", rel.tag(), "--to", "v1")
    tip = rel.repo.git("rev-parse", "refs/mfops/history").strip()
    bad = raw_record(rel.repo, b"[1, 2", parent=tip)
    code, _, err = rel.mfops("history")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"refs/mfops/history@{bad[:12]}: corrupt release record")
    out = rel.ok("history", "--skip-invalid")
    assert "promoted" in out


def test_history_filters_by_host_in_any_spelling(rel: Release):
    rel.ok("promote", "base", "--from", rel.tag(), "--to", "v1")
    port = rel.double.url.rsplit(":", 1)[1]
    for spelling in (f"http://localhost:{port}/", f"127.0.0.1:{port}", f"http://[::1]:{port}"):
        data = json.loads(rel.ok("history", "--host", spelling, "--format", "json"))
        assert [e["host"] for e in data] == [f"http://127.0.0.1:{port}"]
    assert rel.ok("history", "--host", "http://127.0.0.1:1", "--format", "json") == "[]\n"


def clones_of_one_remote(tmp_path, git: GitRepo, n: int = 2) -> list[Repo]:
    remote = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(git.root), str(remote)], check=True)
    out = []
    for k in range(1, n + 1):
        path = tmp_path / f"clone{k}"
        subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True)
        out.append(Repo.find(explicit=path))
    return out


def cli_history(clone: Repo, *args: str) -> list[str]:
    """The record ids `mfops history` lists, newest first (the installed CLI)."""
    from tests.conftest import installed_mfops

    done = subprocess.run(
        [installed_mfops(), "-C", str(clone.root), "history", *args, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [e["id"] for e in json.loads(done.stdout)]


def test_records_a_teammate_wrote_after_ours_are_newer_once_synced(tmp_path, git, monkeypatch):
    """Clone two had id-1; clone one wrote id-2 and id-3 on top and pushed. Two's sync used
    to make a merge commit whose first parent was its own old tip, and reading walked that
    chain first: id-2 and id-3 came out as the OLDEST records, so the newest deploy or
    promotion (status --env, rollback --env, the gate's scope) was id-1."""
    one, two = clones_of_one_remote(tmp_path, git)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1000000000 +0000")
    history.append(one, entry(1))
    cli_history(one, "--sync", "origin")
    cli_history(two, "--sync", "origin")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1000000100 +0000")
    history.append(one, entry(2))
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1000000200 +0000")
    history.append(one, entry(3))
    cli_history(one, "--sync", "origin")
    assert cli_history(two, "--sync", "origin") == ["id-3", "id-2", "id-1"]
    assert [e.id for e in history.load(two)] == ["id-1", "id-2", "id-3"]  # oldest first
    # nothing to merge: two's ref fast-forwards to one's, no merge commit in between
    assert two.store.ref_target("refs/mfops/history") == one.store.ref_target("refs/mfops/history")


def test_records_written_apart_in_two_clones_read_in_the_order_they_were_written(
    tmp_path, git, monkeypatch
):
    one, two = clones_of_one_remote(tmp_path, git)
    for clone, n, at in ((one, 1, 100), (two, 2, 200), (one, 3, 300)):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"@{1000000000 + at} +0000")
        history.append(clone, entry(n))
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1000000400 +0000")
    cli_history(one, "--sync", "origin")
    cli_history(two, "--sync", "origin")
    cli_history(one, "--sync", "origin")
    for clone in (one, two):
        assert cli_history(clone) == ["id-3", "id-2", "id-1"]
        assert [e.id for e in history.load(clone)] == ["id-1", "id-2", "id-3"]


RACE_HOOKS = {
    # the remote's ref moves right after sync's fetch: ` ! [rejected] (fetch first)`
    "before": (
        "reference-transaction",
        '[ "$1" = committed ] || exit 0\ngrep -q refs/mfops/remotes/origin || exit 0\n',
    ),
    # ... or while the push runs: `[remote rejected] (failed to update ref)`
    "during": ("pre-push", ""),
}


@pytest.mark.parametrize("when", sorted(RACE_HOOKS))
def test_a_sync_whose_push_loses_a_race_fetches_merges_and_pushes_again(tmp_path, git, when):
    """Another clone pushed its records just before (or while) sync pushed: git says so in
    the middle of its message; reading only its last line (`hint: See the 'Note about
    fast-forwards'...`, or `error: failed to push some refs to ...`) mfops took the lost
    race for an error and stopped, exit 2, where it is meant to fetch, merge and push
    again."""
    one, two = clones_of_one_remote(tmp_path, git)
    remote = tmp_path / "origin.git"
    history.append(one, entry(1))
    cli_history(one, "--sync", "origin")
    cli_history(two, "--sync", "origin")
    history.append(one, entry(2))
    theirs = one.store.ref_target("refs/mfops/history")
    subprocess.run(  # the objects on the remote; its history ref moves only in the hook
        [
            "git",
            "-C",
            str(one.root),
            "push",
            "-q",
            "origin",
            "refs/mfops/history:refs/mfops/racing",
        ],
        check=True,
    )
    history.append(two, entry(3))
    subprocess.run(  # the fetch writes it anew (a ref transaction the hook sees)
        ["git", "-C", str(two.root), "update-ref", "-d", "refs/mfops/remotes/origin"], check=True
    )
    name, guard = RACE_HOOKS[when]
    hook = two.root / ".git" / "hooks" / name
    done = tmp_path / "raced"
    hook.write_text(
        "#!/bin/sh\n"
        + guard
        + f"[ -e '{done}' ] && exit 0\n"
        + f"touch '{done}'\n"
        + f"git --git-dir='{remote}' update-ref refs/mfops/history {theirs}\n"
    )
    hook.chmod(0o755)
    assert cli_history(two, "--sync", "origin") == ["id-3", "id-2", "id-1"]
    assert done.exists()
    cli_history(one, "--sync", "origin")
    assert cli_history(one) == ["id-3", "id-2", "id-1"]


def test_sync_with_a_remote_that_is_not_one_says_what_git_said_first(tmp_path, git):
    """git's last line under a bad remote is advice ("and the repository exists.")."""
    (one,) = clones_of_one_remote(tmp_path, git, 1)
    from tests.conftest import installed_mfops

    done = subprocess.run(
        [installed_mfops(), "-C", str(one.root), "history", "--sync", "nosuch"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "mfops: git fetch failed: fatal: 'nosuch' does not appear to be a git repository"
    ]
    # a path or URL is not a remote's name: said so, not "invalid ref ... misplaced '/'"
    done = subprocess.run(
        [installed_mfops(), "-C", str(one.root), "history", "--sync", str(tmp_path / "x.git")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"mfops: invalid remote '{tmp_path / 'x.git'}': give the name of one of the "
        "repository's remotes (`git remote -v` lists them; `git remote add NAME URL` adds one)"
    ]
