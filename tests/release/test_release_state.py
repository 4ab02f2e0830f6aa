"""Release state a team and CI share: the server and git are the truth, `.mfops/` a cache.

Two clones of one bare remote, against one double spelled two ways (`127.0.0.1` and
`localhost`): they agree on status, the second builds nothing, sees the first's releases
after a fetch, cannot move a release tag with `build`, cannot release a dirty build, and a
failed release gate is on record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    BROKEN_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)

FETCH = "+refs/mfops/history:refs/mfops/remotes/origin"


def clone(tmp_path: Path, rel: Release, remote: Path, name: str) -> Release:
    path = tmp_path / name
    subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True)
    return Release(GitRepo(path), rel.double)


@pytest.fixture
def team(tmp_path: Path, rel: Release) -> tuple[Release, Release, Path]:
    """`rel` (built at its candidate) pushed to a bare remote, and a second, fresh clone."""
    remote = tmp_path / "origin.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True
    )
    rel.repo.git("remote", "add", "origin", str(remote))
    rel.repo.git("push", "-q", "origin", "main")
    return rel, clone(tmp_path, rel, remote, "second"), remote


def localhost(rel: Release) -> dict[str, str]:
    return {"OLLAMA_HOST": f"http://localhost:{rel.double.url.rsplit(':', 1)[1]}/"}


def status_of(ws: Release, **env: str) -> dict[str, str]:
    code, out, err = ws.mfops("status", "--format", "json", env=env or None)
    assert code == 0, err
    return {m["model"]: m["status"] for m in json.loads(out)["models"]}


def test_two_clones_agree_and_the_second_builds_nothing(team):
    first, second, _ = team
    assert status_of(first) == {"base": "up to date", "expert": "up to date"}
    assert status_of(second, **localhost(first)) == status_of(first)
    first.double.calls.reset()
    code, out, err = second.mfops("build", "--all", "--format", "json", env=localhost(first))
    assert code == 0, err
    assert {m["action"] for m in json.loads(out)["models"]} == {"up to date"}
    assert first.double.calls.count("/api/create") == 0
    assert first.double.calls.count("/api/copy") == 0
    shutil.rmtree(first.root / ".mfops")  # a cache: losing it changes nothing
    assert status_of(first) == {"base": "up to date", "expert": "up to date"}


def test_the_second_clone_sees_the_first_clones_releases_after_a_fetch(team):
    first, second, _ = team
    first.ok("promote", "--all", "--to", "v1.0", "--alias", "latest")
    first.repo.git("push", "-q", "origin", "refs/mfops/history")
    assert second.ok("history") == "no releases recorded (refs/mfops/history)\n"
    second.repo.git("fetch", "-q", "origin", FETCH)
    [entry] = json.loads(second.ok("history", "--format", "json", env=localhost(first)))
    assert entry["outcome"] == "promoted" and entry["to"] == "v1.0"
    assert entry["commit"] == first.repo.git("rev-parse", "HEAD").strip()
    assert entry["dirty"] is False and entry["host"] == first.double.url
    assert entry["tests"]["passed"] == 4
    # and the second clone now knows v1.0 and latest are release tags
    code, _, err = second.mfops("build", "--all", "--tag", "latest")
    assert code == 2 and "release tag or alias" in err


def test_two_clones_releasing_at_once_lose_no_record(team):
    first, second, _ = team
    first.ok("promote", "base", "--to", "v1.0")
    second.ok("promote", "expert", "--to", "v1.1", env=localhost(first))
    for clone_ in (first, second, first):
        clone_.ok("history", "--sync", "origin")
    for clone_ in (first, second):
        assert sorted(e["to"] for e in json.loads(clone_.ok("history", "--format", "json"))) == [
            "v1.0",
            "v1.1",
        ]


@pytest.mark.parametrize("tag", ["v1.1", "v2.0.3", "latest", "LATEST", "V3.1", "V2.0.3"])
def test_build_never_moves_a_release_tag(rel: Release, tag: str):
    """Ollama resolves tags case-insensitively (`m:V3.1` is `m:v3.1` on the server, seen on
    v0.24 and v0.33), so the shape of a release tag is too."""
    rel.double.calls.reset()
    code, out, err = rel.mfops("build", "--all", "--tag", tag)
    assert code == 2 and out == ""
    assert f"tag {tag!r} is a release tag or alias: only promote and rollback move it" in err
    assert "mfops promote --all --to" in err
    assert rel.double.calls.count("/api/create") == rel.double.calls.count("/api/copy") == 0
    code, _, err = rel.mfops("gate", "--candidate-tag", tag)
    assert code == 2 and "release tag or alias" in err


def test_a_recorded_alias_is_a_release_tag_too(rel: Release):
    rel.ok("promote", "--all", "--to", "v1.0", "--alias", "prod")
    code, _, err = rel.mfops("build", "--all", "--tag", "prod")
    assert code == 2 and "'prod' is a release tag or alias" in err
    assert rel.mfops("build", "--all", "--tag", "rc1")[0] == 0  # any other tag is fine
    code, _, err = rel.mfops("build", "--all", "--tag", "mf-000000000000")
    assert code == 2 and "is a content tag" in err


def test_a_dirty_candidate_is_not_released_unless_allowed(rel: Release):
    rel.repo.write("expert/Modelfile", BETTER_EXPERT)  # uncommitted
    rel.ok("build", "--all")
    dirty = rel.tag() + "-dirty"
    code, _, err = rel.mfops("promote", "--all", "--to", "v1.0")  # HEAD's candidate: dirty
    assert code == 1 and f"{dirty} was built from uncommitted changes" in err
    assert "--allow-dirty" in err and not rel.double.has_model("expert:v1.0")
    refused = rel.history()[-1]
    assert (refused["outcome"], refused["dirty"], refused["from"]) == ("refused", True, dirty)
    out = rel.ok("promote", "--all", "--to", "v1.0", "--allow-dirty")
    assert "recorded as dirty" in out
    promoted = rel.history()[-1]
    assert (promoted["outcome"], promoted["dirty"]) == ("promoted", True)
    assert promoted["commit"] == rel.repo.git("rev-parse", "HEAD").strip()


def test_promote_from_defaults_to_heads_candidate(rel: Release):
    out = rel.ok("promote", "--all", "--to", "v1.0")
    assert f"expert:v1.0 -> expert:{rel.tag()}" in out


def test_dry_runs_plan_and_record_nothing(rel: Release):
    rel.double.calls.reset()
    out = rel.ok("promote", "--all", "--to", "v1.0", "--alias", "latest", "--dry-run")
    assert out.startswith("Dry run of promote (nothing is tested, moved or recorded):")
    manifest = rel.double.digest(f"expert:{rel.tag()}")[:12]
    assert f"  expert:v1.0: absent -> {manifest}  (copy of expert:{rel.tag()})" in out
    assert f"suites would run for: base:{rel.tag()}, expert:{rel.tag()}" in out
    assert rel.double.calls.count("/api/copy") == rel.double.calls.count("/api/chat") == 0
    assert rel.history() == []
    rel.ok("promote", "--all", "--to", "v1.0", "--alias", "latest")
    v1 = rel.double.digest("expert:v1.0")
    rel.commit({"expert/Modelfile": BETTER_EXPERT})
    rel.ok("build", "--all")
    rel.ok("promote", "--all", "--to", "v1.1", "--alias", "latest")
    out = rel.ok("rollback", "expert", "--to", "v1.0", "--dry-run")
    assert f"expert:latest: {rel.double.digest('expert:v1.1')[:12]} -> {v1[:12]}" in out
    assert rel.double.digest("expert:latest") != v1  # nothing moved
    code, out, err = rel.mfops("gate", "--promote-to", "v1.2", "--all", "--dry-run")
    assert code == 0, err
    assert f"expert:v1.2 absent -> expert:{rel.tag()}" in out and "dry run: would move" in out
    assert "would run against" in out and out.rstrip().endswith("gate passed (dry run)")
    assert [e["kind"] for e in rel.history()] == ["promote", "promote"]


def test_release_scope_is_what_was_actually_released(rel: Release):
    """The gate's default base is the commit of the last successful release per the records,
    so a failed release's changes stay in the next release's scope."""
    rel.commit({"README.md": "docs\n"})
    code, out, _ = rel.mfops("gate", "--promote-to", "v1.0")
    assert code == 0 and "base: no release recorded and no version tag: every model" in out
    released = rel.repo.git("rev-parse", "HEAD").strip()
    rel.commit({"expert/Modelfile": BROKEN_EXPERT}, "break")
    code, out, _ = rel.mfops("gate", "--promote-to", "v1.1")
    assert code == 1
    assert f"last release per the records (v1.0 at {released[:12]})" in out
    assert rel.history()[-1]["stage"] == "test"
    rel.commit({"README.md": "more docs\n"}, "docs only")  # the fix is still to come
    code, out, _ = rel.mfops("gate", "--promote-to", "v1.1")
    assert code == 1 and "gate failed" in out + rel.mfops("history")[1]
    assert rel.history()[-1]["models"][0]["name"] == "expert"  # still in scope


def test_an_input_error_is_never_recorded(rel: Release):
    code, _, err = rel.mfops("gate", "--promote-to", "v1.0", "--since", "no-such-ref")
    assert code == 2 and "unknown ref" in err
    assert rel.history() == []


@pytest.mark.parametrize(
    ("spelling", "identity"),
    [
        ("localhost", "http://127.0.0.1:11434"),
        ("http://localhost:11434/", "http://127.0.0.1:11434"),
        ("http://[::1]:11434", "http://127.0.0.1:11434"),
        ("user:secret@127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("https://user:pw@LOCALHOST", "https://127.0.0.1:443"),
        ("Ollama.Example.com/base/", "http://ollama.example.com:11434/base"),
        ("http://localhost", "http://127.0.0.1:80"),  # the client connects to port 80
    ],
)
def test_one_spelling_keys_a_host(spelling: str, identity: str):
    from mfops.server.hosts import Host, host_identity, normalize_host

    assert host_identity(spelling) == identity
    host = Host(normalize_host(spelling))
    assert host.identity == identity
    assert "secret" not in host.key and "pw" not in host.key
