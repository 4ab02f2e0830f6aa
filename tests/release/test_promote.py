"""`mfops promote` end to end: real git repos, the real CLI and suites, the double over HTTP."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    BROKEN_EXPERT,
    Release,
    fail_copies_after,
    make_release,
    release_fixture,
    seeded_fixture,
)

TAGS = ("v1", "latest")


def promote(rel: Release, *args: str) -> tuple[int, str, str]:
    return rel.mfops("promote", *args)


def released_v1(rel: Release) -> dict[str, str | None]:
    """Promote the seed build to v1 + latest; return the digests it left."""
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    rel.double.calls.reset()
    return rel.digests(("v1", "latest"))


def test_passing_candidates_are_promoted_parents_first(rel: Release):
    cand = rel.tag()
    code, out, err = promote(rel, "--all", "--from", cand, "--to", "v1", "--alias", "latest")
    assert code == 0, out + err
    assert rel.copies() == [
        (f"base:{cand}", "base:v1"),
        (f"base:{cand}", "base:latest"),
        (f"expert:{cand}", "expert:v1"),
        (f"expert:{cand}", "expert:latest"),
    ]
    for name in ("base", "expert"):
        source = rel.double.digest(f"{name}:{cand}")
        assert rel.digests(TAGS, (name,)) == {f"{name}:v1": source, f"{name}:latest": source}
    assert "4 passed, 0 failed" in out and "Promoted 2 models" in out
    # the tests ran against the candidates before any copy
    chats = rel.double.calls["/api/chat"]
    assert chats and max(c.ended for c in chats) < min(
        c.started for c in rel.double.calls["/api/copy"]
    )
    [entry] = rel.history()
    assert entry["kind"] == "promote" and entry["outcome"] == "promoted"
    assert (entry["from"], entry["to"], entry["aliases"]) == (cand, "v1", ["latest"])
    assert entry["tests"] == {"passed": 4, "failed": 0, "errors": 0, "cached": 0}
    assert entry["commit"] == rel.repo.head()
    expert = entry["models"][1]
    assert expert["name"] == "expert" and expert["tests"] == "passed"
    assert expert["manifest"] == rel.double.digest(f"expert:{cand}")
    assert expert["digest"] == json.loads(rel.ok("digest", "expert", "--json"))["expert"]
    assert entry["commit"] == rel.repo.git("rev-parse", "HEAD").strip() and entry["dirty"] is False
    assert expert["destinations"] == [
        {"tag": "v1", "before": None, "after": expert["manifest"]},
        {"tag": "latest", "before": None, "after": expert["manifest"]},
    ]
    # the records are in git, not in .mfops/: deleting it loses nothing
    shutil.rmtree(rel.root / ".mfops", ignore_errors=True)
    assert rel.history()[-1]["id"] == entry["id"]
    # and no backup tag is left behind
    assert not [n for n in rel.double.model_names() if "mfops-backup" in n]


def test_a_system_change_that_breaks_the_expert_blocks_promotion(rel: Release):
    before = released_v1(rel)
    cand = rel.commit({"expert/Modelfile": BROKEN_EXPERT}, "drop the javascript rule")
    rel.ok("build", "--changed")
    rel.double.calls.reset()
    code, out, err = promote(rel, "expert", "--from", cand, "--to", "v2", "--alias", "latest")
    assert code == 1
    assert err.strip().splitlines() == [
        f"mfops: promotion refused: expert:{cand}: 1 test case failed"
    ]
    assert "FAIL  refuses javascript" in out and "No tag was moved." in out
    assert rel.double.calls.count("/api/copy") == 0
    assert rel.double.calls.count("/api/delete") == 0
    assert rel.digests(("v1", "latest")) == before
    assert rel.digests(("v2",), ("expert",)) == {"expert:v2": None}
    entry = rel.history()[-1]
    assert entry["outcome"] == "refused"
    assert entry["models"][0]["tests"] == "failed"
    assert entry["tests"]["failed"] == 1
    assert len(entry["failures"]) == 1
    assert "refuses javascript" in entry["failures"][0]
    assert entry["failures"][0].startswith(f"expert:{cand}: expert/expert.test.yaml:3")
    assert entry["models"][0]["destinations"] == [
        {"tag": "v2", "before": None, "after": None},
        {"tag": "latest", "before": before["expert:latest"], "after": before["expert:latest"]},
    ]


def test_a_passing_change_moves_the_alias_and_keeps_the_old_release(rel: Release):
    before = released_v1(rel)
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
    rel.ok("build", "--changed")
    rel.double.calls.reset()
    rel.ok("promote", "expert", "--from", cand, "--to", "v2", "--alias", "latest")
    new = rel.double.digest(f"expert:{cand}")
    assert new != before["expert:latest"]
    assert rel.digests(("v1", "v2", "latest"), ("expert",)) == {
        "expert:v1": before["expert:v1"],
        "expert:v2": new,
        "expert:latest": new,
    }
    assert rel.digests(("v1", "latest"), ("base",)) == {
        "base:v1": before["base:v1"],
        "base:latest": before["base:latest"],
    }
    # latest existed, so it was backed up first; the backup is gone again
    copies = rel.copies()
    assert copies[0][0] == "expert:latest" and "mfops-backup-" in copies[0][1]
    assert copies[1:] == [(f"expert:{cand}", "expert:v2"), (f"expert:{cand}", "expert:latest")]
    assert [b["model"] for b in rel.double.calls.bodies("/api/delete")] == [copies[0][1]]
    assert not [n for n in rel.double.model_names() if "mfops-backup" in n]


MOVES = ("base:v2", "base:latest", "expert:v2", "expert:latest")  # the order of the copies


@pytest.mark.parametrize("moved_first", [0, 1, 2, 3])
def test_a_copy_failing_mid_way_puts_every_moved_tag_back(rel: Release, moved_first: int):
    before = released_v1(rel)
    cand = rel.commit(
        {
            "base/Modelfile": "FROM llama3.2:3b\nSYSTEM You are Acme's assistant. "
            "Never discuss pricing. Be polite.\n"
        },
        "base: be polite",
    )
    rel.ok("build", "--changed")
    rel.double.calls.reset()
    tags = ("v2", "latest")
    old = rel.digests(tags)
    assert old == {
        "base:v2": None,
        "base:latest": before["base:latest"],
        "expert:v2": None,
        "expert:latest": before["expert:latest"],
    }
    # two backups (of the two `latest`), then `moved_first` promotions succeed
    fail_copies_after(rel.double, 2 + moved_first, error="disk full")
    code, _, err = promote(rel, "--all", "--from", cand, "--to", "v2", "--alias", "latest")
    assert code == 1
    failing = MOVES[moved_first]
    source = failing.split(":")[0] + f":{cand}"
    assert err.strip().splitlines() == [
        "mfops: moving the tags failed, every moved tag was put back: Ollama at "
        f"{rel.double.url}: copy {source} -> {failing}: disk full (HTTP 400)"
    ]
    assert rel.digests(tags) == old  # via /api/tags: where each pointed before, or absent
    assert not [n for n in rel.double.model_names() if "mfops-backup" in n]
    entry = rel.history()[-1]
    assert (entry["outcome"], entry["restored"]) == ("failed", True)
    for model in entry["models"]:
        assert all(d["before"] == d["after"] for d in model["destinations"])
    # the tags that did not exist before and were created are deleted again
    deleted = [b["model"] for b in rel.double.calls.bodies("/api/delete")]
    created = [d for d in MOVES[:moved_first] if d.endswith(":v2")]
    assert set(created) <= set(deleted)
    restores = [c for c in rel.copies() if "mfops-backup" in c[0]]
    assert [dest for _, dest in restores] == [
        d for d in reversed(MOVES[: moved_first + 1]) if d.endswith(":latest")
    ]


def test_a_5xx_copy_failure_is_retried_then_rolled_back(rel: Release):
    before = released_v1(rel)
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT})
    rel.ok("build", "--changed")
    fail_copies_after(rel.double, 2, times=3, status=500)  # backup, expert:v2, then latest
    code, _, err = promote(rel, "expert", "--from", cand, "--to", "v2", "--alias", "latest")
    assert code == 1 and "every moved tag was put back" in err
    assert rel.digests(("v2", "latest"), ("expert",)) == {
        "expert:v2": None,
        "expert:latest": before["expert:latest"],
    }


def test_when_putting_back_fails_too_the_backups_are_kept_and_named(rel: Release):
    before = released_v1(rel)
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT})
    rel.ok("build", "--changed")
    rel.double.calls.reset()
    fail_copies_after(rel.double, 3, times=50)  # backup, v2 and extra move; nothing after
    rel.double.faults.fail_next("/api/delete", 50, status=400, error="read-only")
    code, out, err = promote(
        rel, "expert", "--from", cand, "--to", "v2", "--alias", "extra", "--alias", "latest"
    )
    assert code == 1
    assert "putting them back failed too" in err and "backups kept: expert:mfops-backup-" in err
    assert "NOT PUT BACK" in out
    backups = [n for n in rel.double.model_names() if "mfops-backup" in n]
    assert len(backups) == 1
    assert rel.double.digest(backups[0]) == before["expert:latest"]
    entry = rel.history()[-1]
    assert (entry["outcome"], entry["restored"]) == ("failed", False)
    new = rel.double.digest(f"expert:{cand}")
    assert entry["models"][0]["destinations"] == [
        {"tag": "v2", "before": None, "after": new},
        {"tag": "extra", "before": None, "after": new},
        {"tag": "latest", "before": before["expert:latest"], "after": before["expert:latest"]},
    ]
    assert [line for line in out.splitlines() if line.startswith("NOT PUT BACK")] == [
        f"NOT PUT BACK: expert:v2: Ollama at {rel.double.url}: delete expert:v2: "
        "read-only (HTTP 400)",
        f"NOT PUT BACK: expert:extra: Ollama at {rel.double.url}: delete expert:extra: "
        "read-only (HTTP 400)",
    ]


def test_a_missing_candidate_is_refused_before_any_test(rel: Release):
    code, out, err = promote(rel, "base", "expert", "--from", "sha-0000000", "--to", "v1")
    assert code == 1
    assert err.startswith("mfops: promotion refused: base:sha-0000000 is not on the server at")
    assert "(and 1 more)" in err
    assert "problem: expert:sha-0000000 is not on the server" in out
    assert rel.double.calls.count("/api/chat") == 0
    assert rel.double.calls.count("/api/copy") == 0
    entry = rel.history()[-1]
    assert entry["outcome"] == "refused" and entry["tests"] is None
    assert [m["tests"] for m in entry["models"]] == ["not run", "not run"]


def test_a_candidate_changed_on_the_server_is_refused_unless_allowed(rel: Release):
    cand = rel.tag()
    rel.double.tamper(f"expert:{cand}", parameters={"num_ctx": 1024})
    code, _, err = promote(rel, "expert", "--from", cand, "--to", "v1")
    assert code == 1 and "which mfops did not build (changed on the server by hand?)" in err
    assert rel.double.calls.count("/api/chat") == 0
    code, out, _ = promote(rel, "expert", "--from", cand, "--to", "v1", "--allow-drift")
    assert code == 0 and "warning: expert:" in out
    assert rel.double.digest("expert:v1") == rel.double.digest(f"expert:{cand}")


def test_a_candidate_built_from_other_content_than_the_repo_is_refused(rel: Release):
    cand = rel.tag()
    rel.commit({"expert/Modelfile": BETTER_EXPERT})  # edited after the build, not rebuilt
    code, _, err = promote(rel, "expert", "--from", cand, "--to", "v1")
    assert code == 1
    assert f"expert:{cand} holds expert:mf-" in err and "the repo now builds sha256:" in err


def test_an_existing_release_tag_is_not_moved_without_overwrite(rel: Release):
    released_v1(rel)
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT})
    rel.ok("build", "--changed")
    code, _, err = promote(rel, "expert", "--from", cand, "--to", "v1")
    assert code == 1 and "expert:v1 already exists and holds another model" in err
    rel.ok("promote", "expert", "--from", cand, "--to", "v1", "--overwrite")
    assert rel.double.digest("expert:v1") == rel.double.digest(f"expert:{cand}")


def test_a_model_without_cases_is_untested_and_refused_unless_allowed(rel: Release):
    cand = rel.commit({"other/Modelfile": "FROM llama3.2:3b\nSYSTEM Other.\n"}, "other")
    rel.ok("build", "--changed")
    code, _, err = promote(rel, "other", "--from", cand, "--to", "v1")
    assert code == 1 and "other has no test cases, so it is untested" in err
    assert not rel.double.has_model("other:v1")
    code, out, _ = promote(rel, "other", "--from", cand, "--to", "v1", "--allow-untested")
    assert code == 0 and "warning: other has no test cases" in out
    assert rel.history()[-1]["models"][0]["tests"] == "untested"


def test_promoting_again_moves_nothing_and_uses_the_test_cache(rel: Release):
    before = released_v1(rel)
    code, out, _ = promote(rel, "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    assert code == 0 and "already there" in out
    assert rel.double.calls.count("/api/copy") == 0
    assert rel.double.calls.count("/api/chat") == 0  # every case came from the cache
    assert rel.digests(("v1", "latest")) == before
    assert rel.history()[-1]["tests"] == {"passed": 4, "failed": 0, "errors": 0, "cached": 4}


def test_json_output_and_junit(rel: Release, tmp_path):
    junit = tmp_path / "junit.xml"
    code, out, _ = promote(
        rel, "base", "--from", rel.tag(), "--to", "v1", "--format", "json", "--junit", str(junit)
    )
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["outcome"] == "promoted"
    assert data["models"][0]["destinations"][0]["tag"] == "v1"
    assert data["test_report"]["summary"]["passed"] == 1
    assert data["tests"] == {"passed": 1, "failed": 0, "errors": 0, "cached": 0}
    assert 'name="refuses pricing"' in junit.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "a", "--to", "b"), "give model NAMEs or --all"),
        (("base", "--all", "--from", "a", "--to", "b"), "give model NAMEs or --all"),
        (("base", "--from", "v1", "--to", "v1"), "mfops: tag 'v1' is given twice"),
        (("base", "--from", "a", "--to", "b", "--alias", "B"), "mfops: tag 'B' is given twice"),
        (("base", "--from", "a", "--to", "bad tag"), "mfops: invalid tag 'bad tag'"),
        (("nope", "--from", "a", "--to", "b"), "mfops: unknown model 'nope'"),
    ],
)
def test_bad_input_exits_2(rel: Release, args, message):
    code, _, err = promote(rel, *args)
    assert code == 2 and message in err
    assert rel.double.calls.count("/api/copy") == 0


def test_an_unreachable_server_exits_2(rel: Release):
    code, _, err = rel.mfops(
        "promote", "base", "--from", rel.tag(), "--to", "v1", "--host", "http://127.0.0.1:9"
    )
    assert code == 2 and err.startswith("mfops: cannot reach Ollama at http://127.0.0.1:9")
