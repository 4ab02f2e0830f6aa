"""A host that would refuse the release refuses the whole rollout before any host starts.

Every host is probed at once before a rollout; the checks that refuse a host (its base not
the locked one, a pinned parent it lacks, an Ollama too old for a command) ran only at that
host's turn, after the hosts before it had moved their tags. The environment was left half
on the release by a deploy that its own dry run had said would be refused.
"""

from __future__ import annotations

from tests.behavekit import BASE
from tests.promotekit import (  # noqa: F401  (fixtures)
    Release,
    release_fixture,
    seeded_fixture,
)
from tests.release.test_deploy import (  # noqa: F401  (fixtures)
    MODELS,
    deploy,
    hosts_fixture,
    listing,
    prod_fixture,
    states,
)


def test_a_host_whose_base_differs_refuses_the_rollout_before_any_host_moves(prod, hosts):
    hosts[2].tamper(BASE, system="another base")
    code, plan, _err = deploy(prod, "v1", "--env", "prod", "--dry-run")
    assert code == 1
    assert [h["state"] for h in plan["hosts"]] == ["ready", "ready", "refused"]
    code, record, err = deploy(prod, "v1", "--env", "prod")
    assert code == 1, err
    assert record["outcome"] == "refused"
    assert states(record) == ["not started", "not started", "refused"]
    assert f"the release was tested on {BASE} at sha256:" in record["hosts"][2]["reason"]
    assert err.strip().splitlines()[-1].startswith(f"mfops: deploy refused: {hosts[2].url}")
    for d in hosts:
        assert d.calls.count("/api/create") == 0
        assert d.calls.count("/api/copy") == 0
        assert not {f"{m}:{t}" for m in MODELS for t in ("v1", "latest")} & set(listing(d))
    code, status, err = prod.mfops("status", "--env", "prod")
    assert code == 0, err
    assert status.count(": not deployed") == 3, status
