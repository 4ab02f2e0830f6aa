"""`mfops rollback` end to end: aliases pointed back at an earlier release, all or nothing."""

from __future__ import annotations

import json

from tests.behavekit import SEED_FILES
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    MODELS,
    Release,
    fail_copies_after,
    release_fixture,
    seeded_fixture,
)


def two_releases(rel: Release) -> tuple[str, str]:
    """expert v1 (the seed) and v2 (a passing change), `latest` and `prod` at v2."""
    rel.ok(
        "promote",
        "--all",
        "--from",
        rel.tag(),
        "--to",
        "v1",
        "--alias",
        "latest",
        "--alias",
        "prod",
    )
    cand = rel.commit({"expert/Modelfile": BETTER_EXPERT})
    rel.ok("build", "--changed")
    rel.ok(
        "promote", "expert", "--from", cand, "--to", "v2", "--alias", "latest", "--alias", "prod"
    )
    v1, v2 = rel.double.digest("expert:v1"), rel.double.digest("expert:v2")
    assert v1 != v2 and rel.double.digest("expert:latest") == v2
    rel.double.calls.reset()
    return v1, v2  # type: ignore[return-value]


def test_rollback_points_latest_back_by_default(rel: Release):
    v1, v2 = two_releases(rel)
    code, out, err = rel.mfops("rollback", "expert", "--to", "v1")
    assert code == 0, out + err
    assert rel.double.digest("expert:latest") == v1
    assert rel.double.digest("expert:prod") == v2  # not named: untouched
    assert rel.double.digest("expert:v2") == v2  # the bad release stays for inspection
    assert "Rolled back 1 model" in out and "warning" not in out
    entry = rel.history()[-1]
    assert (entry["kind"], entry["outcome"]) == ("rollback", "rolled back")
    assert (entry["from"], entry["to"], entry["aliases"]) == ("v1", None, ["latest"])
    assert entry["models"][0]["destinations"] == [{"tag": "latest", "before": v2, "after": v1}]
    assert entry["models"][0]["tests"] == "not run"
    # the alias' build record follows the release it now holds
    assert rel.double.digest("expert:latest") == v1


def test_rollback_of_several_aliases(rel: Release):
    v1, _ = two_releases(rel)
    rel.ok("rollback", "expert", "--to", "v1", "--alias", "prod", "--alias", "latest")
    assert rel.double.digest("expert:prod") == rel.double.digest("expert:latest") == v1


def test_rollback_is_all_or_nothing(rel: Release):
    _, v2 = two_releases(rel)
    fail_copies_after(rel.double, 3, error="disk full")  # two backups, prod moved, latest fails
    code, _, err = rel.mfops(
        "rollback", "expert", "--to", "v1", "--alias", "prod", "--alias", "latest"
    )
    assert code == 1
    assert err.startswith("mfops: rolling back failed, every moved tag was put back: ")
    assert rel.double.digest("expert:prod") == rel.double.digest("expert:latest") == v2
    entry = rel.history()[-1]
    assert (entry["outcome"], entry["restored"]) == ("failed", True)


def test_rollback_to_a_missing_release_is_refused_and_recorded(rel: Release):
    code, _, err = rel.mfops("rollback", "expert", "--to", "v9")
    assert code == 1
    assert err.strip() == (
        "mfops: rollback refused: expert:v9 is not on the server "
        f"(tags of expert on the server: {rel.tag()})"
    )
    assert rel.double.calls.count("/api/copy") == 0
    assert rel.history()[-1]["outcome"] == "refused"


def test_rollback_to_a_tag_never_promoted_warns(rel: Release):
    code, out, _ = rel.mfops("rollback", "expert", "--to", rel.tag(), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["warnings"] == [f"the history has no promotion of expert:{rel.tag()} on this host"]
    assert rel.double.digest("expert:latest") == rel.double.digest(f"expert:{rel.tag()}")


def test_rollback_works_while_the_repo_does_not_load(rel: Release):
    v1, _ = two_releases(rel)
    rel.repo.write("expert/Modelfile", "FROM base\nBOGUS line\n")  # no longer parses
    rel.ok("rollback", "expert", "--to", "v1")
    assert rel.double.digest("expert:latest") == v1


def test_rollback_bad_input(rel: Release):
    code, _, err = rel.mfops("rollback", "expert", "--to", "v1", "--alias", "v1")
    assert code == 2 and "tag 'v1' is given twice" in err
    code, _, err = rel.mfops("rollback", "expert")
    assert code == 2 and "mfops: missing option '--to'" in err


def two_full_releases(rel: Release) -> dict[str, tuple[str, str]]:
    """Every model at v1 and at v2 (both changed), `latest` at v2; name -> (v1, v2)."""
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1", "--alias", "latest")
    base = SEED_FILES["base/Modelfile"] + "PARAMETER seed 7\n"
    cand = rel.commit({"base/Modelfile": base, "expert/Modelfile": BETTER_EXPERT})
    rel.ok("build", "--all")
    rel.ok("promote", "--all", "--from", cand, "--to", "v2", "--alias", "latest")
    out = {m: (rel.double.digest(f"{m}:v1"), rel.double.digest(f"{m}:v2")) for m in MODELS}
    assert all(v1 != v2 for v1, v2 in out.values())
    rel.double.calls.reset()
    return out  # type: ignore[return-value]


def test_rollback_all_points_every_model_back_in_one_record(rel: Release):
    digests = two_full_releases(rel)
    code, out, err = rel.mfops("rollback", "--all", "--to", "v1")
    assert code == 0, out + err
    for m in MODELS:
        assert rel.double.digest(f"{m}:latest") == digests[m][0]
    assert "Rolled back 2 models" in out
    entry = rel.history()[-1]
    assert (entry["kind"], entry["outcome"]) == ("rollback", "rolled back")
    assert sorted(m["name"] for m in entry["models"]) == ["base", "expert"]


def test_rollback_all_is_all_or_nothing_across_models(rel: Release):
    digests = two_full_releases(rel)
    fail_copies_after(rel.double, 3, error="disk full")  # 2 backups, base moved, expert fails
    code, _, err = rel.mfops("rollback", "--all", "--to", "v1")
    assert code == 1
    assert err.startswith("mfops: rolling back failed, every moved tag was put back: ")
    for m in MODELS:
        assert rel.double.digest(f"{m}:latest") == digests[m][1]
    entry = rel.history()[-1]
    assert (entry["outcome"], entry["restored"]) == ("failed", True)


def test_rollback_all_bad_input(rel: Release):
    code, _, err = rel.mfops("rollback", "--all", "--to", "v7")
    assert code == 2
    assert err == "mfops: no model on the server holds the tag 'v7' (see `mfops history`)\n"
    code, _, err = rel.mfops("rollback", "expert", "--all", "--to", "v1")
    assert code == 2 and "give a model NAME or --all (exactly one of them)" in err
    code, _, err = rel.mfops("rollback", "--to", "v1")
    assert code == 2 and "give a model NAME or --all" in err
