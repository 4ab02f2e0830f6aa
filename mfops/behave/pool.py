"""One test run spread over a pool of Ollama servers (`--host` several times, or
`defaults.hosts`; issue 16).

Why a pool is safe to spread over: before anything runs, every host is asked for its version
and its listing, and each `model:tag` the run will send to (the tested models and the judge
and embedding models their assertions use) must have the same manifest digest on every host,
or, where the digests differ, the same content as `/api/show` reads it back (layers and
effective config, server/content.py): Ollama 0.24 writes the path of an uploaded file in the
server's models directory into the manifest, so a model built from a GGUF on two servers
whose OLLAMA_MODELS differ is listed under two digests with identical content.
A host that does not answer is named and the run refused (exit 2, as for one host); a model
that is missing on some hosts, or differs, is named with the host and the run refused
(exit 1: a check failed, nothing was tested). A model missing on every host is left to the
runner, which reports those cases as errors exactly as on one host.

How the work is spread: the unit is the runner's (one sample of one case of one model). Each
host gets its own `jobs` workers pulling from one shared queue, so a fast host takes more
samples than a slow one and the pool's capacity is `jobs` x hosts (one Ollama serves its own
queue; `--jobs` keeps meaning "requests at once per server"). Every worker is bound to one
host for the run; the pool is itself the runner's `ModelClient`, routing each chat and
embedding to the calling worker's host, so a sample, its judge and its embeddings are
answered by one server, and each sample records that host.

When a host dies: a sample whose request fails because its host stopped answering
(`ServerUnreachable`, or a broken connection or timeout after which the host no longer
answers its version probe) is not a result: it goes back to the front of the queue, the
host's workers stop, and the other hosts take it and the rest. So no case is reported as
passed or failed because its host died; samples are pure functions of (content, options,
seed), so the verdict equals the one-host verdict. When every host is gone with work left,
the run stops with `PoolGone` (exit 2) naming them.

The result cache is the first host's (`.mfops/<first host>/test-cache.json`): a cached
sample is keyed by the first host's manifest digest, which the check above makes stand for
the same content on every host, and by the server version (the pool's versions, joined
when they differ), so a cached result is valid whichever host answered it, and a pool whose
first host is A shares hits with plain runs on A.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mfops import __version__
from mfops.behave.results import Environment, display_name
from mfops.errors import CheckFailed, MfopsError, ServerError
from mfops.server.client import (
    Server,
    ServerHTTPError,
    ServerOptions,
    ServerUnreachable,
)
from mfops.server.content import content_fingerprint
from mfops.store.builds import now_utc

if TYPE_CHECKING:
    from mfops.behave.selection import CaseRun
    from mfops.server.client import Host

__all__ = ["HostLost", "Member", "Pool", "PoolGone", "PoolMismatch", "pool_targets"]

T = TypeVar("T")


class HostLost(Exception):
    """Raised inside a pool worker: its host died under this sample (not a result)."""


class PoolGone(ServerError):
    """Every host of the pool stopped answering with work left (exit 2)."""


class PoolMismatch(CheckFailed):
    """The hosts of a pool do not hold the same content for a model (exit 1)."""


@dataclass
class Member:
    """One host of the pool: its server, whether it still answers, how many samples it ran."""

    host: Host
    server: Server
    alive: bool = True
    answered: int = 0
    lost: str = ""


def pool_targets(cases: Sequence[CaseRun], tag: str) -> list[str]:
    """Every server model the run sends to: `model:tag` per case, and the judge and
    embedding models of their assertions; in first-use order."""
    names: dict[str, None] = {}
    for run in cases:
        names.setdefault(f"{run.model}:{tag}", None)
        for check in run.case.assertions:
            if check.model is not None:
                names.setdefault(check.model, None)
    return list(names)


class Pool:
    """The servers of one pool run; a `ModelClient` routing calls to the worker's host."""

    def __init__(self, hosts: Sequence[Host], options: ServerOptions | None = None) -> None:
        self.members = [Member(h, Server(h, options)) for h in hosts]
        self._local = threading.local()
        self._lock = threading.Lock()

    def close(self) -> None:
        for m in self.members:
            m.server.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def label(self) -> str:
        return ", ".join(m.host.display for m in self.members)

    # -- before the run ------------------------------------------------------------------

    def environment(
        self, targets: Sequence[str], *, tag: str, digests: dict[str, str] | None = None
    ) -> Environment:
        """Probe every host and check that each of `targets` is the same content on all of
        them (module docstring); the run's Environment, with only the agreed listing."""
        versions: list[str] = []
        listings: list[dict[str, str]] = []
        for m in self.members:
            try:
                versions.append(m.server.version())
                listings.append({k: v.digest for k, v in m.server.models().items()})
            except ServerUnreachable:
                raise self._unreachable(m) from None
        problems: list[str] = []
        same: set[str] = set()  # listed names whose digests differ but whose content agrees
        for target in targets:
            key = display_name(target)
            held = [
                (m, listing.get(key)) for m, listing in zip(self.members, listings, strict=True)
            ]
            have = [(m, d) for m, d in held if d is not None]
            if not have:
                continue  # on no host: the runner reports its cases as errors
            first, digest = have[0]
            reference: str | None = None  # the first host's content, read back when needed
            for m, d in held:
                if d is None:
                    problems.append(
                        f"{target} is not on {m.host.display} (the pool's "
                        f"{first.host.display} holds {digest[:12]})"
                    )
                elif d != digest:
                    if reference is None:
                        reference = self._content(first, key)
                    if reference is not None and self._content(m, key) == reference:
                        same.add(key)
                        continue
                    problems.append(
                        f"{target} differs across the pool: {m.host.display} holds {d[:12]}, "
                        f"{first.host.display} holds {digest[:12]}"
                    )
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise PoolMismatch(
                f"the pool does not hold the same models: {problems[0]}{more}",
                hint="build or pull the same content on every host (mfops gate builds on each)",
            )
        agreed = {
            k: v
            for k, v in listings[0].items()
            if k in same or all(other.get(k) == v for other in listings)
        }
        unique = list(dict.fromkeys(versions))
        return Environment(
            self.label,
            unique[0] if len(unique) == 1 else " / ".join(unique),
            tag,
            agreed,
            dict(digests or {}),
            now_utc(),
            __version__,
            tuple(m.host.display for m in self.members),
        )

    def _unreachable(self, member: Member) -> ServerError:
        return ServerError(
            f"cannot reach Ollama at {member.host.display}, a host of the pool ({self.label})",
            hint="start it, or leave it out of --host / defaults.hosts",
        )

    def _content(self, member: Member, name: str) -> str | None:
        """The content fingerprint of `name` on `member`'s server (None when it shows none)."""
        try:
            config = member.server.show(name)
        except ServerUnreachable:
            raise self._unreachable(member) from None
        return content_fingerprint(config) if config is not None else None

    # -- routing (ModelClient) -----------------------------------------------------------

    def _member(self) -> Member:
        mine: Member | None = getattr(self._local, "member", None)
        if mine is not None:
            return mine
        live = [m for m in self.members if m.alive]
        return live[0] if live else self.members[0]

    def current(self) -> str:
        """The host the calling worker is bound to."""
        return self._member().host.display

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        options: dict[str, Any],
        format: str | dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> tuple[str, float]:
        return self._member().server.chat(model, messages, options, format, deadline)

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        return self._member().server.embed(model, texts)

    def parameters(self, target: str) -> dict[str, object]:
        """A model's stored parameters, from the first host that answers (identical content)."""
        last: MfopsError | None = None
        for m in self.members:
            if not m.alive:
                continue
            try:
                config = m.server.show(target)
            except ServerUnreachable as err:
                last = err
                continue
            return dict(config.parameters) if config is not None else {}
        raise last or PoolGone(f"no host of the pool answers ({self.label})")

    def check_lost(self, err: MfopsError) -> None:
        """Raise HostLost when `err` means the calling worker's host died (module
        docstring); return when the host answered, so `err` is the sample's own result."""
        if isinstance(err, ServerHTTPError):
            return  # the server answered: a real error about this request
        if not isinstance(err, ServerError):
            return
        member = self._member()
        if not isinstance(err, ServerUnreachable):
            try:
                member.server.version()
                return
            except ServerError:
                pass
        raise HostLost(f"{member.host.display}: {err.message}")

    # -- the run -------------------------------------------------------------------------

    def dispatch(self, items: Sequence[T], work: Callable[[T], None], jobs: int) -> None:
        """Run `work(item)` for every item on `jobs` workers per live host; an item whose
        host dies (HostLost) is handed to the others. Raises PoolGone when no host is left
        with items pending, and re-raises any other error a worker met."""
        queue: deque[T] = deque(items)
        cond = threading.Condition()
        inflight = 0
        errors: list[BaseException] = []

        def worker(member: Member) -> None:
            nonlocal inflight
            self._local.member = member
            while True:
                with cond:
                    while not queue and inflight and member.alive and not errors:
                        cond.wait()
                    if not member.alive or not queue or errors:
                        return
                    item = queue.popleft()
                    inflight += 1
                try:
                    work(item)
                except HostLost as lost:
                    with cond:
                        if member.alive:
                            member.alive = False
                            member.lost = str(lost)
                        queue.appendleft(item)
                        inflight -= 1
                        cond.notify_all()
                    return
                except BaseException as exc:  # re-raised by dispatch, as fut.result() would
                    with cond:
                        errors.append(exc)
                        inflight -= 1
                        cond.notify_all()
                    return
                with cond:
                    member.answered += 1
                    inflight -= 1
                    cond.notify_all()

        threads = [
            threading.Thread(target=worker, args=(m,), name=f"mfops-pool-{n}-{j}", daemon=True)
            for n, m in enumerate(self.members)
            if m.alive
            for j in range(max(1, min(jobs, len(queue))))
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        except BaseException as exc:  # an interrupt: the workers take no more samples
            with cond:
                errors.append(exc)
                cond.notify_all()
            raise
        if errors:
            raise errors[0]
        if queue:
            gone = "; ".join(
                f"{m.host.display} ({m.lost or 'not answering'})" for m in self.members
            )
            raise PoolGone(
                f"every host of the pool stopped answering, {len(queue)} samples not run: {gone}",
                hint="nothing was reported for the cases left; start the servers and run again",
            )
