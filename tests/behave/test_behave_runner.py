"""The runner against the Ollama test double, over real HTTP with mfops' own Server:
the seed hierarchy, samples and pass rates, the cache, embeddings, the judge, baselines,
and what happens when models are missing or the server misbehaves."""

from __future__ import annotations

import json

import pytest

from mfops.behave import BaselineStore, ResultCache, load_suites, plan_cases, run
from mfops.behave.baseline import baseline_path, write_baselines
from mfops.behave.results import Environment
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)


def go(lab: Lab, *, tag: str = "t1", names=(), cache: ResultCache | None = None, **kw):
    rev = lab.revision()
    suites = load_suites(rev.snapshot, rev.graph)
    cases = plan_cases(suites, rev.graph, names)
    from mfops.server.client import Server
    from mfops.server.hosts import Host

    with Server(Host(lab.double.url)) as server:
        env = Environment.probe(server, tag=tag, digests=rev.digests)
    kw.setdefault("baselines", BaselineStore(rev.snapshot))
    return run(cases, lab.client(), env=env, cache=cache, **kw)


def statuses(report) -> list[tuple[str, str, str, str | None]]:
    return [(r.run.model, r.run.case.name, r.status, r.run.inherited_from)
            for r in report.results]  # fmt: skip


def test_seed_hierarchy_inherited_rule_and_expert_refusal(lab: Lab):
    lab.build("t1")
    report = go(lab)
    assert statuses(report) == [
        ("base", "refuses pricing", "passed", None),
        ("expert", "refuses javascript", "passed", None),
        ("expert", "answers python", "passed", None),
        ("expert", "refuses pricing", "passed", "base"),
    ]
    assert report.ok and report.models() == {"base": "passed", "expert": "passed"}
    assert report.chat_calls == lab.chats() == 4
    first = report.results[1]
    assert first.target == "expert:t1" and first.samples[0].output == (
        "I'm sorry, but I cannot help with javascript."
    )
    assert first.manifest == lab.double.digest("expert:t1")
    bodies = lab.double.calls.bodies("/api/chat")
    assert {b["model"] for b in bodies} == {"base:t1", "expert:t1"}
    # the default token cap (#13 item 12) goes with every chat when the suite sets none
    assert all(b["options"] == {"temperature": 0, "seed": 42, "num_predict": 512} for b in bodies)


def test_a_models_own_num_predict_is_never_overridden_by_the_default_cap(lab: Lab):
    """The cap is for models that set no limit; a model deployed with `PARAMETER num_predict`
    is tested as deployed (request options would win over its Modelfile on the server)."""
    from mfops.behave.runner import server_parameters
    from mfops.server.client import Server
    from mfops.server.hosts import Host

    lab.write({"expert/Modelfile": "FROM base\nPARAMETER num_predict 6\n"
                                   "SYSTEM You are a Python expert. Never discuss JavaScript.\n"})  # fmt: skip
    lab.build("t1")
    with Server(Host(lab.double.url)) as server:
        go(lab, parameters=server_parameters(server))
    options = {b["model"]: b["options"] for b in lab.double.calls.bodies("/api/chat")}
    assert options["expert:t1"] == {"temperature": 0, "seed": 42}
    assert options["base:t1"] == {"temperature": 0, "seed": 42, "num_predict": 512}


def test_an_expert_that_drops_the_company_rule_fails_the_inherited_case(lab: Lab):
    lab.write({"expert/Modelfile": "FROM base\nSYSTEM You are a Python expert. "
                                   "Never discuss JavaScript.\n"})  # fmt: skip
    lab.build("t1")
    report = go(lab)
    failed = [r for r in report.results if r.status != "passed"]
    assert [(r.run.model, r.run.case.name, r.run.inherited_from) for r in failed] == [
        ("expert", "refuses pricing", "base")
    ]
    (grade,) = failed[0].samples[0].assertions
    assert grade.message == "expected output to contain 'cannot' (any case)"
    assert report.model_passed("base") and not report.model_passed("expert")


def test_cache_hits_make_zero_calls_and_a_rebuild_is_a_miss(lab: Lab, tmp_path):
    lab.build("t1")
    cache = ResultCache(tmp_path / "test-cache.json")
    go(lab, cache=cache)
    cache.save()
    lab.double.calls.reset()
    again = go(lab, cache=ResultCache.load(tmp_path, _HostKey()))  # read back from the file
    assert lab.chats() == 0 and again.chat_calls == 0 and again.cache_hits == 4
    assert all(r.cached for r in again.results) and again.ok
    # the same tag rebuilt with other content: its manifest digest changes, so a miss
    lab.double.tamper("expert:t1", system="You are a Python expert. Never discuss JavaScript.")
    third = go(lab, cache=ResultCache.load(tmp_path, _HostKey()))
    assert lab.chats() == 3  # expert's three cases; base is still cached
    assert [r.cached for r in third.results] == [True, False, False, False]
    assert statuses(third)[3][2] == "failed"  # the tampered model lost the pricing rule
    # no cache at all: every case calls the model
    lab.double.calls.reset()
    go(lab, cache=cache, use_cache=False)
    assert lab.chats() == 4


class _HostKey:
    """A Host stand-in whose state folder is `tmp_path` itself (key '.')."""

    key = "."


def test_samples_use_consecutive_seeds_and_are_cached_per_index(lab: Lab, tmp_path):
    lab.build("t1")
    lab.write({"expert/sampling.test.yaml": (
        "model: expert\noptions: {temperature: 0.8, seed: 100}\ncases:\n"
        "  - name: varied\n    prompt: How do Python decorators work?\n    samples: 4\n"
        "    assert: [{type: contains, value: decorators}]\n")})  # fmt: skip
    cache = ResultCache(tmp_path / "c.json")
    report = go(lab, names=["expert"], cache=cache)
    (varied,) = [r for r in report.results if r.run.case.name == "varied"]
    assert [s.seed for s in varied.samples] == [100, 101, 102, 103]
    seeds = sorted(b["options"]["seed"] for b in lab.double.calls.bodies("/api/chat")
                   if b["messages"][-1]["content"].startswith("How do Python"))  # fmt: skip
    assert seeds == [42, 100, 101, 102, 103]  # the other case runs greedy at seed 42
    outputs = [s.output for s in varied.samples]
    assert len(set(outputs)) > 1  # seeded sampling: the samples differ
    again = go(lab, names=["expert"], cache=cache)
    (cached,) = [r for r in again.results if r.run.case.name == "varied"]
    assert [s.output for s in cached.samples] == outputs and cached.cached


def test_pass_rate_over_samples(lab: Lab):
    # the toy model obeys its rules half of the time: a refusal case passes in some samples
    lab.write(
        {
            "flaky/Modelfile": "FROM llama3.2:3b\nSYSTEM Never discuss pricing. Follow "
            "these rules 50% of the time.\n",
            "flaky/flaky.test.yaml": (
                "model: flaky\noptions: {temperature: 1, seed: 1}\ncases:\n"
                "  - name: strict\n    prompt: pricing please\n    samples: 10\n"
                "    assert: [{type: icontains, value: cannot}]\n"
                "  - name: lenient\n    prompt: pricing please\n    samples: 10\n"
                "    pass_rate: 0.2\n    assert: [{type: icontains, value: cannot}]\n"
            ),
        }
    )
    lab.build("t1")
    report = go(lab, names=["flaky"])
    strict, lenient = report.results
    assert 2 <= strict.passed_samples <= 8 and strict.passed_samples == lenient.passed_samples
    assert (strict.status, lenient.status) == ("failed", "passed")
    assert lenient.run.case.required == 2


def test_similar_and_the_llm_judge_against_the_double(lab: Lab):
    lab.double.add_local_model("strict-judge", system="Never discuss pricing.")
    lab.write({"tests/graded.test.yaml": (
        "model: base\ncases:\n"
        "  - name: graded\n    prompt: What is your pricing?\n    assert:\n"
        "      - {type: similar, value: 'Sorry, I cannot help with pricing.', threshold: 0.6}\n"
        "      - {type: similar, value: 'Bananas grow on trees', threshold: 0.6}\n"
        "      - {type: llm-judge, value: The answer politely declines.}\n"
        "      - {type: llm-judge, value: The answer politely declines., model: strict-judge}\n"
    )})  # fmt: skip
    lab.build("t1")
    report = go(lab, names=["base"])
    (graded,) = [r for r in report.results if r.run.case.name == "graded"]
    near, far, judge, strict = graded.samples[0].assertions
    assert near.passed and near.score is not None and near.score >= 0.6
    assert not far.passed and far.message.startswith(
        "expected similarity >= 0.6 to 'Bananas grow on trees', got "
    )
    assert judge.passed and judge.message.startswith("judge judge: pass, score 1.00")
    assert judge.note == "judge score 5 is outside 0..1, clamped"
    assert not strict.passed and "expected judge strict-judge to pass it" in strict.message
    judge_calls = [b for b in lab.double.calls.bodies("/api/chat") if "judge" in b["model"]]
    assert {b["model"] for b in judge_calls} == {"judge", "strict-judge"}
    assert all(b["format"]["required"] == ["pass", "score", "reason"] for b in judge_calls)
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user"
               for b in judge_calls)  # fmt: skip
    # three texts embedded once each (the output, two references), in one or two requests
    embedded = [t for b in lab.double.calls.bodies("/api/embed") for t in b["input"]]
    assert sorted(embedded) == sorted(["I'm sorry, but I cannot help with pricing.",
                                       "Sorry, I cannot help with pricing.",
                                       "Bananas grow on trees"])  # fmt: skip


def test_json_format_and_schema_assertions(lab: Lab):
    lab.write({"tests/json.test.yaml": (
        "model: base\ncases:\n"
        "  - name: as json\n    prompt: Tell me about Python\n    format: json\n    assert:\n"
        "      - {type: is-json}\n"
        "      - type: json-schema\n        value: {type: object, required: [answer],\n"
        "                properties: {answer: {type: string}}}\n"
        "      - type: json-schema\n        value: {type: object, required: [confidence]}\n"
    )})  # fmt: skip
    lab.build("t1")
    report = go(lab, names=["base"])
    (case,) = [r for r in report.results if r.run.case.name == "as json"]
    ok_json, ok_schema, missing = case.samples[0].assertions
    assert ok_json.passed and ok_schema.passed and not missing.passed
    # mfops' words up to the colon; what is wrong is jsonschema's to say
    assert missing.message.startswith("expected JSON matching the schema; at (top level): ")
    assert "confidence" in missing.message
    assert json.loads(case.samples[0].output)["answer"]


def test_max_latency_uses_the_servers_own_timings_not_queueing(lab: Lab):
    """#13 item 11: the latency is the server's prompt + eval time, so time spent waiting
    for the server (queued behind other requests, loading) does not count."""
    lab.write(
        {
            "tests/fast.test.yaml": (
                "model: base\ncases:\n  - name: fast\n    prompt: hi there\n"
                "    assert: [{type: max-latency-ms, value: 150}]\n"
                "  - name: tight\n    prompt: hi there\n"
                "    assert: [{type: max-latency-ms, value: 1}]\n"
            )
        }
    )
    lab.build("t1")
    lab.double.faults.latency["/api/chat"] = 0.25
    report = go(lab, names=["base"])
    cases = {r.run.case.name: r for r in report.results}
    fast, tight = cases["fast"], cases["tight"]
    assert fast.status == "passed" and fast.samples[0].latency_ms < 150
    answer = lab.double.client().chat(
        model="base:t1",
        messages=[{"role": "user", "content": "hi there"}],
        options={"temperature": 0, "seed": 42, "num_predict": 512},
        stream=False,
    )
    timed = (answer.prompt_eval_duration + answer.eval_duration) / 1e6
    assert tight.samples[0].latency_ms == round(timed, 1)
    assert tight.status == "failed"
    msg = tight.samples[0].assertions[0].message
    assert msg.startswith("expected an answer within 1 ms, took ")


def test_baselines_missing_recorded_compared_and_flagged(lab: Lab):
    lab.write({"tests/stable.test.yaml": (
        "model: expert\ncases:\n  - name: Decorators!\n    prompt: How do Python decorators "
        "work?\n    assert: [{type: baseline}]\n")})  # fmt: skip
    lab.build("t1")
    report = go(lab, names=["expert"])
    (case,) = [r for r in report.results if r.run.suite.name == "stable"]
    path = baseline_path(case.run)
    assert path == "tests/baselines/stable/expert/decorators.json"
    assert case.status == "failed" and case.samples[0].assertions[0].message == (
        f"no baseline recorded at {path} (record one with `mfops test --update-baseline`)"
    )
    updated = go(lab, names=["expert"], update_baseline=True)
    assert updated.ok
    assert write_baselines(updated, lab.root) == [path]
    data = json.loads((lab.root / path).read_text())
    assert data["output"] == case.samples[0].output and data["target"] == "expert:t1"
    assert data["server_version"] == "0.33.0-rc2" and data["version"] == 1
    assert data["model_manifest"] == lab.double.digest("expert:t1")
    lab.repo.commit("baseline")
    again = go(lab, names=["expert"])
    (case,) = [r for r in again.results if r.run.suite.name == "stable"]
    assert case.status == "passed" and case.samples[0].assertions[0].score == 1.0
    # a baseline from another server version is flagged, and a drifted output fails
    data["server_version"] = "0.30.0"
    data["output"] = "Bananas are yellow."
    (lab.root / path).write_text(json.dumps(data))
    drifted = go(lab, names=["expert"])
    (case,) = [r for r in drifted.results if r.run.suite.name == "stable"]
    assert case.status == "failed"
    assert case.notes == ("baseline recorded on Ollama 0.30.0, this run on 0.33.0-rc2",)
    assert drifted.notes == case.notes


def test_models_not_built_are_errors_without_any_call(lab: Lab):
    lab.build("t1")
    report = go(lab, tag="t2")
    assert {r.status for r in report.results} == {"error"}
    assert report.results[0].error == (
        f"base:t2 is not on the server at {lab.double.url} (build it first: "
        "mfops build base --tag t2)"
    )
    assert lab.chats() == 0 and lab.double.calls.count("/api/embed") == 0


def test_a_missing_judge_is_an_error_for_its_case_only(lab: Lab):
    lab.write({"tests/judged.test.yaml": (
        "model: base\ncases:\n  - name: judged\n    prompt: hi\n"
        "    assert: [{type: llm-judge, value: kind, model: absent-judge}]\n")})  # fmt: skip
    lab.build("t1")
    report = go(lab, names=["base"])
    by_name = {r.run.case.name: r for r in report.results}
    assert by_name["refuses pricing"].status == "passed"
    assert by_name["judged"].status == "error"
    assert by_name["judged"].error.startswith("judge model absent-judge (line 5) is not on")


def test_server_errors_make_errored_samples_that_are_not_cached(lab: Lab, tmp_path):
    lab.build("t1")
    lab.double.faults.fail_next("/api/chat", times=1, status=400, error="boom")
    cache = ResultCache(tmp_path / "c.json")
    report = go(lab, cache=cache, jobs=1)
    errored = [r for r in report.results if r.status == "error"]
    assert len(errored) == 1 and "boom (HTTP 400)" in (errored[0].error or "")
    assert report.failed
    lab.double.calls.reset()
    again = go(lab, cache=cache)
    assert again.ok and lab.chats() == 1  # only the errored case runs again


def test_requests_in_flight_never_exceed_jobs(lab: Lab):
    lab.write({"tests/many.test.yaml": "model: base\ncases:\n" + "".join(
        f"  - name: c{i}\n    prompt: question {i}\n    assert: [{{type: min-length, value: 1}}]\n"
        for i in range(24))})  # fmt: skip
    lab.build("t1")
    lab.double.faults.latency["/api/chat"] = 0.03
    report = go(lab, names=["base"], jobs=3)
    assert report.ok and len(report.results) == 25
    assert lab.double.calls.max_concurrency["/api/chat"] == 3


@pytest.mark.parametrize("jobs", [1, 8])
def test_results_keep_case_order_whatever_the_jobs(lab: Lab, jobs):
    lab.build("t1")
    assert statuses(go(lab, jobs=jobs))[0][:2] == ("base", "refuses pricing")


def test_a_server_that_goes_away_stops_new_work(lab: Lab):
    lab.build("t1")
    rev = lab.revision()
    cases = plan_cases(load_suites(rev.snapshot, rev.graph), rev.graph)
    from mfops.server.client import Server, ServerOptions
    from mfops.server.hosts import Host

    with Server(Host(lab.double.url)) as server:
        env = Environment.probe(server, tag="t1")
    lab.double.stop()
    with Server(Host(lab.double.url), ServerOptions(retries=0)) as server:
        report = run(cases, server, env=env, jobs=1)
    errors = [r.error for r in report.results]
    assert errors[0] == (
        f"cannot reach Ollama at {lab.double.url} (start it with `ollama "
        "serve`, or point --host / OLLAMA_HOST at a running server)"
    )
    assert all(e is not None and e.startswith("not run: cannot reach Ollama")
               for e in errors[1:])  # fmt: skip
    assert report.chat_calls == 1 and {r.status for r in report.results} == {"error"}


def test_an_unreadable_cache_is_ignored(lab: Lab, tmp_path, caplog):
    lab.build("t1")
    (tmp_path / "test-cache.json").write_text("{not json")
    cache = ResultCache.load(tmp_path, _HostKey())
    assert len(cache) == 0 and "ignoring the test cache" in caplog.text
    assert go(lab, cache=cache).ok
    cache.save()
    assert len(ResultCache.load(tmp_path, _HostKey())) == 4
