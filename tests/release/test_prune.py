"""`mfops prune`: candidate tags nothing needs are deleted; releases, HEAD's candidate and
the newest N are kept (real git repo, Ollama double, the real CLI in-process)."""

from __future__ import annotations

import json

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


def test_prune_keeps_head_releases_and_the_newest(rel: Release):
    c1, c2, c3, c4, c5 = five_candidates(rel)
    before_base = on_server(rel, "base")
    code, out, err = rel.mfops("prune", "--keep", "1", "--yes")
    assert code == 0, out + err
    expert = on_server(rel, "expert")
    assert {c1, c4, c5, "v1", "latest", "mine"} <= expert  # release-held, newest 1, HEAD
    assert not {c2, c3} & expert
    assert on_server(rel, "base") == before_base  # every base candidate holds base:v1
    assert f"keep          expert:{c5}  HEAD's candidate" in out
    assert f"expert:{c1}  a release tag or alias holds it" in out
    assert f"expert:{c4}  among the newest 1" in out
    assert f"delete        expert:{c2}  older" in out
    assert out.rstrip().endswith("deleted 2 tag(s)")
    assert sorted(b["model"] for b in rel.double.calls.bodies("/api/delete")) == sorted(
        [f"expert:{c2}", f"expert:{c3}"]
    )
    code, out, _ = rel.mfops("prune", "--keep", "1", "--yes")
    assert code == 0 and "nothing to prune" in out


def test_dry_run_and_json_delete_nothing(rel: Release):
    _, c2, c3, *_ = five_candidates(rel)
    code, out, _ = rel.mfops("prune", "--keep", "1", "--dry-run", "--format", "json")
    assert code == 0
    data = json.loads(out)
    doomed = sorted(t["tag"] for t in data["tags"] if t["action"] == "delete")
    assert data["dry_run"] is True and doomed == sorted([c2, c3])
    assert rel.double.calls.count("/api/delete") == 0
    code, out, _ = rel.mfops("prune", "--keep", "1", "--dry-run")
    assert f"would delete  expert:{c2}  older" in out
    assert "2 tag(s) would be deleted (--dry-run: nothing was)" in out


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
