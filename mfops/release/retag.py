"""Moving a set of tags on the server all-or-nothing: the mechanics under promote and rollback.

Ollama has no transactions: `/api/copy` overwrites one destination at a time, without
warning (ollama-reference §7). A promotion moves several tags (each model's release tag and
aliases, parents first), and a failure half-way must not leave `latest` pointing at a mix of
old and new models. So `retag`:

1. lists the server once (`/api/tags`) and notes, for every destination, the manifest it
   holds now or that it does not exist, and checks every source holds the expected manifest
   (the one that was tested); a mismatch stops here, before anything moved;
2. copies each existing destination that is about to change to a backup tag
   (`name:mfops-backup-<random>-<n>`): `/api/copy` shares blobs, so this costs a manifest,
   and it is the only way to get an old manifest back, since Ollama cannot copy by digest;
3. copies the sources to the destinations in the order given (with `window` N > 1, up to N
   copies at once, each started in that order: a rollout moves hundreds of tags per host
   and the window while a host serves a mix of old and new tags is shorter; moves where
   one's destination is another's source still go one at a time);
4. lists the server again and checks each destination now holds its source's manifest;
5. on any failure in 3 or 4 (an interrupt, or an error of any kind, which is raised again
   afterwards), puts every destination it touched back, in
   reverse order: the backup is copied back, and a destination that did not exist is
   deleted; a third listing checks the result;
6. deletes the backups, unless putting back failed: then they are kept and named, because
   they hold the only copies of the old manifests.

Ctrl-C, SIGTERM and SIGHUP during steps 2-4 are deferred (signals.py): noted, and acted on
between server calls, so no copy is ever left in flight; the destinations are put back as
in step 5 (backups made so far are deleted even when nothing had moved yet), and
`RetagInterrupted` carries the outcome, with the listing verified after the restore, for
the caller's record. Backup tags an earlier run left behind (killed with SIGKILL, or a
restore that failed) are reported at step 1 and deleted when another tag of the model still
holds their manifest; one holding the only copy of a manifest is kept and named.

Errors of the server after the first listing become the outcome's `error`; a server that
cannot be listed at step 1 (unreachable, or an answer that is not a listing) raises its
ServerError, since nothing has moved and the caller must not report a refusal.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mfops.errors import MfopsError, ServerError
from mfops.language.names import parse_name
from mfops.release.signals import Interrupted, Pending, deferred_signals
from mfops.server.client import ServerHTTPError

if TYPE_CHECKING:
    from mfops.server.client import Server, ServerModel

Stage = Literal["check", "backup", "copy", "verify", "done"]
BACKUP_PREFIX = "mfops-backup-"


@dataclass(frozen=True)
class Move:
    """Point `destination` at what `source` holds; `manifest` is what the source must hold
    (None: whatever it holds at step 1)."""

    source: str
    destination: str
    manifest: str | None = None


@dataclass(frozen=True)
class Moved:
    """A destination before and after: manifest digests, None when the tag is absent."""

    source: str
    destination: str
    source_manifest: str | None
    before: str | None
    after: str | None


class RetagInterrupted(Interrupted):
    """A stop signal (or Ctrl-C) ended `retag`; the tags were put back as far as possible
    and `outcome` says where they are now (verified by a listing)."""

    def __init__(self, outcome: RetagOutcome, signum: int) -> None:
        super().__init__(signum)
        self.outcome = outcome


@dataclass(frozen=True)
class RetagOutcome:
    """What `retag` did. `stage` is where it stopped ("done" when it succeeded);
    `restored` says whether the moved tags were put back (None when none had moved)."""

    ok: bool
    stage: Stage
    moves: tuple[Moved, ...]
    error: str | None = None
    restored: bool | None = None
    restore_errors: tuple[str, ...] = ()
    backups_kept: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def moved_any(self) -> bool:
        return any(m.before != m.after for m in self.moves)


EventFn = Callable[[str, str], None]  # (what, name): "backup", "copy", "restore", "delete"


def key(name: str) -> str:
    """How `/api/tags` spells `name:tag` (display form, case-folded): the listing's key."""
    return parse_name(name).display.casefold()


def backup_name(destination: str, token: str, n: int) -> str:
    return parse_name(destination).with_tag(f"{BACKUP_PREFIX}{token}-{n}").display


class _Retag:
    def __init__(
        self,
        server: Server,
        moves: Sequence[Move],
        on_event: EventFn | None,
        listing: dict[str, ServerModel] | None = None,
        window: int = 1,
    ) -> None:
        self.given = listing
        self.window = max(1, window)
        self.server = server
        self.moves = list(moves)
        self.on_event = on_event or (lambda what, name: None)
        self.before: dict[str, str | None] = {}
        self.sources: dict[str, str | None] = {}
        self.backups: dict[str, str] = {}  # destination -> backup tag
        self.touched: list[Move] = []
        self.warnings: list[str] = []
        self.listing: dict[str, ServerModel] = {}
        self.pending = Pending()

    def _listing(self) -> dict[str, ServerModel]:
        return self.server.models()

    def _digest(self, listing: dict[str, ServerModel], name: str) -> str | None:
        found = listing.get(key(name))
        return found.digest if found is not None else None

    def _outcome(
        self,
        ok: bool,
        stage: Stage,
        error: str | None = None,
        *,
        after: dict[str, str | None] | None = None,
        restored: bool | None = None,
        restore_errors: Sequence[str] = (),
        kept: Sequence[str] = (),
    ) -> RetagOutcome:
        after = after if after is not None else self.before
        moved = tuple(
            Moved(
                m.source,
                m.destination,
                self.sources.get(m.source),
                self.before.get(m.destination),
                after.get(m.destination),
            )
            for m in self.moves
        )
        return RetagOutcome(
            ok,
            stage,
            moved,
            error,
            restored,
            tuple(restore_errors),
            tuple(kept),
            tuple(self.warnings),
        )

    # -- steps ---------------------------------------------------------------------------

    def check(self) -> str | None:
        given, self.given = self.given, None
        listing = self.listing = given if given is not None else self._listing()
        for move in self.moves:
            self.before[move.destination] = self._digest(listing, move.destination)
            have = self._digest(listing, move.source)
            self.sources[move.source] = have
            if have is None:
                return f"{move.source} is not on the server"
            if move.manifest is not None and have != move.manifest:
                return (
                    f"{move.source} changed on the server since it was tested (it holds "
                    f"{have[:12]}, tested {move.manifest[:12]})"
                )
        dests = [m.destination for m in self.moves]
        if len({key(d) for d in dests}) != len(dests):
            return "the same destination is named twice"
        return None

    def backup(self) -> None:
        token = secrets.token_hex(3)
        for n, move in enumerate(self.moves, 1):
            before = self.before[move.destination]
            if before is None or before == self.sources[move.source]:
                continue
            name = backup_name(move.destination, token, n)
            self.on_event("backup", name)
            self.backups[move.destination] = name
            self.server.copy(move.destination, name)
            self.pending.checkpoint()
        if self.backups:
            listing = self._listing()
            for dest, name in self.backups.items():
                if self._digest(listing, name) != self.before[dest]:
                    raise MfopsError(f"backup {name} of {dest} does not hold its manifest")

    def copy(self) -> None:
        # a destination already holding its source has nothing to move, nothing to put back
        moving = [m for m in self.moves if self.before[m.destination] != self.sources[m.source]]
        # a destination that is another move's source (latest -> previous, new -> latest)
        # must wait for that copy: such moves go one at a time, in order
        sources = {key(m.source) for m in moving}
        chained = any(key(m.destination) in sources for m in moving)
        if self.window == 1 or len(moving) < 2 or chained:
            for move in moving:
                self._start(move)
                self.server.copy(move.source, move.destination)
                self.pending.checkpoint()
            return
        # A copy starts only when one of the `window` in flight has ended, so none waits in
        # a queue: whatever stops the loop (a failed copy, a signal) finds every started
        # copy in `touched`, and leaving the pool waits for those in flight, so the put-back
        # never races a copy.
        with ThreadPoolExecutor(max_workers=min(self.window, len(moving))) as pool:
            running: set[Future[None]] = set()
            for move in moving:
                if len(running) == self.window:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for ended in done:
                        ended.result()
                    self.pending.checkpoint()
                self._start(move)
                running.add(pool.submit(self.server.copy, move.source, move.destination))
            for ended in wait(running).done:
                ended.result()
        self.pending.checkpoint()

    def _start(self, move: Move) -> None:
        self.touched.append(move)
        self.on_event("copy", move.destination)

    def verify(self) -> tuple[dict[str, str | None], str | None]:
        listing = self._listing()
        after = {m.destination: self._digest(listing, m.destination) for m in self.moves}
        for move in self.moves:
            if after[move.destination] != self.sources[move.source]:
                have = after[move.destination]
                return after, (
                    f"{move.destination} holds {have[:12] if have else 'nothing'} "
                    f"after the copy, not {move.source}'s manifest"
                )
        return after, None

    def restore(self) -> tuple[dict[str, str | None], list[str]]:
        """Put every touched destination back, newest first; returns (after, errors).

        The listing afterwards decides: a destination that holds what it held before is
        fine even if its own put-back call failed (the failed copy had not moved it)."""
        attempts: dict[str, str] = {}
        for move in reversed(self.touched):
            dest = move.destination
            self.on_event("restore", dest)
            try:
                if self.before[dest] is None:
                    try:
                        self.server.delete(dest)
                    except ServerHTTPError as err:
                        if err.status != 404:
                            raise
                else:
                    self.server.copy(self.backups[dest], dest)
            except MfopsError as err:
                attempts[dest] = f"{dest}: {err}"
        try:
            listing = self._listing()
        except MfopsError as err:
            # Unknown: assume the worst, that every touched tag still holds the new model.
            worst = {m.destination: self.before[m.destination] for m in self.moves}
            worst.update({m.destination: self.sources[m.source] for m in self.touched})
            return worst, [*attempts.values(), f"cannot check the restored tags: {err}"]
        after = {m.destination: self._digest(listing, m.destination) for m in self.moves}
        errors = []
        for move in self.touched:
            dest = move.destination
            if after[dest] != self.before[dest]:
                was = self.before[dest]
                errors.append(
                    attempts.get(dest)
                    or (
                        f"{dest}: holds {(after[dest] or 'nothing')[:12]}, not "
                        f"{(was or 'nothing')[:12]} as before"
                    )
                )
        return after, errors

    def clean_leftovers(self) -> None:
        """Report the backup tags an earlier run left on these models; delete each whose
        manifest another tag still holds (module docstring)."""
        models = {parse_name(m.destination).untagged.casefold() for m in self.moves}
        kept = {
            m.digest
            for k, m in self.listing.items()
            if not k.rpartition(":")[2].startswith(BACKUP_PREFIX)
        }
        for name in sorted(self.listing):
            model, _, tag = name.rpartition(":")
            if model not in models or not tag.startswith(BACKUP_PREFIX):
                continue
            digest = self.listing[name].digest
            if digest not in kept:
                self.warnings.append(
                    f"found the backup tag {name} left by an earlier run; kept: it holds the "
                    f"only copy of manifest {digest[:12]} (copy it back, or delete it)"
                )
                continue
            self.on_event("delete", name)
            try:
                self.server.delete(name)
            except MfopsError as err:
                self.warnings.append(f"found the backup tag {name} left by an earlier run: {err}")
            else:
                self.warnings.append(f"found the backup tag {name} left by an earlier run: deleted")

    def drop_backups(self) -> None:
        for name in self.backups.values():
            self.on_event("delete", name)
            try:
                self.server.delete(name)
            except MfopsError as err:
                self.warnings.append(f"could not delete the backup tag {name}: {err}")

    # -- the whole transaction -------------------------------------------------------------

    def run(self) -> RetagOutcome:
        with deferred_signals() as pending:
            self.pending = pending
            return self._run()

    def _run(self) -> RetagOutcome:
        try:
            problem = self.check()
        except ServerError:
            raise  # nothing moved: an unusable server is exit 2 (ServerError), not a refusal
        except MfopsError as err:
            return self._outcome(False, "check", str(err))
        if problem is not None:
            return self._outcome(False, "check", problem)
        self.pending.checkpoint()  # nothing moved yet: just stop
        self.clean_leftovers()
        stage: Stage = "backup"
        try:
            self.pending.checkpoint()
            self.backup()
            stage = "copy"
            self.copy()
            stage = "verify"
            after, problem = self.verify()
            if problem is None:
                self.drop_backups()
                if pending_name := self._signal_name():
                    self.warnings.append(
                        f"{pending_name} arrived while the tags were moving; the move had "
                        "gone too far to stop and was completed"
                    )
                return self._outcome(True, "done", after=after)
            failure = MfopsError(problem)
        except MfopsError as err:
            failure = err
        except KeyboardInterrupt as stop:  # put things back, then let the interrupt through
            signum = getattr(stop, "signum", 2)
            outcome = self._failed(stage, f"interrupted ({_signal_label(signum)})")
            raise RetagInterrupted(outcome, signum) from None
        except Exception as err:  # a bug, or the caller's on_event: put back, then raise
            self.on_event = lambda what, name: None  # (it may fail again)
            self._failed(stage, f"internal error: {err!r}")
            raise
        return self._failed(stage, str(failure))

    def _signal_name(self) -> str | None:
        first = self.pending.first
        return _signal_label(first) if first is not None else None

    def _failed(self, stage: Stage, error: str) -> RetagOutcome:
        if not self.touched:
            self.drop_backups()
            return self._outcome(False, stage, error)
        after, errors = self.restore()
        if errors:
            kept = list(self.backups.values())
            return self._outcome(
                False, stage, error, after=after, restored=False, restore_errors=errors, kept=kept
            )
        self.drop_backups()
        return self._outcome(False, stage, error, after=after, restored=True)


def _signal_label(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def retag(
    server: Server,
    moves: Sequence[Move],
    *,
    on_event: EventFn | None = None,
    listing: dict[str, ServerModel] | None = None,
    window: int = 1,
) -> RetagOutcome:
    """Move every destination to its source's manifest, or none of them (module docstring).
    `listing`: the server's listing the caller has just taken, used as step 1's (a source
    that changes after it is caught by step 4: the destination then holds another manifest
    than the one listed). `window`: how many copies may run at once (step 3)."""
    return _Retag(server, moves, on_event, listing, window).run()
