"""deploy's probe: a release refused at its commit asks no host anything (as its dry run)."""

from __future__ import annotations

import dataclasses
import socket
import threading

from mfops.release.deploy import deploy, find_release
from mfops.release.deployplan import plan_deploy
from mfops.repo.repository import Repo
from mfops.server.client import ServerOptions
from tests.promotekit import (  # noqa: F401  (fixtures)
    release_fixture,
    seeded_fixture,
)
from tests.release.test_deploy import (  # noqa: F401
    hosts_fixture,
    prod_fixture,
)


class Silent:
    """A host that accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_refused_release_asks_no_host_anything_like_its_dry_run(prod, hosts):
    silent = Silent()
    try:
        repo = Repo.find(explicit=prod.root)
        config = repo.snapshot().config
        env = config.environments["prod"]
        env = dataclasses.replace(env, hosts=(*env.hosts, silent.url))
        ref = find_release(repo, "v1")
        ref = dataclasses.replace(ref, models=(*ref.models, "ghost"))
        for d in hosts:
            d.calls.reset()
        options = ServerOptions(timeout=3, connect_timeout=3, retries=0)
        plan = plan_deploy(repo, env, ref, options=options)
        assert plan.refused and not plan.hosts
        result = deploy(repo, env, ref, options=options)
        assert result.entry.outcome == "refused"
        # neither run asks a host anything, so a host that never answers cannot delay
        # the refusal by its --timeout
        assert sum(d.calls.count("/api/version") for d in hosts) == 0
        assert silent.accepted == 0
    finally:
        silent.close()
