"""Planning without a server: selection, reasons, up-to-date checks, tags (plan.py)."""

from __future__ import annotations

import json

import pytest

from mfops.build.plan import Selection, candidate_tag, default_since, make_plan
from mfops.errors import MfopsError
from mfops.graph.revision import Revision
from mfops.repo.repository import Repo
from mfops.server.client import Host, ServerModel
from mfops.store.builds import BuildRecord, BuildState
from tests.buildkit import HIERARCHY
from tests.gitrepo import GitRepo

HOST = Host("http://127.0.0.1:11434")
LOCK = {"version": 1, "bases": {"llama3.2:3b": "sha256:" + "b" * 64}}


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    for path, text in HIERARCHY.items():
        repo.write(path, text)
    repo.write("mfops.lock", json.dumps(LOCK))
    repo.commit("init")
    return repo


def plan(repo: GitRepo, sel: Selection, *, tag="t1", state=None, listing=None):
    rev = Revision(Repo.find(explicit=repo.root), None)
    state = state or BuildState.load(repo.root / ".mfops", HOST)
    return (
        make_plan(
            rev,
            sel,
            tag=tag,
            tag_origin="--tag",
            state=state,
            listing=listing or {},
            host=HOST.display,
        ),
        rev,
        state,
    )


def built(rev: Revision, state: BuildState, names, tag="t1") -> dict[str, ServerModel]:
    """Record `names` as built at `tag` and return a listing that matches the records."""
    listing = {}
    for i, name in enumerate(names):
        manifest = f"{i:064x}"
        state.record(f"{name}:{tag}", BuildRecord(rev.digests[name], manifest))
        listing[f"{name}:{tag}"] = ServerModel(f"{name}:{tag}", manifest)
    return listing


def test_all_missing_models_in_dependency_steps(repo):
    p, _, _ = plan(repo, Selection(all=True))
    assert [(i.name, i.action, i.reason, i.step) for i in p.items] == [
        ("base", "create", "missing", 1),
        ("other", "create", "missing", 1),
        ("mid", "create", "missing", 2),
        ("leaf", "create", "missing", 3),
    ]
    assert [[i.name for i in s] for s in p.steps] == [["base", "other"], ["mid"], ["leaf"]]
    assert p.width == 2
    mid = next(i for i in p.items if i.name == "mid")
    assert (mid.parent, mid.from_) == ("base", "base:t1")


def test_up_to_date_drifted_stale(repo):
    p, rev, state = plan(repo, Selection(all=True))
    listing = built(rev, state, ["base", "mid", "leaf", "other"])
    listing["mid:t1"] = ServerModel("mid:t1", "f" * 64)  # changed by hand
    state.record("leaf:t1", BuildRecord("sha256:" + "0" * 64, listing["leaf:t1"].digest))
    p, _, _ = plan(repo, Selection(all=True), state=state, listing=listing)
    assert [i.name for i in p.up_to_date] == ["base", "other"]
    reasons = {i.name: (i.action, i.reason) for i in p.items}
    assert reasons == {"mid": ("create", "drifted"), "leaf": ("create", "stale")}
    assert "was changed on the server" in next(i.detail for i in p.items if i.name == "mid")


def test_force_rebuilds_only_what_was_selected(repo):
    p, rev, state = plan(repo, Selection(all=True))
    listing = built(rev, state, ["base", "mid", "leaf", "other"])
    p, _, _ = plan(repo, Selection(names=("leaf",), force=True), state=state, listing=listing)
    assert [(i.name, i.reason) for i in p.items] == [("leaf", "forced")]
    assert p.items[0].parent is None  # mid is up to date at t1: nothing to wait for


def test_named_model_brings_ancestors_not_at_the_tag(repo):
    p, _, _ = plan(repo, Selection(names=("leaf",)))
    assert [(i.name, i.reason) for i in p.items] == [
        ("base", "needed"),
        ("mid", "needed"),
        ("leaf", "missing"),
    ]
    assert p.items[0].detail == "parent of mid, not at t1 yet"


def test_existing_build_elsewhere_is_copied(repo):
    _, rev, state = plan(repo, Selection(all=True))
    listing = built(rev, state, ["base", "mid", "leaf", "other"], tag="old")
    p, _, _ = plan(repo, Selection(all=True), state=state, listing=listing)
    assert {i.action for i in p.items} == {"tag"}
    assert next(i for i in p.items if i.name == "mid").copy_from == "mid:old"
    p, _, _ = plan(repo, Selection(all=True, force=True), state=state, listing=listing)
    assert {i.action for i in p.items} == {"create"}


def test_changed_selects_descendants_and_explains(repo):
    repo.write("base/Modelfile", HIERARCHY["base/Modelfile"].replace("the base", "a base"))
    repo.commit("edit")
    p, _, _ = plan(repo, Selection(changed=True, explain=True))
    assert (p.since, p.since_origin) == ("HEAD~1", "HEAD~1 (no version tag reachable from HEAD^)")
    items = {i.name: i for i in p.items}
    assert set(items) == {"base", "mid", "leaf"}
    assert items["base"].explain == ("its Modelfile changed", "SYSTEM changed (own file)")
    assert items["mid"].explain == ("base changed", "SYSTEM changed (inherited from base)")
    assert items["leaf"].explain[0] == "base changed"


def test_lock_change_is_a_base_change(repo):
    lock = {"version": 1, "bases": {"llama3.2:3b": "sha256:" + "c" * 64}}
    repo.write("mfops.lock", json.dumps(lock))
    repo.commit("lock")
    p, _, _ = plan(repo, Selection(changed=True))
    reasons = {i.name: (i.reason, i.detail) for i in p.items}
    assert reasons["base"] == ("base changed", "mfops.lock entry of llama3.2:3b changed")
    assert reasons["other"] == ("base changed", "mfops.lock entry of llama3.2:3b changed")
    assert reasons["leaf"] == ("base changed", "mfops.lock entry of llama3.2:3b changed")


def test_comment_only_change_selects_nothing(repo):
    repo.write("mid/Modelfile", "# new words\n" + HIERARCHY["mid/Modelfile"])
    repo.commit("comment")
    p, _, _ = plan(repo, Selection(changed=True))
    assert p.items == ()


def test_candidate_tag_and_dirty_suffix(repo):
    r = Repo.find(explicit=repo.root)
    short = repo.git("rev-parse", "--short=7", "HEAD").strip()
    assert candidate_tag(r, "sha-{short}") == (f"sha-{short}", f"HEAD {short}")
    repo.write("notes.txt", "wip\n")
    assert candidate_tag(r, "rc-{short}")[0] == f"rc-{short}-dirty"
    with pytest.raises(MfopsError, match="bad placeholder"):
        candidate_tag(r, "sha-{nope}")


def test_default_since(repo):
    r = Repo.find(explicit=repo.root)
    assert default_since(r)[0] is None  # a single commit
    repo.commit("two")
    assert default_since(r)[0] == "HEAD~1"
    repo.tag("v1.2.0", "HEAD~1")
    repo.commit("three")
    assert default_since(r)[0] == "v1.2.0"
    repo.tag("v1.3.0")  # on HEAD itself: not reachable from HEAD^, the previous one counts
    assert default_since(r)[0] == "v1.2.0"


def test_invalid_tag_is_refused(repo):
    from mfops.build.plan import check_tag

    with pytest.raises(MfopsError, match="invalid tag"):
        check_tag("no/slash")
    with pytest.raises(MfopsError, match="reserved"):
        check_tag("cloud")
