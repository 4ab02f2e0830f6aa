"""One run spread over a pool of servers (issue 16 item 3), against several Ollama test
doubles on loopback, over real HTTP with mfops' own Server: the work is really shared, the
pool is checked before anything runs, a host that dies mid-run hands its samples to the
others (the verdict is the one-host verdict), and a pool with no host left stops."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import httpx
import pytest

from mfops.behave import load_suites, plan_cases, run_in_session
from mfops.behave.pool import Pool, PoolGone, PoolMismatch
from mfops.behave.selection import override_samples
from mfops.build.session import Session
from mfops.errors import ServerError
from mfops.server.hosts import Host
from mfops.testing.double import OllamaDouble, fake_gguf
from tests.behavekit import Lab, lab_fixture, seeded_double  # noqa: F401  (fixture)
from tests.gitrepo import GitRepo

SAMPLES = 6  # 4 case runs x 6 samples: 24 chats to share


@pytest.fixture(name="doubles")
def doubles_fixture(lab: Lab) -> Iterator[list[OllamaDouble]]:
    """The lab's double and two more, each holding the lab's models built at t1."""
    extra = [seeded_double(), seeded_double()]
    pool = [lab.double, *extra]
    for d in pool:
        Lab(lab.repo, d).build("t1")
        d.faults.latency["/api/chat"] = 0.01  # every host busy for a moment: work spreads
    try:
        yield pool
    finally:
        for d in extra:
            d.stop()


def go(lab: Lab, hosts: list[str], *, jobs: int = 2):
    session = Session.open(repo=lab.root, hosts=tuple(hosts))
    try:
        rev = lab.revision()
        cases = plan_cases(load_suites(rev.snapshot, rev.graph), rev.graph, [])
        cases = override_samples(cases, SAMPLES)
        return run_in_session(session, rev, cases, tag="t1", jobs=jobs, use_cache=False)
    finally:
        session.close()


def verdict(report) -> list[tuple[str, str, str, int]]:
    return [(r.run.model, r.run.case.name, r.status, r.passed_samples) for r in report.results]


def answered(report) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in report.results:
        for s in r.samples:
            out[s.host] = out.get(s.host, 0) + 1
    return out


def test_a_pool_shares_the_run_and_each_sample_names_its_host(lab, doubles):
    single = go(lab, [lab.double.url])
    assert {s.host for r in single.results for s in r.samples} == {""}  # one host: as before
    assert single.env.hosts == ()
    before = [d.calls.count("/api/chat") for d in doubles]
    pooled = go(lab, [d.url for d in doubles])
    assert verdict(pooled) == verdict(single) and pooled.ok
    assert pooled.env.hosts == tuple(d.url for d in doubles)
    assert pooled.env.host == ", ".join(d.url for d in doubles)
    # each host answered some samples, and what each sample says matches its server's log
    counts = answered(pooled)
    assert set(counts) == {d.url for d in doubles}
    for d, was in zip(doubles, before, strict=True):
        assert d.calls.count("/api/chat") - was == counts[d.url] > 0
    assert sum(counts.values()) == pooled.chat_calls == 4 * SAMPLES


def test_a_model_that_differs_on_one_host_is_refused_naming_host_and_model(lab, doubles):
    odd = doubles[2]
    odd.add_local_model("expert:t1", from_="base:t1", system="Something else entirely.")
    chats = [d.calls.count("/api/chat") for d in doubles]
    with pytest.raises(PoolMismatch) as err:
        go(lab, [d.url for d in doubles])
    assert err.value.exit_code == 1
    assert f"expert:t1 differs across the pool: {odd.url} holds" in str(err.value)
    assert [d.calls.count("/api/chat") for d in doubles] == chats  # nothing was run


def test_a_model_missing_on_one_host_is_refused(lab, doubles):
    lab.write(
        {
            "tests/judged.test.yaml": (
                "model: base\ncases:\n  - name: judged\n    prompt: hi\n"
                "    assert: [{type: llm-judge, value: polite}]\n"
            )
        }
    )
    lacking = OllamaDouble().start()
    try:
        from tests.behavekit import BASE

        lacking.add_registry_model(BASE, template="{{ .System }} {{ .Prompt }}")
        lacking.add_local_model("embedder", embedding=True)
        Lab(lab.repo, lacking).build("t1")  # everything but the judge
        with pytest.raises(PoolMismatch) as err:
            go(lab, [lab.double.url, lacking.url])
        assert f"judge is not on {lacking.url}" in str(err.value)
    finally:
        lacking.stop()


def test_a_host_unreachable_at_the_start_is_named(lab, doubles):
    dead = doubles[1]
    dead.stop()
    with pytest.raises(ServerError) as err:
        go(lab, [d.url for d in doubles])
    assert err.value.exit_code == 2
    assert f"cannot reach Ollama at {dead.url}, a host of the pool" in str(err.value)


def test_the_same_server_spelled_twice_is_refused(lab, doubles):
    port = lab.double.port
    with pytest.raises(ServerError, match="the pool names one server twice"):
        go(lab, [lab.double.url, f"localhost:{port}"])


def _die_after(double: OllamaDouble, chats: int) -> threading.Event:
    """Stop `double` while its `chats`-th chat is in flight (that request never answers)."""
    original = double.api.chat
    seen = 0
    lock = threading.Lock()
    dead = threading.Event()

    def chat(req):
        nonlocal seen
        with lock:
            seen += 1
            now = seen
        if now >= chats:
            if now == chats:
                threading.Thread(target=lambda: (double.stop(), dead.set())).start()
            dead.wait(5)
        return original(req)

    double.api.chat = chat
    return dead


def test_a_host_that_dies_mid_run_hands_its_samples_to_the_others(lab, doubles):
    single = go(lab, [lab.double.url])
    victim = doubles[1]
    dead = _die_after(victim, 3)
    pooled = go(lab, [d.url for d in doubles])
    assert dead.is_set() and not victim.running
    assert verdict(pooled) == verdict(single) and pooled.ok  # nothing passed or failed by it
    counts = answered(pooled)
    assert sum(counts.values()) == 4 * SAMPLES
    # the victim answered at most the two chats before the fatal one; the rest went elsewhere
    assert counts.get(victim.url, 0) <= 2
    assert counts[doubles[0].url] > 0 and counts[doubles[2].url] > 0
    assert all(s.error is None for r in pooled.results for s in r.samples)


def test_when_every_host_dies_the_run_stops_naming_them(lab, doubles):
    for d in doubles:
        _die_after(d, 2)
    with pytest.raises(PoolGone) as err:
        go(lab, [d.url for d in doubles])
    assert err.value.exit_code == 2
    text = str(err.value)
    assert "every host of the pool stopped answering" in text
    assert all(d.url in text for d in doubles)


def test_an_interrupt_stops_the_pool_from_taking_more_samples():
    """Ctrl-C or SIGTERM while a pool runs: the samples in flight end, no other starts (a
    shard then writes its report before a CI runner kills it)."""
    started: list[int] = []
    release = threading.Event()
    main = threading.get_ident()

    def work(item: int) -> None:
        started.append(item)
        if item == 0:
            signal.pthread_kill(main, signal.SIGINT)
            release.wait(30)

    with Pool([Host("http://127.0.0.1:9")]) as pool:  # dispatch itself asks no server
        with pytest.raises(KeyboardInterrupt):
            pool.dispatch(list(range(20)), work, jobs=1)
        release.set()
        for t in threading.enumerate():
            if t.name.startswith("mfops-pool-"):
                t.join(30)
    assert started == [0]


def test_one_gguf_built_on_two_older_servers_is_one_content_under_two_digests(tmp_path, run_mfops):
    """Ollama 0.24 writes an uploaded file's path in its models directory into the
    manifest: the same model built from a GGUF on two servers whose OLLAMA_MODELS differ is
    listed under two digests. The pool reads both back and runs, since what they hold is
    the same; a model whose content really differs is still refused."""
    repo = GitRepo(tmp_path / "repo")
    repo.write("w/w.gguf", fake_gguf())
    repo.write("w/Modelfile", "FROM ./w.gguf\nSYSTEM You are terse.\n")
    repo.write(
        "tests/w.test.yaml",
        "model: w\ncases:\n  - name: answers\n    prompt: hi\n"
        "    assert: [{type: max-length, value: 100000}]\n",
    )
    repo.commit("a model from a file")
    twins = [
        OllamaDouble(version="0.24.0", models_dir=f"/srv/{n}/models", rewrite_gguf=False)
        for n in ("a", "b")
    ]
    for d in twins:
        d.start()
    try:
        for d in twins:
            done = run_mfops("build", "--all", "--tag", "t1", "--host", d.url, cwd=repo.root)
            assert done.returncode == 0, done.stderr
        listed = [
            {m["name"]: m["digest"] for m in httpx.get(f"{d.url}/api/tags").json()["models"]}
            for d in twins
        ]
        assert listed[0]["w:t1"] != listed[1]["w:t1"]  # what the real 0.24.0 does
        hosts = [arg for d in twins for arg in ("--host", d.url)]
        done = run_mfops("test", "--tag", "t1", "--no-cache", *hosts, cwd=repo.root)
        assert done.returncode == 0, done.stdout + done.stderr
        assert sum(d.calls.count("/api/chat") for d in twins) == 1
        twins[1].add_local_model("w:t1", from_="w:t1", system="Something else entirely.")
        done = run_mfops("test", "--tag", "t1", "--no-cache", *hosts, cwd=repo.root)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"w:t1 differs across the pool: {twins[1].url} holds" in done.stderr
    finally:
        for d in twins:
            d.stop()
