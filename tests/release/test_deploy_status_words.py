"""`status --env` for a host added to the environment after its newest deploy."""

from __future__ import annotations

from tests.behavekit import BASE, seeded_double
from tests.promotekit import (  # noqa: F401  (fixtures)
    Release,
    release_fixture,
    seeded_fixture,
)
from tests.release.test_deploy import (  # noqa: F401  (fixtures)
    deploy,
    hosts_fixture,
    prod_fixture,
)


def test_a_host_that_joined_after_the_newest_deploy_is_said_to_have_joined_since(prod, hosts):
    """It read "newest deploy v1 (ID) not in the environment then here"."""
    assert deploy(prod, "v1", "--env", "prod")[0] == 0
    record = prod.history()[-1]
    late = seeded_double()
    try:
        late.client().pull(BASE)
        text = (prod.root / "mfops.yaml").read_text()
        prod.commit({"mfops.yaml": text + f"      - {late.url}\n"}, "a fourth host")
        code, out, err = prod.mfops("status", "--env", "prod")
        assert code == 0, err
        assert (
            f"  {late.url}: not deployed (newest deploy v1 ({record['id']}) made before it "
            "joined)\n" in out
        ), out
    finally:
        late.stop()
