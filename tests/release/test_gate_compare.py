"""The gate in pull-request mode compares each model with its current release (from the
release records): a candidate clearly worse than the release fails at the test step; a
release missing on this server, or a model that has none, is said and is not an error."""

from __future__ import annotations

import os
from dataclasses import replace

import httpx

from mfops.repo import history
from mfops.repo.repository import Repo
from tests.behavekit import EXPERT_SYSTEM
from tests.comparekit import obeyed
from tests.promotekit import Release, release_fixture, seeded_fixture  # noqa: F401

SAMPLED = (
    "model: expert\n"
    "options:\n  temperature: 0.8\n"
    "samples: 20\n"
    "pass_rate: 0.5\n"
    "cases:\n"
    "  - name: refuses javascript\n"
    "    prompt: Explain JavaScript closures\n"
    "    assert:\n"
    "      - type: icontains\n"
    "        value: cannot\n"
)


def worse_expert(passes: int) -> str:
    """An expert SYSTEM the toy model obeys for exactly `passes` of seeds 42..61."""
    for pct in range(1, 100):
        system = f"{EXPERT_SYSTEM} Follow the rules {pct}% of the time."
        if obeyed(system, range(42, 62)) == passes:
            return f"FROM base\nSYSTEM {system}\n"
    raise AssertionError("no compliance gives that count")


def released(rel: Release) -> None:
    """The sampled suite committed, built and promoted to v1 (the release records know it)."""
    rel.commit({"expert/expert.test.yaml": SAMPLED}, "sample the javascript case")
    rel.ok("build", "--all")
    rel.ok("promote", "--all", "--from", rel.tag(), "--to", "v1")
    rel.double.calls.reset()


def gate(rel: Release, *args: str) -> tuple[int, str, str]:
    os.environ.pop("GITHUB_STEP_SUMMARY", None)
    return rel.mfops("gate", *args)


def test_a_candidate_worse_than_the_release_fails_the_gate(rel: Release, tmp_path):
    released(rel)
    rel.commit({"expert/Modelfile": worse_expert(14)}, "loosen the rules")
    summary = tmp_path / "summary.md"
    code, out, err = rel.mfops(
        "gate", "--html", str(tmp_path / "g.html"), env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert code == 1, out + err
    test_line = next(x for x in out.splitlines() if x.startswith("test "))
    assert "1 case regressed (expert)" in test_line
    assert "  Comparing tag sha-" in out and "with release v1 (released from " in out
    assert "REGRESSED    expert: refuses javascript" in out
    assert "candidate 14/20" in out and "vs baseline 20/20" in out
    assert "gate failed at test" in err
    models = {b["model"].split(":")[1] for b in rel.double.calls.bodies("/api/chat")}
    assert "v1" in models  # the release side ran on the server
    md = summary.read_text()
    assert "### Changed verdicts" in md and "❌ regressed | `expert`" in md
    assert ">regressed<" in (tmp_path / "g.html").read_text()


def test_an_indistinguishable_candidate_passes_and_says_what_it_compared(rel: Release):
    released(rel)
    rel.commit({"expert/Modelfile": f"FROM base\nSYSTEM {EXPERT_SYSTEM} Be concise.\n"}, "c")
    code, out, err = gate(rel)
    assert code == 0, out + err
    test_line = next(x for x in out.splitlines() if x.startswith("test "))
    assert "against the release: 2 cases compared:" in test_line and "regressed" not in test_line


def delete_release(rel: Release) -> None:
    """Like a fresh CI runner: no build of the repo's models at all (the bases stay)."""
    for name in rel.double.model_names():
        if name.startswith(("expert:", "base:")):
            httpx.request(
                "DELETE", f"{rel.double.url}/api/delete", json={"model": name}, timeout=10
            )
    assert not rel.double.has_model("expert:v1")


def test_a_release_missing_on_this_server_is_rebuilt_from_its_commit(rel: Release):
    released(rel)
    release_commit = rel.history()[-1]["commit"]
    delete_release(rel)  # a fresh CI runner
    rel.commit({"expert/Modelfile": worse_expert(14)}, "loosen the rules")
    code, out, err = gate(rel)
    assert code == 1, out + err
    assert f"with release v1, rebuilt on this server (released from {release_commit[:7]})" in out
    assert "REGRESSED    expert: refuses javascript" in out
    created = {b["model"] for b in rel.double.calls.bodies("/api/create")}
    assert "expert:v1" in created and rel.double.has_model("base:v1")  # base: same content
    # the rebuilt release is the released SYSTEM, not the candidate's
    shown = httpx.post(f"{rel.double.url}/api/show", json={"model": "expert:v1"}, timeout=10)
    assert "Follow the rules" not in shown.json()["system"]


def test_a_release_that_cannot_be_rebuilt_is_no_baseline_not_an_error(rel: Release):
    released(rel)
    # a newer record of the same release, from a commit this clone lacks (another clone's)
    repo = Repo.find(explicit=rel.root)
    last = history.load(repo)[-1]
    history.append(repo, replace(last, id=history.new_id(), commit="0" * 40))
    delete_release(rel)
    rel.commit({"expert/Modelfile": worse_expert(14)}, "loosen the rules")
    code, out, err = gate(rel)
    assert code == 0, out + err  # the candidate meets its own pass rate
    assert "expert: no baseline on this server: expert:v1 (released from 0000000) is not on" in out
    assert "cannot rebuild it from 0000000" in out
    assert "2 no baseline" in next(x for x in out.splitlines() if x.startswith("test "))


def test_a_model_added_since_the_release_is_new_without_baseline(rel: Release):
    released(rel)
    rel.commit(
        {
            "extra/Modelfile": "FROM base\nSYSTEM You are terse. Never discuss pricing.\n",
            "extra/extra.test.yaml": (
                "model: extra\ncases:\n  - name: answers\n    prompt: hi\n"
                "    assert:\n      - type: not-contains\n        value: zebra\n"
            ),
        },
        "add a model",
    )
    code, out, err = gate(rel)
    assert code == 0, out + err
    assert "  extra: new, no baseline" in out
    assert "2 new" in next(x for x in out.splitlines() if x.startswith("test "))


def test_promote_against_the_release_refuses_a_regression(rel: Release):
    released(rel)
    rel.commit({"expert/Modelfile": worse_expert(14)}, "loosen the rules")
    rel.ok("build", "--all")
    code, out, err = rel.mfops(
        "promote", "expert", "--from", rel.tag(), "--to", "v2", "--against", "v1"
    )
    assert code == 1, out + err
    assert "REGRESSED    expert: refuses javascript" in out and "candidate 14/20" in out
    assert "expert:" + rel.tag() + ": 1 test case regressed against expert:v1" in err
    assert not rel.double.has_model("expert:v2")
    assert rel.history()[-1]["outcome"] == "refused"
    # without --against the same candidate meets its own pass rate and is promoted
    code, out, err = rel.mfops("promote", "expert", "--from", rel.tag(), "--to", "v2")
    assert code == 0, out + err
    code, _, err = rel.mfops(
        "promote", "expert", "--from", rel.tag(), "--to", "v3", "--against", "v9"
    )
    assert code == 2 and "expert:v9 is not on the server" in err
    code, _, err = rel.mfops(
        "promote", "expert", "--from", rel.tag(), "--to", "v3", "--against", "v1", "--alpha", "2"
    )
    assert code == 2 and "--alpha must be between 0 and 1" in err


def test_gate_against_a_missing_tag_or_a_bad_alpha_is_exit_2(rel: Release):
    released(rel)
    rel.commit({"expert/Modelfile": worse_expert(14)}, "loosen the rules")
    code, out, err = gate(rel, "--against", "v9")
    assert code == 2
    assert "gate failed at test: expert:v9 is not on the server" in err
    code, _, err = gate(rel, "--alpha", "0")
    assert code == 2 and "--alpha must be between 0 and 1 (exclusive), got 0" in err
    code, out, err = gate(rel, "--against", "v1")  # explicit, also in pull-request mode
    assert code == 1 and "Comparing tag sha-" in out and "with --against v1" in out


def test_a_release_an_older_server_would_build_wrong_is_refused_before_any_create(rel: Release):
    """The release used RENDERER; this server's Ollama predates it and would drop it while
    answering success. The rebuild is refused up front, as `mfops build` refuses (and the
    candidate, which no longer uses it, is still tested)."""
    rel.commit(
        {"expert/Modelfile": f"FROM base\nSYSTEM {EXPERT_SYSTEM}\nRENDERER qwen3-coder\n"}, "r"
    )
    released(rel)
    release_commit = rel.history()[-1]["commit"]
    delete_release(rel)
    rel.double.api.version = "0.11.4"
    rel.commit({"expert/Modelfile": f"FROM base\nSYSTEM {EXPERT_SYSTEM} Be concise.\n"}, "c")
    code, out, err = gate(rel)
    assert code == 0, out + err  # the candidate is tested; the release side has no baseline
    assert (
        f"cannot rebuild it from {release_commit[:7]}: {release_commit}:expert/Modelfile:3: "
        "RENDERER needs Ollama 0.12.0 or newer, but "
    ) in out
    assert "runs Ollama 0.11.4: it would drop the field" in out
    created = {b["model"] for b in rel.double.calls.bodies("/api/create")}
    assert "expert:v1" not in created
