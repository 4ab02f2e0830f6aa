"""`mfops test` and `mfops gate` on a pool of servers (issue 16 item 3), through the real CLI
entry point against several Ollama test doubles on loopback: every report names the host that
answered each sample, `defaults.hosts` is the pool when no --host is given, a pool whose hosts
hold different content is refused in one line, and a pool gate builds on every host before
spreading its tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfops.testing.double import OllamaDouble
from tests.behavekit import BASE, Lab, lab_fixture, seeded_double  # noqa: F401  (fixture)
from tests.cli_runner import invoke_mfops
from tests.promotekit import (  # noqa: F401  (fixtures)
    BETTER_EXPERT,
    Release,
    release_fixture,
    seeded_fixture,
)


@pytest.fixture(name="pool")
def pool_fixture(lab: Lab) -> Iterator[list[OllamaDouble]]:
    """The lab's double and one more, both holding the lab's models built at t1."""
    other = seeded_double()
    doubles = [lab.double, other]
    for d in doubles:
        Lab(lab.repo, d).build("t1")
        d.faults.latency["/api/chat"] = 0.01
    try:
        yield doubles
    finally:
        other.stop()


def hosts_args(doubles: list[OllamaDouble]) -> list[str]:
    return [a for d in doubles for a in ("--host", d.url)]


def test_every_report_names_the_host_of_each_sample(lab: Lab, pool, tmp_path: Path):
    junit, html = tmp_path / "r.xml", tmp_path / "r.html"
    code, out, err = lab.mfops(
        "test", "--tag", "t1", "--samples", "4", "--no-cache", "--format", "json",
        "--junit", str(junit), "--html", str(html), *hosts_args(pool),
    )  # fmt: skip
    assert code == 0, out + err
    data = json.loads(out)
    urls = [d.url for d in pool]
    assert data["environment"]["hosts"] == urls
    hosts = [s["host"] for c in data["cases"] for s in c["samples"]]
    assert len(hosts) == 16 and set(hosts) == set(urls)  # both hosts answered some samples
    suites = ET.parse(junit).getroot()
    assert any(p.get("name") == "hosts" for p in suites.iter("property"))
    outs = "".join(o.text or "" for o in suites.iter("system-out"))
    assert all(f"host {u}]" in outs for u in urls)
    page = html.read_text()
    assert "<th>Hosts</th>" in page and all(u in page for u in urls)

    code, out, err = lab.mfops(
        "test", "--tag", "t1", "--samples", "2", "--no-cache", "--format", "markdown",
        *hosts_args(pool),
    )  # fmt: skip
    assert code == 0, out + err
    assert "| Samples | Hosts |" in out

    code, out, err = lab.mfops("test", "--tag", "t1", "--no-cache", "-v", *hosts_args(pool))
    assert code == 0, out + err
    assert f"on {', '.join(urls)}" in out.splitlines()[0]
    assert any(f"(on {u})" in line for line in out.splitlines() for u in urls)
    assert any(f"seed 42, on {u}" in line for line in out.splitlines() for u in urls)


def test_one_host_reports_exactly_as_before(lab: Lab, pool):
    code, out, err = lab.mfops("test", "--tag", "t1", "--no-cache", "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    assert "hosts" not in data["environment"]
    assert all("host" not in s for c in data["cases"] for s in c["samples"])
    assert pool[1].calls.count("/api/chat") == 0


def test_defaults_hosts_is_the_pool_when_no_host_is_given(lab: Lab, pool, monkeypatch):
    urls = [d.url for d in pool]
    config = (lab.root / "mfops.yaml").read_text()
    lab.write({"mfops.yaml": config + "  hosts:\n" + "".join(f"    - {u}\n" for u in urls)})
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    code, out, err = invoke_mfops(
        "-C", str(lab.root), "test", "--tag", "t1", "--samples", "4", "--no-cache",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, out + err
    data = json.loads(out)
    assert data["environment"]["hosts"] == urls
    assert {s["host"] for c in data["cases"] for s in c["samples"]} == set(urls)
    # a single --host still means that one server, pool or not
    code, out, err = invoke_mfops(
        "-C", str(lab.root), "test", "--tag", "t1", "--no-cache", "--format", "json",
        "--host", urls[1],
    )  # fmt: skip
    assert code == 0, out + err
    assert json.loads(out)["environment"]["host"] == urls[1]


def test_a_pool_holding_different_content_is_refused_in_one_line(lab: Lab, pool):
    pool[1].add_local_model("base:t1", from_=BASE, system="Discuss pricing freely.")
    code, out, err = lab.mfops("test", "--tag", "t1", *hosts_args(pool))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert f"base:t1 differs across the pool: {pool[1].url} holds" in lines[0]
    assert pool[0].calls.count("/api/chat") == pool[1].calls.count("/api/chat") == 0


def test_a_host_down_at_the_start_is_named(lab: Lab, pool):
    pool[1].stop()
    code, _out, err = lab.mfops("test", "--tag", "t1", *hosts_args(pool))
    assert code == 2
    assert f"cannot reach Ollama at {pool[1].url}, a host of the pool" in err


def test_a_pool_gate_builds_on_every_host_then_spreads_the_tests(rel: Release):
    other = seeded_double()
    try:
        other.client().pull(BASE)  # the locked base, as on the first host
        cand = rel.commit({"expert/Modelfile": BETTER_EXPERT}, "be concise")
        for d in (rel.double, other):
            d.faults.latency["/api/chat"] = 0.01  # both hosts busy for a moment: work spreads
        code, out, err = rel.mfops(
            "gate", "--all", "--samples", "4", "--host", rel.double.url, "--host", other.url
        )
        assert code == 0, out + err
        build = next(line for line in out.splitlines() if line.startswith("build "))
        assert f"on {rel.double.url}; built on the other 1 host" in build
        for d in (rel.double, other):
            for model in ("base", "expert"):
                assert d.digest(f"{model}:{cand}") == rel.double.digest(f"{model}:{cand}")
            assert d.calls.count("/api/chat") > 0  # each host answered some samples
        assert rel.double.calls.count("/api/chat") + other.calls.count("/api/chat") == 4 * 4
    finally:
        other.stop()


def test_a_pool_gate_cannot_promote(rel: Release):
    other = seeded_double()
    try:
        code, _out, err = rel.mfops(
            "gate", "--promote-to", "v1", "--host", rel.double.url, "--host", other.url
        )
        assert code == 2
        assert "--promote-to on a pool of hosts" in err
        assert rel.double.calls.count("/api/create") == 0
    finally:
        other.stop()


def test_against_on_a_pool_checks_both_tags_and_spreads_both_sides(lab: Lab, pool):
    for d in pool:
        Lab(lab.repo, d).build("t2")
    code, out, err = lab.mfops(
        "test", "--tag", "t2", "--against", "t1", "--samples", "4", "--no-cache",
        *hosts_args(pool),
    )  # fmt: skip
    assert code == 0, out + err
    for d in pool:
        models = {b["model"].split(":")[1] for b in d.calls.bodies("/api/chat")}
        assert models == {"t1", "t2"}  # each host answered samples of both sides
    total = sum(d.calls.count("/api/chat") for d in pool)
    assert total == 2 * 4 * 4
    # the release side is checked too: a differing t1 on one host refuses the comparison
    pool[1].add_local_model("base:t1", from_=BASE, system="Discuss pricing freely.")
    code, out, err = lab.mfops("test", "--tag", "t2", "--against", "t1", *hosts_args(pool))
    assert code == 1
    assert f"base:t1 differs across the pool: {pool[1].url} holds" in err
