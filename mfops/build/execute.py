"""Executing a build plan on Ollama: a ready-queue over the inheritance graph.

Up to `jobs` models are created at once, and each starts as soon as its source parent is
done, not when a whole level is: a deep chain next to many shallow models finishes in the time
of the chain. A model that fails takes its planned descendants with it (reported `skipped`,
naming the cause); independent branches go on, unless `fail_fast` stops new work. When the
server stops answering, nothing new is started either: every further call would fail.

Each created model is read back and compared with the intended config (roundtrip.py) before
it counts as built; only then is it copied to its content tag (`name:mf-<digest>`, tags.py),
which is how any later build, on any machine, knows the server holds this content, and only
then do its children start. The manifest digests of the report come from `/api/tags`, the
one place that has them: one listing after the queue serves every model (`Recorder`).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from mfops.build.tags import content_tag
from mfops.errors import MfopsError
from mfops.graph.effective import declared
from mfops.server.client import ServerHTTPError, ServerUnreachable
from mfops.server.request import create_request, uploads_for
from mfops.server.roundtrip import BaseConfigs, check_model, render

if TYPE_CHECKING:
    from mfops.build.plan import Plan, PlanItem
    from mfops.graph.revision import Revision
    from mfops.server.client import Progress, Server
    from mfops.server.roundtrip import BaseConfigs, Mismatch

Outcome = Literal["created", "tagged", "up to date", "failed", "skipped"]


@dataclass(frozen=True)
class ModelResult:
    """What happened to one model of the plan."""

    name: str
    target: str
    action: Outcome
    reason: str
    detail: str
    seconds: float = 0.0
    digest: str = ""
    manifest: str | None = None
    error: str | None = None
    mismatches: tuple[Mismatch, ...] = ()

    @property
    def ok(self) -> bool:
        return self.action in ("created", "tagged", "up to date")


#: A model's outcome, from a worker to the queue: (name, result, or what it raised;
#: neither when it was never begun)
_Finished = tuple[str, "ModelResult | None", "BaseException | None"]


@dataclass(frozen=True)
class BuildEvent:
    """For live displays: a model started, made progress, or finished (`result` set)."""

    kind: Literal["start", "progress", "done"]
    name: str
    target: str
    status: str = ""
    completed: int | None = None
    total: int | None = None
    result: ModelResult | None = None


EventFn = Callable[[BuildEvent], None]


@dataclass(frozen=True)
class BuildReport:
    plan: Plan
    results: tuple[ModelResult, ...]
    seconds: float

    @property
    def failed(self) -> bool:
        return any(not r.ok for r in self.results)

    def count(self, action: Outcome) -> int:
        return sum(1 for r in self.results if r.action == action)


class Recorder:
    """Gathers the manifests of created models with one listing, after the queue.

    The manifest digest of a new model is only in `/api/tags`. Children need not wait for
    it, and a listing during the queue took the interpreter (and the server) from the
    models being built: listing each wave as it finished cost a listing of every model
    the server holds per wave, where one at the end serves them all. `finish()` makes it.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._pending: list[PlanItem] = []
        self.manifests: dict[str, str] = {}
        self.errors: dict[str, str] = {}

    def add(self, item: PlanItem) -> None:
        with self._lock:
            self._pending.append(item)

    def finish(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            listing = self.server.models()
        except MfopsError as err:
            for item in batch:
                self.errors[item.name] = f"created, but not listed: {err}"
            return
        for item in batch:
            have = listing.get(item.target.casefold())
            if have is None:
                self.errors[item.name] = f"{item.target} is missing from the server's list"
                continue
            self.manifests[item.name] = have.digest


class Builder:
    """Runs one plan. Create one per build; `run()` once."""

    def __init__(
        self,
        rev: Revision,
        plan: Plan,
        *,
        server: Server,
        jobs: int = 4,
        fail_fast: bool = False,
        on_event: EventFn | None = None,
    ) -> None:
        self.rev = rev
        self.plan = plan
        self.server = server
        self.jobs = max(1, jobs)
        self.fail_fast = fail_fast
        self.on_event = on_event
        self.bases: BaseConfigs = BaseConfigs(server)
        if plan.items:
            rev.effective  # noqa: B018 - computed here once, not by racing worker threads
        self._emit_lock = threading.Lock()
        # Creates that upload blobs run one at a time (issue 13 item 6): Ollama deletes a
        # blob that no written manifest references when it re-creates or deletes a model,
        # even while another create is about to use that blob.
        self._uploading = threading.Lock()

    def _emit(self, event: BuildEvent) -> None:
        if self.on_event is not None:
            with self._emit_lock:
                self.on_event(event)

    # -- one model -------------------------------------------------------------------------

    def _result(self, item: PlanItem, action: Outcome, started: float, **kw: Any) -> ModelResult:
        return ModelResult(
            item.name,
            item.target,
            action,
            item.reason,
            item.detail,
            round(time.monotonic() - started, 3),
            item.digest,
            **kw,
        )

    def _run(self, item: PlanItem) -> ModelResult:
        started = time.monotonic()
        self._emit(BuildEvent("start", item.name, item.target, item.action))
        try:
            if item.action == "tag":
                return self._tag(item, started)
            return self._create(item, started)
        except ServerUnreachable:
            raise
        except MfopsError as err:
            return self._result(item, "failed", started, error=str(err))

    def _tag(self, item: PlanItem, started: float) -> ModelResult:
        assert item.copy_from is not None and item.manifest is not None
        self.server.copy(item.copy_from, item.target)
        return self._result(item, "tagged", started, manifest=item.manifest)

    def _create(self, item: PlanItem, started: float) -> ModelResult:
        node = self.rev.graph.nodes[item.name]
        uploads = uploads_for(node, self.rev.snapshot)
        # A source parent is named by its content tag, never by TAG: what a child is created
        # FROM is then the same for every tag, and so is the child's manifest.
        parent = node.parent
        from_tag = content_tag(self.rev.digests[parent]) if parent else self.plan.tag

        def progress(p: Progress) -> None:
            self._emit(
                BuildEvent("progress", item.name, item.target, p.status, p.completed, p.total)
            )

        def upload_and_create() -> None:
            blobs = {}
            for upload in uploads:
                self._emit(
                    BuildEvent("progress", item.name, item.target, f"uploading {upload.key}")
                )
                blobs[upload] = self.server.ensure_blob(upload.path, upload.digest)
            request = create_request(
                node, declared(node), target=item.target, tag=from_tag, blobs=blobs
            )
            # Without a listener (`--format json`) no line of the stream becomes an event.
            self.server.create(request, progress if self.on_event is not None else None)

        if not uploads:
            upload_and_create()
        else:
            with self._uploading:
                try:
                    upload_and_create()
                except ServerHTTPError as err:
                    if "no such file or directory" not in err.error:
                        raise
                    # A blob checked or uploaded a moment ago was collected by the server:
                    # upload again (never trusting the earlier HEAD) and create once more.
                    self.server.forget_blobs()
                    upload_and_create()
        self._emit(BuildEvent("progress", item.name, item.target, "verifying"))
        mismatches = check_model(
            self.server, self.rev.effective[item.name], item.target, self.bases
        )
        if mismatches is None:
            gone = f"{item.target} is not on the server after create"
            return self._result(item, "failed", started, error=gone)
        if mismatches:
            return self._result(
                item,
                "failed",
                started,
                mismatches=mismatches,
                error=f"round-trip check failed: the server's {item.target} differs from the "
                f"repo\n{render(mismatches)}",
            )
        stamp = f"{item.name}:{content_tag(item.digest)}"
        if stamp.casefold() != item.target.casefold():
            self.server.copy(item.target, stamp)  # verified: now it names this content
        return self._result(item, "created", started)

    # -- the queue -------------------------------------------------------------------------

    def _chain(
        self,
        item: PlanItem,
        next_child: Callable[[str, ModelResult], PlanItem | None],
        finished: queue.SimpleQueue[_Finished],
    ) -> None:
        """Build `item`, then (when it was built) one of its children, and so on down.

        Each model's outcome goes to the queue's thread through `finished`; a child starts
        here as soon as its parent's content tag is written, not after a round through
        that thread and the task queue (under 20 busy threads, each hand-over waited for the
        interpreter lock: milliseconds on every level of the critical path)."""
        current: PlanItem | None = item
        while current is not None:
            try:
                res = self._run(current)  # ServerUnreachable, or a bug: the queue decides
                self._emit(BuildEvent("done", current.name, res.target, result=res))
                following = next_child(current.name, res)
            except BaseException as exc:
                finished.put((current.name, None, exc))
                return
            finished.put((current.name, res, None))
            current = following

    def run(self) -> BuildReport:
        # The workers mostly wait on the server; one that wakes up must not wait out the
        # interpreter's 5 ms switch interval behind another's bit of JSON work, or every
        # model on the critical path pays it (measured: ~50 ms per level at 20 jobs).
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        try:
            return self._run_queue()
        finally:
            sys.setswitchinterval(interval)

    def _run_queue(self) -> BuildReport:
        began = time.monotonic()
        plan = self.plan
        items = {i.name: i for i in plan.items}
        children: dict[str, list[str]] = {}
        for item in plan.items:
            if item.parent is not None:
                children.setdefault(item.parent, []).append(item.name)
        results: dict[str, ModelResult] = {}
        # `started` (every model handed to a thread) and `stop` (why nothing new may start)
        # are shared with the workers, which start a child themselves (`_chain`).
        lock = threading.Lock()
        started: set[str] = set()
        stop: list[str] = []
        finished: queue.SimpleQueue[_Finished] = queue.SimpleQueue()

        def skip_below(name: str, cause: str) -> None:
            for child in children.get(name, []):
                if child not in results:
                    it = items[child]
                    results[child] = ModelResult(
                        child,
                        it.target,
                        "skipped",
                        it.reason,
                        it.detail,
                        digest=it.digest,
                        error=cause,
                    )
                    self._emit(BuildEvent("done", child, it.target, result=results[child]))
                    skip_below(child, cause)

        def claim(name: str) -> bool:
            """Mark `name` started unless something stops new work (or it started)."""
            with lock:
                if stop or name in started:
                    return False
                started.add(name)
                return True

        def next_child(name: str, res: ModelResult) -> PlanItem | None:
            """The first child of a model just built that no one started: its worker goes
            on with it at once, without waiting for this thread (`_chain`). A failure
            under `fail_fast` stops new work here, before the worker takes another."""
            if not res.ok:
                if self.fail_fast:
                    halt(f"not started: --fail-fast after {name} failed")
                return None
            for child in children.get(name, []):
                if claim(child):
                    return items[child]
            return None

        def halt(cause: str) -> None:
            with lock:
                if not stop:
                    stop.append(cause)

        tasks: queue.SimpleQueue[PlanItem | None] = queue.SimpleQueue()

        def work() -> None:
            while (task := tasks.get()) is not None:
                if stop:  # a model not begun when new work stopped: reported not started
                    finished.put((task.name, None, None))
                else:
                    self._chain(task, next_child, finished)

        # The workers are started before any model, not one by one as models are handed
        # out: a thread started while the others prepare their first requests waited for
        # the interpreter lock, and the 20th root of a build began ~40 ms after the first.
        workers = [
            threading.Thread(target=work, name=f"mfops-build_{i}")
            for i in range(min(self.jobs, len(plan.items)))
        ]
        for worker in workers:
            worker.start()
        recorder = Recorder(self.server)
        self.bases.prefetch([self.rev.effective[i.name] for i in plan.items if i.parent is None])
        count = 0  # finished models, of len(started)
        try:
            for item in plan.items:
                if item.parent is None and claim(item.name):
                    tasks.put(item)
            while True:
                with lock:
                    if count == len(started):
                        break
                name, res, failure = finished.get()
                count += 1
                if res is None and failure is None:
                    continue  # not started (see `work`): skipped with the cause, below
                if failure is not None:
                    if not isinstance(failure, ServerUnreachable):
                        raise failure
                    it = items[name]
                    res = ModelResult(
                        name,
                        it.target,
                        "failed",
                        it.reason,
                        it.detail,
                        digest=it.digest,
                        error=str(failure),
                    )
                    halt(f"not started: {failure.message}")
                    self._emit(BuildEvent("done", name, res.target, result=res))
                assert res is not None
                results[name] = res
                if res.action == "created":
                    recorder.add(items[name])
                if not res.ok:
                    skip_below(name, f"skipped: {name} failed")
                    if self.fail_fast:
                        halt(f"not started: --fail-fast after {name} failed")
                    continue
                for child in children.get(name, []):
                    if claim(child):
                        tasks.put(items[child])
        except BaseException:
            halt("interrupted")
            for _ in workers:
                tasks.put(None)  # each ends after the model it is building
            raise  # (no report, so no listing for it)
        stop_cause = stop[0] if stop else None
        for _ in workers:
            tasks.put(None)
        # Every model is done: the listing need not wait for 20 idle threads to wake up
        # and end (up to ~10 ms of interpreter-lock hand-overs at the end of a build).
        recorder.finish()
        for worker in workers:
            worker.join()
        for name, manifest in recorder.manifests.items():
            results[name] = replace(results[name], manifest=manifest)
        for name, error in recorder.errors.items():
            results[name] = replace(results[name], action="failed", error=error)
        for item in plan.items:
            if item.name not in results:
                results[item.name] = ModelResult(
                    item.name,
                    item.target,
                    "skipped",
                    item.reason,
                    item.detail,
                    digest=item.digest,
                    error=stop_cause or "not started",
                )
        ordered = [
            ModelResult(
                i.name,
                i.target,
                "up to date",
                i.reason,
                i.detail,
                digest=i.digest,
                manifest=i.manifest,
            )
            for i in plan.up_to_date
        ] + [results[i.name] for i in plan.items]
        return BuildReport(plan, tuple(ordered), round(time.monotonic() - began, 3))
