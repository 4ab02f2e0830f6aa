"""The build queue's critical path (issue 17 item 4): a worker goes on with a built model's
child itself, the report's manifests come from one listing after the queue, and none of it
loosens what a child is built from (its parent's verified content, by content tag)."""

from __future__ import annotations

import threading

from mfops.server.client import Server, ServerOptions
from mfops.server.hosts import resolve_host
from tests.buildkit import make_workspace, ollama_double_fixture  # noqa: F401  (fixture)

CHAINS = {
    f"c{c}l{level}/Modelfile": (
        f"FROM {'llama3.2:3b' if level == 0 else f'c{c}l{level - 1}'}\nSYSTEM chain {c} {level}\n"
    )
    for c in range(3)
    for level in range(3)
}


def _model(call) -> str:
    body = call.body
    return str(body.get("model") or body.get("source") or "").split(":")[0]


def fail_read_back(double, model: str) -> None:
    """`model`'s create drops its SYSTEM at the double, so its read-back fails."""
    original = double.api.create

    def create(req):
        if req["model"].startswith(f"{model}:"):
            req = {k: v for k, v in req.items() if k != "system"}
        return original(req)

    double.api.create = create


def test_each_child_is_created_from_its_parents_verified_content_tag(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, CHAINS)
    ollama_double.faults.latency["/api/create"] = 0.05
    report = ws.build_json("--all", "--jobs", "3")
    assert report["ok"] and len(report["models"]) == 9
    digests = {m["model"]: m["digest"].removeprefix("sha256:")[:12] for m in report["models"]}
    calls = ollama_double.calls
    created = {_model(c): c for c in calls["/api/create"]}
    shown = {_model(c): c for c in calls["/api/show"] if _model(c) in created}
    stamped = {
        _model(c): c
        for c in calls["/api/copy"]
        if c.body["destination"].split(":")[1].startswith("mf-")
    }
    for c in range(3):
        for level in range(1, 3):
            parent, child = f"c{c}l{level - 1}", f"c{c}l{level}"
            stamp = f"{parent}:mf-{digests[parent]}"
            assert created[child].body["from"] == stamp
            assert stamped[parent].body["destination"] == stamp
            # read back, then stamped, then (only then) the child's create started
            assert shown[parent].ended <= stamped[parent].started
            assert stamped[parent].ended <= created[child].started
    assert calls.max_concurrency["/api/create"] == 3


def test_a_failure_half_way_stamps_nothing_and_skips_the_rest_of_its_chain(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, CHAINS)
    fail_read_back(ollama_double, "c1l1")
    report = ws.build_json("--all", "--jobs", "3", expect=1)
    actions = {m["model"]: m["action"] for m in report["models"]}
    assert actions["c1l1"] == "failed" and actions["c1l2"] == "skipped"
    assert {actions[f"c{c}l{level}"] for c in (0, 2) for level in range(3)} == {"created"}
    stamps = [c.body["destination"] for c in ollama_double.calls["/api/copy"]]
    assert not [s for s in stamps if s.startswith("c1l1:") or s.startswith("c1l2:")]
    assert not [c for c in ollama_double.calls["/api/create"] if _model(c) == "c1l2"]


def test_fail_fast_starts_no_child_after_a_failure(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, CHAINS)
    fail_read_back(ollama_double, "c0l0")
    report = ws.build_json("--all", "--jobs", "1", "--fail-fast", expect=1)
    actions = {m["model"]: m["action"] for m in report["models"]}
    assert actions["c0l0"] == "failed"
    # one at a time, c0l0 first: nothing else was started after it failed
    assert set(actions.values()) == {"failed", "skipped"}
    assert [_model(c) for c in ollama_double.calls["/api/create"]] == ["c0l0"]


def test_the_report_manifests_come_from_one_listing_after_the_queue(tmp_path, ollama_double):
    ws = make_workspace(tmp_path, ollama_double, CHAINS)
    ollama_double.faults.latency["/api/create"] = 0.05
    ollama_double.calls.reset()
    report = ws.build_json("--all", "--jobs", "3")
    last_create = max(c.ended for c in ollama_double.calls["/api/create"])
    during = [c for c in ollama_double.calls["GET /api/tags"] if c.started < last_create]
    after = [c for c in ollama_double.calls["GET /api/tags"] if c.started >= last_create]
    assert len(after) == 1
    assert all(
        c.ended <= min(x.started for x in ollama_double.calls["/api/create"]) for c in during
    )
    for m in report["models"]:
        assert m["manifest"] == ollama_double.digest(f"{m['model']}:{report['tag']}")


def test_calls_at_once_take_clients_of_their_own_and_give_them_back(ollama_double):
    """As many httpx clients as calls at once (httpx's pool scans all its connections for
    every request), each reused by later calls, so its connection stays alive."""
    server = Server(resolve_host(ollama_double.url), ServerOptions(timeout=10))
    together = threading.Barrier(3)
    seen: list[object] = []

    def at_once() -> None:
        seen.append(server.client)
        together.wait(timeout=10)  # all three calls are in flight here

    threads = [
        threading.Thread(target=server.call, args=("probe", None, at_once)) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 3
    later: list[object] = []
    for _ in range(3):
        server.call("probe", None, lambda: later.append(server.client))
    assert len({id(c) for c in later}) == 1 and later[0] in seen  # given back, taken again
    assert server.version() and server.client in seen
    server.close()
    assert all(c._client.is_closed for c in seen)  # type: ignore[attr-defined]
    assert server.version()  # a new client after close
