"""`mfops prune`: candidate tags nothing needs are deleted; releases, HEAD's candidate and
the newest N are kept (real git repo, Ollama double, the real CLI in-process)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from mfops.release.prune import candidate_pattern, plan_prune, release_tags_of
from mfops.store.writerlock import WRITERS
from tests.behavekit import EXPERT_SYSTEM
from tests.promotekit import (  # noqa: F401  (fixtures)
    Release,
    release_fixture,
    seeded_fixture,
)


def five_candidates(rel: Release) -> list[str]:
    """c1 (promoted to v1 + latest), then c2..c5 (HEAD) changing only the expert."""
    tags = [rel.tag()]
    rel.ok("promote", "--all", "--from", tags[0], "--to", "v1", "--alias", "latest")
    for i in range(2, 6):
        rel.commit({"expert/Modelfile": f"FROM base\nSYSTEM {EXPERT_SYSTEM} Rule {i}.\n"})
        rel.ok("build", "--all")
        tags.append(rel.tag())
    rel.ok("build", "expert", "--tag", "mine")  # a hand-picked tag: never a candidate
    rel.double.calls.reset()
    return tags


def on_server(rel: Release, model: str) -> set[str]:
    import httpx

    body = httpx.get(f"{rel.double.url}/api/tags", timeout=10).json()
    return {m["name"].split(":", 1)[1] for m in body["models"] if m["name"].startswith(model + ":")}


def content_of(rel: Release, model: str, tag: str) -> str:
    """The content tag (mf-<12 hex>) holding what `model:tag` holds."""
    import httpx

    body = httpx.get(f"{rel.double.url}/api/tags", timeout=10).json()
    digests = {m["name"]: m["digest"] for m in body["models"]}
    want = digests[f"{model}:{tag}"]
    [found] = [
        n.split(":", 1)[1] for n, d in digests.items() if n.startswith(f"{model}:mf-") and d == want
    ]
    return found


def test_prune_keeps_head_releases_and_the_newest(rel: Release):
    c1, c2, c3, c4, c5 = five_candidates(rel)
    m2, m3 = content_of(rel, "expert", c2), content_of(rel, "expert", c3)
    kept_content = {content_of(rel, "expert", t) for t in (c1, c4, c5)}
    before_base = on_server(rel, "base")
    code, out, err = rel.mfops("prune", "--keep", "1", "--yes")
    assert code == 0, out + err
    expert = on_server(rel, "expert")
    assert {c1, c4, c5, "v1", "latest", "mine"} <= expert  # release-held, newest 1, HEAD
    assert not {c2, c3} & expert
    # their content tags went too (nothing else held those models); the others stay
    assert not {m2, m3} & expert and kept_content <= expert
    assert on_server(rel, "base") == before_base  # every base candidate holds base:v1
    assert f"keep          expert:{c5}  HEAD's candidate" in out
    assert f"expert:{c1}  a release tag or alias holds it" in out
    assert f"expert:{c4}  among the newest 1" in out
    assert f"delete        expert:{c2}  older" in out
    assert f"expert:{m2}   content tag no remaining tag holds" in out
    assert out.rstrip().endswith("deleted 4 tag(s)")
    assert sorted(b["model"] for b in rel.double.calls.bodies("/api/delete")) == sorted(
        [f"expert:{c2}", f"expert:{c3}", f"expert:{m2}", f"expert:{m3}"]
    )
    code, out, _ = rel.mfops("prune", "--keep", "1", "--yes")
    assert code == 0 and "nothing to prune" in out


def test_dry_run_and_json_delete_nothing(rel: Release):
    _, c2, c3, *_ = five_candidates(rel)
    m2, m3 = content_of(rel, "expert", c2), content_of(rel, "expert", c3)
    code, out, _ = rel.mfops("prune", "--keep", "1", "--dry-run", "--format", "json")
    assert code == 0
    data = json.loads(out)
    doomed = sorted(t["tag"] for t in data["tags"] if t["action"] == "delete")
    assert data["dry_run"] is True and doomed == sorted([c2, c3, m2, m3])
    assert rel.double.calls.count("/api/delete") == 0
    code, out, _ = rel.mfops("prune", "--keep", "1", "--dry-run")
    assert f"would delete  expert:{c2}  older" in out
    assert "4 tag(s) would be deleted (--dry-run: nothing was)" in out


def test_without_a_terminal_prune_asks_for_yes(rel: Release):
    five_candidates(rel)
    code, _, err = rel.mfops("prune", "--keep", "0")
    assert code == 2
    assert err == "mfops: not deleting without confirmation (pass --yes)\n"
    assert rel.double.calls.count("/api/delete") == 0


def test_keep_zero_still_keeps_head_and_releases(rel: Release):
    c1, c2, c3, c4, c5 = five_candidates(rel)
    rel.ok("prune", "--keep", "0", "--yes")
    expert = on_server(rel, "expert")
    assert {c1, c5} <= expert and not {c2, c3, c4} & expert


def test_prune_takes_the_writer_lock():

    assert "prune" in WRITERS


def test_candidates_are_12_hex_and_a_content_tag_goes_only_when_nothing_holds_it():
    """design-12: candidates `^sha-[0-9a-f]{12}(-dirty)?$`; a content tag stays while any
    remaining tag shares its manifest, or when it names what the repo builds now; release
    tags come from the records (here `prod`) and their shape."""
    pattern = candidate_pattern("sha-{short}")
    assert pattern.match("sha-0123456789ab") and pattern.match("sha-0123456789ab-dirty")
    assert not pattern.match("sha-0123456") and not pattern.match("mf-0123456789ab")
    held = {
        "sha-aaaaaaaaaaaa": "D1",
        "sha-bbbbbbbbbbbb": "D2",
        "mf-111111111111": "D1",
        "mf-222222222222": "D2",
        "mf-333333333333": "D3",
        "prod": "D1",
        "v2.0": "D4",
        "mf-444444444444": "D4",
    }
    plan = plan_prune(
        {"m": held},
        pattern=pattern,
        release_tags=release_tags_of([SimpleNamespace(to_tag="prod", aliases=())]),
        head_tag=None,
        keep=0,
        commit_of=lambda _hex: None,
        current={"m": "mf-333333333333"},
    )
    assert {i.tag for i in plan.deletions} == {"sha-bbbbbbbbbbbb", "mf-222222222222"}
