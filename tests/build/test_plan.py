"""Planning without a server: selection, reasons, up-to-date checks, tags (plan.py)."""

from __future__ import annotations

import json

import pytest

from mfops.build.plan import Selection, candidate_tag, default_since, make_plan
from mfops.build.tags import content_tag
from mfops.errors import MfopsError
from mfops.graph.revision import Revision
from mfops.repo.repository import Repo
from mfops.server.client import Host, ServerModel
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
    return (
        make_plan(
            rev,
            sel,
            tag=tag,
            tag_origin="--tag",
            listing=listing or {},
            host=HOST.display,
        ),
        rev,
        None,
    )


def built(rev: Revision, state: object, names, tag="t1") -> dict[str, ServerModel]:
    """A listing as a build of `names` at `tag` leaves it: each tag beside its content tag
    (`name:mf-<digest>`), both holding one manifest."""
    listing = {}
    for i, name in enumerate(names):
        manifest = f"{i:064x}"
        stamp = f"{name}:{content_tag(rev.digests[name])}"
        listing[f"{name}:{tag}"] = ServerModel(f"{name}:{tag}", manifest)
        listing[stamp] = ServerModel(stamp, manifest)
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
    assert mid.parent == "base"
    assert (
        mid.from_
        == f"base:{content_tag(Revision(Repo.find(explicit=repo.root), None).digests['base'])}"
    )


def test_up_to_date_drifted_stale(repo):
    p, rev, state = plan(repo, Selection(all=True))
    listing = built(rev, state, ["base", "mid", "leaf", "other"])
    listing["mid:t1"] = ServerModel("mid:t1", "f" * 64)  # changed by hand
    # leaf:t1 holds what an older leaf built: only that older content tag matches it
    del listing[f"leaf:{content_tag(rev.digests['leaf'])}"]
    listing["leaf:mf-000000000000"] = ServerModel("leaf:mf-000000000000", listing["leaf:t1"].digest)
    listing["other:v9"] = ServerModel("other:v9", "e" * 64)  # made by hand
    p, _, _ = plan(repo, Selection(all=True), state=state, listing=listing)
    assert [i.name for i in p.up_to_date] == ["base", "other"]
    reasons = {i.name: (i.action, i.reason) for i in p.items}
    # mid's content is still on the server (its content tag): a copy restores it
    assert reasons == {"mid": ("tag", "drifted"), "leaf": ("create", "stale")}
    assert "which mfops did not build" in next(i.detail for i in p.items if i.name == "mid")
    assert "leaf:mf-000000000000" in next(i.detail for i in p.items if i.name == "leaf")
    p, _, _ = plan(repo, Selection(names=("other",)), tag="v9", listing=listing)
    assert [(i.name, i.reason) for i in p.items] == [("other", "drifted")]


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
    mid = next(i for i in p.items if i.name == "mid")
    assert mid.copy_from == f"mid:{content_tag(rev.digests['mid'])}"
    p, _, _ = plan(repo, Selection(all=True, force=True), state=state, listing=listing)
    assert {i.action for i in p.items} == {"create"}


def test_changed_selects_descendants_and_explains(repo):
    repo.tag("v1.0")
    repo.write("base/Modelfile", HIERARCHY["base/Modelfile"].replace("the base", "a base"))
    repo.commit("edit")
    p, _, _ = plan(repo, Selection(changed=True, explain=True))
    assert (p.since, p.since_origin) == (
        "v1.0",
        "no release recorded; newest version tag reachable from HEAD^ (v1.0)",
    )
    items = {i.name: i for i in p.items}
    assert set(items) == {"base", "mid", "leaf"}
    assert items["base"].explain == ("its Modelfile changed", "SYSTEM changed (own file)")
    assert items["mid"].explain == ("base changed", "SYSTEM changed (inherited from base)")
    assert items["leaf"].explain[0] == "base changed"


def test_lock_change_is_a_base_change(repo):
    repo.tag("v1.0")
    lock = {"version": 1, "bases": {"llama3.2:3b": "sha256:" + "c" * 64}}
    repo.write("mfops.lock", json.dumps(lock))
    repo.commit("lock")
    p, _, _ = plan(repo, Selection(changed=True))
    reasons = {i.name: (i.reason, i.detail) for i in p.items}
    assert reasons["base"] == ("base changed", "mfops.lock entry of llama3.2:3b changed")
    assert reasons["other"] == ("base changed", "mfops.lock entry of llama3.2:3b changed")
    assert reasons["leaf"] == ("base changed", "mfops.lock entry of llama3.2:3b changed")


def test_comment_only_change_selects_nothing(repo):
    repo.tag("v1.0")
    repo.write("mid/Modelfile", "# new words\n" + HIERARCHY["mid/Modelfile"])
    repo.commit("comment")
    p, _, _ = plan(repo, Selection(changed=True))
    assert p.items == ()


def test_candidate_tag_and_dirty_suffix(repo):
    r = Repo.find(explicit=repo.root)
    repo.git("config", "core.abbrev", "20")  # the candidate does not follow git's abbreviation
    short = repo.git("rev-parse", "HEAD").strip()[:12]
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
    assert default_since(r, release=True) == (
        None,
        "no release recorded and no version tag: every model",
    )
    repo.tag("v1.2.0", "HEAD~1")
    repo.commit("three")
    assert default_since(r)[0] == "v1.2.0"
    repo.tag("v1.3.0")  # on HEAD itself: not reachable from HEAD^, the previous one counts
    assert default_since(r)[0] == "v1.2.0"


def test_default_since_knows_major_minor_tags(repo):
    """`v1.0` / `v1.1` (the README's own examples) are version tags: v1.10 > v1.9 > v1.1."""
    r = Repo.find(explicit=repo.root)
    repo.tag("v1.1")
    repo.commit("two")
    repo.tag("v1.9")
    repo.commit("three")
    repo.tag("v1.10")
    repo.commit("four")
    assert default_since(r)[0] == "v1.10"


def test_invalid_tag_is_refused(repo):
    from mfops.build.plan import check_tag

    with pytest.raises(MfopsError, match="invalid tag"):
        check_tag("no/slash")
    with pytest.raises(MfopsError, match="reserved"):
        check_tag("cloud")
