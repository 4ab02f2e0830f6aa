"""Rolling a release out to an environment: `mfops deploy TAG --env ENV` (and `rollback --env`).

An environment (`environments:` in mfops.yaml) is a list of Ollama servers that should all
hold a release. The truth about a release is its record in git (`refs/mfops/history`): the
newest successful promotion to TAG names the commit, the models, their content digests
and the aliases. Nothing on another server is trusted, so each host is brought to that
release from the commit itself:

1. **Check.** The host answers, and every external base of the release is on it at the
   digest `mfops.lock` held at the release commit; a base that is missing or differs
   refuses the host, named (nothing is pulled: a pull fetches whatever upstream holds now).
2. **Build to content tags.** A model whose content tag (`name:mf-<digest12>`) the host
   already has is not rebuilt. The others are created from the release commit's Modelfiles
   (server/request.py, as `build` does) at their content tag and read back at once; one
   that does not verify is deleted again, so a content tag names a verified model (the
   create and its read-back are one step: signals are deferred, see below). Creating at
   the content tag rather than at a staging tag copied afterwards saves two calls per
   model. TAG has not moved yet.
3. **Verify before moving.** Every content tag the host already had is read back against
   the release commit's effective config (a content tag changed by hand is caught here);
   the content digest of each model at the commit must be the one the release record
   holds. The layers read back (weights, adapters, drafts: blob digests) must equal the
   base's on that host, the other hosts' of this rollout and those an earlier deploy of
   the same release recorded. Manifest digests are *not* compared across hosts: they
   differ between Ollama versions for identical layers.
4. **Move TAG and the aliases** all or nothing with `retag` (release/retag.py: backups, a
   failure puts every moved tag back; signals deferred between server calls), up to
   `COPY_WINDOW` copies at once.
5. **What moved is what was read back.** After the read-backs of steps 2 and 3 the host is
   listed once. A read-back and the listing both give the manifest's `modified_at` (the
   manifest file's modification time, in nanoseconds): equal, the manifest was not written
   again in between, so the digest listed is the manifest that was read back. A content
   tag written again since (or a server that gives no time) is read back once more, now
   between this listing and retag's first, which must show each content tag still holding
   the manifest listed, or nothing moves (retag refuses a source that changed since it was
   tested). retag's last listing then shows every `name:TAG` holding that manifest. A
   manifest is content-addressed (it names the config and the layers), so TAG serves what
   was read back; a tag that holds anything else after the copy fails the host with its
   tags put back. Everything is verified before a tag moves, at one read-back per model.

Hosts go `max_parallel` at a time; with `canary` N the first N hosts go first and the
release's suites (from the release commit, the behave runner) run on each before the rest
start. A canary's suites run between steps 3 and 4, on the release's content copied to a
staging tag (removed again): a canary that fails them keeps TAG and its aliases on what it
held, and its record lists no models. The first failure stops the rollout: hosts in
flight finish their own transaction, hosts not started are not touched and are reported
"not started"; a host lost while its tags moved (the move not verified, putting them back
failing) is `unreachable` with the models whose tags may hold the release (the reason says
so). Ctrl-C, SIGTERM and SIGHUP are deferred while the rollout runs: no
new host starts, the hosts in flight finish or put their tags back, the record is written,
then the signal takes effect. One record of kind
"deploy" (history.py) holds every host's outcome and, per model, the manifest and layers
its release tag holds there; `status --env` and `rollback --env` read it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mfops.build.plan import Selection, make_plan
from mfops.build.session import Session
from mfops.build.tags import content_tag
from mfops.errors import CheckFailed, ConfigError, MfopsError, ServerError
from mfops.graph.effective import declared
from mfops.graph.revision import Revision
from mfops.language.suggest import close_matches, did_you_mean
from mfops.release.retag import Move, RetagInterrupted, key, retag
from mfops.release.signals import Interrupted, deferred_signals, held_signals
from mfops.release.verdict import suite_tester
from mfops.repo import history
from mfops.repo.history import Entry, HostModel, HostResult, ModelEntry
from mfops.server.bases import ReadBack, check, require_locked, require_pinned
from mfops.server.client import (
    Server,
    ServerModel,
    ServerOptions,
    ServerTimeout,
    ServerUnreachable,
)
from mfops.server.hosts import Host, host_identity, normalize_host, redact
from mfops.server.request import create_request, uploads_for
from mfops.server.roundtrip import BaseConfigs, compare, intended, render
from mfops.server.versions import require_supported
from mfops.store.builds import now_utc

if TYPE_CHECKING:
    from mfops.graph.effective import Effective
    from mfops.release.verdict import TestSummary
    from mfops.repo.config import Config, Environment
    from mfops.repo.repository import Repo
    from mfops.server.show import ServerConfig

STAGE_PREFIX = "mfops-deploy-"
#: Tag copies in flight at once per host while TAG and the aliases move (retag's `window`):
#: a host serves a mix of releases for a shorter time, and a rollout's hundreds of copies
#: per host do not wait on each other's round trip.
COPY_WINDOW = 8
_BLOB = re.compile(r"sha256[-:]([0-9a-f]{64})")

#: (host display, what) progress lines for the CLI.
EventFn = Callable[[str, str], None]
#: Runs the release's suites on one host at TAG; the CLI passes `canary_tests`.
CanaryTests = Callable[[Host, "Revision", Sequence[str], str], "TestSummary"]


# --------------------------------------------------------------------------- inputs


def environment(config: Config, name: str) -> Environment:
    """The environment `name` of mfops.yaml; an unknown one is bad input with a suggestion,
    and so is one whose hosts are not all valid, distinct servers (`_check_hosts`)."""
    found = config.environments.get(name)
    if found is not None:
        _check_hosts(config, found)
        return found
    known = sorted(config.environments)
    hint = did_you_mean(close_matches(name, known)) or (
        f"environments: {', '.join(known)}" if known else "add `environments:` to mfops.yaml"
    )
    where = f" in {config.path}" if config.path else ""
    raise MfopsError(f"no environment {name!r}{where}", hint=hint)


def _check_hosts(config: Config, env: Environment) -> None:
    """Each host of `env` is a URL the client can use, and no server is named twice by its
    identity (as the pool refuses it: `localhost` and `127.0.0.1:11434` are one server).

    Checked here, where the environment is resolved, since mfops.yaml's loader (repo/) sits
    below the host rules (server/hosts.py); a problem names mfops.yaml:LINE of the host."""
    seen: dict[str, str] = {}
    for i, raw in enumerate(env.hosts):
        line = config.lines.line("environments", env.name, "hosts", i)
        shown = redact(raw.strip())
        try:
            ident = host_identity(raw)
        except (ValueError, ServerError) as err:
            why = str(err) if isinstance(err, ValueError) else "bad port"
            raise ConfigError(
                f"environment {env.name}: host {shown!r} is not a valid Ollama URL ({why})",
                path=config.path,
                line=line,
                hint="write each host as http://HOST:PORT",
            ) from None
        twin = seen.get(ident)
        if twin is not None:
            raise ConfigError(
                f"environment {env.name} names one server twice: {twin!r} and {shown!r} are "
                f"both {ident}",
                path=config.path,
                line=line,
                hint="list each server of the environment once",
            )
        seen[ident] = shown


@dataclass(frozen=True)
class ReleaseRef:
    """One release as its promote record names it: the models (dependency order), their
    content digests (None: the record did not know), the commit and the aliases."""

    tag: str
    commit: str
    record: str
    models: tuple[str, ...]
    digests: Mapping[str, str | None]
    aliases: tuple[str, ...] = ()


def find_release(repo: Repo, tag: str, *, entries: Sequence[Entry] | None = None) -> ReleaseRef:
    """The newest successful promotion to `tag` in the git records (any host)."""
    records = list(entries) if entries is not None else history.load(repo)
    promoted = [e for e in records if e.kind == "promote" and e.outcome == "promoted" and e.to_tag]
    for entry in reversed(promoted):
        if entry.to_tag is not None and entry.to_tag.casefold() == tag.casefold():
            return _release_ref(entry, tag)
    known = sorted({e.to_tag for e in promoted if e.to_tag})
    hint = did_you_mean(close_matches(tag, known)) or (
        f"releases: {', '.join(known)}" if known else "promote one first: mfops promote"
    )
    raise MfopsError(f"no release {tag!r} in the release records", hint=hint)


def _release_ref(entry: Entry, tag: str) -> ReleaseRef:
    if entry.commit is None or entry.dirty or entry.to_tag is None:
        raise MfopsError(
            f"release {tag} was promoted from uncommitted files ({entry.id}): there is "
            "no commit to deploy it from",
            hint="promote it again from a commit",
        )
    return ReleaseRef(
        entry.to_tag,
        entry.commit,
        entry.id,
        tuple(m.name for m in entry.models),
        {m.name: m.digest for m in entry.models},
        entry.aliases,
    )


def release_of(entries: Sequence[Entry], record: str, tag: str) -> ReleaseRef:
    """The release promote record `record` names (by id, never by its tag's newest
    promotion): what an earlier deploy of `tag` deployed, with that record's aliases."""
    for entry in entries:
        if entry.id == record and entry.kind == "promote" and entry.outcome == "promoted":
            return _release_ref(entry, tag)
    raise MfopsError(
        f"the promote record {record} that deployed {tag} is not in the release records",
        hint="see `mfops history`",
    )


@dataclass(frozen=True)
class Rollout:
    """How to roll out: canary hosts first, hosts at once, creates per host at once."""

    canary: int = 0
    max_parallel: int = 1
    jobs: int = 1
    rollback: bool = False


# --------------------------------------------------------------------------- one host


class HostFailed(MfopsError):
    """One host could not be brought to the release; `state` says how (HOST_STATES)."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state = state


def layers_of(cfg: ServerConfig) -> tuple[str, ...]:
    """The blob digests of a model's weights, adapters, drafts and projectors (`/api/show`)."""
    out = []
    for ref in (cfg.weights, *cfg.adapters, *cfg.drafts, *cfg.projectors):
        m = _BLOB.search(ref)
        out.append(f"sha256:{m.group(1)}" if m else ref)
    return tuple(out)


class _Shared:
    """What the hosts of one rollout share: the layers the first host verified per model."""

    def __init__(self, recorded: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
        self.lock = threading.Lock()
        self.layers: dict[str, tuple[str, tuple[str, ...]]] = dict(recorded)

    def agree(self, host: str, name: str, layers: tuple[str, ...]) -> str | None:
        with self.lock:
            seen = self.layers.setdefault(name, (host, layers))
        if seen[1] == layers:
            return None
        return f"its layers differ from those on {seen[0]} ({_short(layers)} vs {_short(seen[1])})"


def _short(layers: tuple[str, ...]) -> str:
    return ",".join(x.removeprefix("sha256:")[:12] for x in layers) or "none"


class _HostDeploy:
    def __init__(
        self,
        repo: Repo,
        rev: Revision,
        release: ReleaseRef,
        host: Host,
        server: Server,
        shared: _Shared,
        *,
        version: str,
        jobs: int,
        stopping: Callable[[], bool],
        on_event: EventFn,
        suites: Callable[[str], str | None] | None = None,
    ) -> None:
        self.repo = repo
        self.rev = rev
        self.release = release
        self.host = host
        self.server = server  # probed already (`probe`); closed when the host is done
        self.version = version  # what the probe answered
        self.shared = shared
        self.jobs = jobs
        self.stopping = stopping
        self.on_event = on_event
        self.suites = suites  # a canary's: run at a staging tag, a failure's reason or None
        self.models: list[HostModel] = []
        self.refusing = True  # until the checks passed: a problem refuses the host

    def say(self, what: str) -> None:
        self.on_event(self.host.display, what)

    def run(self) -> HostResult:
        server = self.server
        try:
            self._run(server)
        except (ServerUnreachable, ServerTimeout) as err:
            reason = self._lost(str(err))
            return HostResult(
                self.host.identity, "unreachable", reason=reason, models=tuple(self.models)
            )
        except MfopsError as err:
            if self._gone():  # a failure because the host went away says so
                return HostResult(
                    self.host.identity,
                    "unreachable",
                    reason=self._lost(f"stopped answering: {err}"),
                    models=tuple(self.models),
                )
            if isinstance(err, HostFailed):
                return HostResult(
                    self.host.identity, err.state, reason=str(err), models=tuple(self.models)
                )
            raise
        except RetagInterrupted as stop:
            outcome = stop.outcome
            how = "put back" if outcome.restored is not False else "NOT all put back"
            return HostResult(
                self.host.identity,
                "interrupted",
                reason=f"interrupted while moving the tags; they were {how}",
            )
        finally:
            server.close()
        return HostResult(self.host.identity, "deployed", models=tuple(self.models))

    def _lost(self, reason: str) -> str:
        """A host lost after its tags moved says so: the record lists what they hold."""
        if not self.models:
            return reason
        tags = ", ".join((self.release.tag, *self.release.aliases))
        return f"{tags} had moved to the release when the host was lost (not verified): {reason}"

    def _gone(self) -> bool:
        probe = Server(self.host, self.server.options)
        try:
            probe.version(retry=False)
        except MfopsError:
            return True
        finally:
            probe.close()
        return False

    def _run(self, server: Server) -> None:
        try:
            self._steps(server)
        except HostFailed:
            raise
        except (CheckFailed, ServerError) as err:
            if isinstance(err, (ServerUnreachable, ServerTimeout)):
                raise
            raise HostFailed("refused" if self.refusing else "failed", str(err)) from None
        except MfopsError as err:
            raise HostFailed("failed", str(err)) from None

    def _steps(self, server: Server) -> None:
        rev, release, shown = self.rev, self.release, self.host.display
        listing = server.models()  # the host answered the probe (`probe`) just before
        names = list(release.models)
        require_host(rev, names, listing, self.version, host=shown, read_back=server.show)
        self.refusing = False
        digests = {n: rev.digests[n] for n in names}
        stage = STAGE_PREFIX + secrets.token_hex(3)
        plan = make_plan(
            rev,
            Selection(names=tuple(names)),
            tag=stage,
            tag_origin="deploy",
            listing=listing,
            host=shown,
            server=server,
        )
        creating = [i.name for i in plan.items if i.action == "create"]
        bases = BaseConfigs(server)
        effective = rev.effective
        # what each content tag read back as: its layers (kept in the record) and when its
        # manifest was written
        read: dict[str, tuple[tuple[str, ...], str]] = {}
        with ThreadPoolExecutor(max_workers=self.jobs + 2) as pool:
            if creating:
                self.say(f"building {len(creating)} model(s) from {release.commit[:12]}")
                # each read back at once, so that a content tag only names a verified model
                self._create(server, pool, creating, stage, bases, read)
            made = set(creating)

            def again(name: str) -> None:
                target = f"{name}:{content_tag(digests[name])}"
                read[name] = self._verify(server, name, target, bases, effective[name])

            list(pool.map(again, [n for n in names if n not in made]))
            # One listing after every read-back: a content tag whose manifest was written
            # again since its read-back (another modification time; or a server that
            # gives none) is read back once more, now between this listing and retag's
            # first, which must show the same manifest (Move.manifest) or nothing moves.
            listing = server.models()
            tested: dict[str, str] = {}
            stale: list[str] = []
            for name in names:
                found = listing.get(key(f"{name}:{content_tag(digests[name])}"))
                if found is None:
                    raise HostFailed(
                        "failed", f"{name}:{content_tag(digests[name])} is not on the host"
                    )
                tested[name] = found.digest
                if not found.modified_at or found.modified_at != read[name][1]:
                    stale.append(name)
            list(pool.map(again, stale))
        layers = {n: read[n][0] for n in names}
        problems = [
            f"verification failed before any tag moved: {name}:{content_tag(digests[name])}: {why}"
            for name in names
            for why in self._agree(name, layers[name])
        ]
        if problems:
            raise HostFailed("failed", "\n".join(problems))
        if self.stopping():
            raise HostFailed("interrupted", "stopped before any tag moved")
        tags = (release.tag, *release.aliases)
        if self.suites is not None:
            self._canary(server, names, digests, stage, tags)
        moves = [
            Move(f"{n}:{content_tag(digests[n])}", f"{n}:{t}", tested[n])
            for n in names
            for t in tags
        ]
        self.say(f"moving {', '.join(tags)}")
        # with nothing read back again, the listing above is retag's first as well
        outcome = retag(
            server, moves, listing=None if stale or self.suites else listing, window=COPY_WINDOW
        )
        # On success retag's last listing showed every tag holding its content tag's
        # manifest, the one read back above: a manifest names its config and layers, so
        # that read-back is what TAG now serves (module docstring, step 5). When putting
        # the tags back failed, the record lists the models any of whose tags (TAG or an
        # alias) may hold the release.
        may_hold = {
            m.source
            for m in outcome.moves
            if outcome.ok or (outcome.restored is False and m.after == m.source_manifest)
        }
        self.models = [
            HostModel(n, content_tag(digests[n]), tested[n], layers[n])
            for n in names
            if f"{n}:{content_tag(digests[n])}" in may_hold
        ]
        if not outcome.ok:
            put = {True: "; every moved tag was put back", False: "; putting them back FAILED"}
            back = put[outcome.restored] if outcome.restored is not None else ""
            raise HostFailed("failed", f"moving the tags failed: {outcome.error}{back}")

    def _canary(
        self,
        server: Server,
        names: list[str],
        digests: Mapping[str, str],
        stage: str,
        tags: tuple[str, ...],
    ) -> None:
        """A canary's suites run on the release's content before any tag moves: each content
        tag is copied to the staging tag, the suites run there, the staging tags go again. A
        failure leaves TAG and the aliases as they were (the host keeps its earlier release)."""
        assert self.suites is not None
        staged = []
        try:
            for n in names:
                server.copy(f"{n}:{content_tag(digests[n])}", f"{n}:{stage}")
                staged.append(f"{n}:{stage}")
            why = self.suites(stage)
        finally:
            for target in staged:
                _drop(server, target)
        if why is not None:
            raise HostFailed(
                "failed", f"{why}; {', '.join(tags)} not moved: the host keeps what it had"
            )
        if self.stopping():
            raise HostFailed("interrupted", "stopped before any tag moved")

    def _create(
        self,
        server: Server,
        pool: ThreadPoolExecutor,
        names: list[str],
        stage: str,
        bases: BaseConfigs,
        read: dict[str, tuple[tuple[str, ...], str]],
    ) -> None:
        """Create `names` (dependency order) at their content tags, at most `jobs` creates
        at once, each read back (into `read`); a model's verification overlaps the next
        create. The first failure stops the rest."""
        rev = self.rev
        gate = threading.Semaphore(self.jobs)
        uploading = threading.Lock()  # creates that upload blobs go one at a time (execute.py)
        failed = threading.Event()
        futures: dict[str, Future[None]] = {}

        def one(name: str) -> None:
            node = rev.graph.nodes[name]
            parent = node.parent
            if parent in futures:
                futures[parent].result()  # raises when the parent failed
            if failed.is_set() or self.stopping():
                raise HostFailed("interrupted" if self.stopping() else "failed", "stopped")
            target = f"{name}:{content_tag(rev.digests[name])}"
            from_tag = content_tag(rev.digests[parent]) if parent else stage
            uploads = uploads_for(node, rev.snapshot)
            # the request is made before taking a create slot: only the create holds it
            fields = declared(node)
            request = (
                None
                if uploads
                else create_request(node, fields, target=target, tag=from_tag, blobs={})
            )
            try:
                with gate, uploading if uploads else contextlib.nullcontext():
                    if request is None:
                        blobs = {u: server.ensure_blob(u.path, u.digest) for u in uploads}
                        request = create_request(
                            node, fields, target=target, tag=from_tag, blobs=blobs
                        )
                    server.create(request)
                read[name] = self._verify(
                    server, name, target, bases, rev.effective[name], built=True
                )
            except BaseException:
                failed.set()
                _drop(server, target)  # a content tag only names a verified model
                raise

        for name in names:
            futures[name] = pool.submit(one, name)
        errors = []
        for name in names:
            err = futures[name].exception()
            if err is not None and str(err) != "stopped":
                errors.append((name, err))
        if errors:
            name, err = errors[0]
            if isinstance(err, HostFailed):
                raise err
            if isinstance(err, MfopsError):
                raise HostFailed("failed", f"{name}: {err}") from None
            raise err
        if failed.is_set() or self.stopping():
            raise HostFailed("interrupted", "stopped before any tag moved")

    def _agree(self, name: str, layers: tuple[str, ...]) -> list[str]:
        why = self.shared.agree(self.host.display, name, layers)
        return [why] if why else []

    def _verify(
        self,
        server: Server,
        name: str,
        target: str,
        bases: BaseConfigs,
        eff: Effective,
        *,
        built: bool = False,
    ) -> tuple[tuple[str, ...], str]:
        """Read `target` back against the release commit's intent; its layers and when its
        manifest was written."""
        have = server.show(target)
        if have is None:
            raise HostFailed("failed", f"{target} is not on the host")
        base, base_name = bases.for_model(eff)
        mismatches = compare(intended(eff, base, base_name=base_name), have)
        when = "after the create (round trip)" if built else "before any tag moved"
        if mismatches:
            raise HostFailed(
                "failed",
                f"verification failed {when}: {target} differs from the release\n"
                + render(mismatches),
            )
        layers = layers_of(have)
        if base is not None and have.weights and layers[:1] != layers_of(base)[:1]:
            raise HostFailed(
                "failed",
                f"verification failed {when}: {target}'s weights {_short(layers[:1])} are not "
                f"its base {base_name}'s {_short(layers_of(base)[:1])}",
            )
        return layers, have.modified_at


def _drop(server: Server, target: str) -> None:
    # a leftover staging tag moves nothing; `ollama rm` removes it
    with contextlib.suppress(MfopsError):
        server.delete(target)


# --------------------------------------------------------------------------- the rollout


@dataclass(frozen=True)
class DeployResult:
    entry: Entry
    release: ReleaseRef
    hosts: tuple[HostResult, ...]
    failures: tuple[str, ...] = ()
    interrupted: int | None = None

    @property
    def ok(self) -> bool:
        return self.entry.ok


def canary_tests(host: Host, rev: Revision, names: Sequence[str], tag: str) -> TestSummary:
    """The release commit's suites on `host` at `tag` (the same runner and cache as test)."""
    server = Server(host, ServerOptions())
    session = Session(rev.repo, host, server)
    try:
        return suite_tester(session, rev)(names, tag)
    finally:
        server.close()


def recorded_layers(
    entries: Sequence[Entry], release: ReleaseRef
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per model, the layers an earlier successful deploy of this release recorded."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for e in entries:
        if e.kind != "deploy" or e.release != release.record:
            continue
        for h in e.hosts:
            if h.state == "deployed":
                for m in h.models:
                    if m.layers:
                        out.setdefault(m.name, (f"{h.host} (deploy {e.id})", m.layers))
    return out


def probe(server: Server) -> tuple[str, str | None]:
    """The probe every rollout starts with (the version, asked once, no retry): (version,
    None) when the host answers, ("", why not) when it does not. The same `Server` then
    deploys to it."""
    try:
        return server.version(retry=False), None
    except ServerError as err:
        return "", str(err)


def require_host(
    rev: Revision,
    names: Sequence[str],
    listing: dict[str, ServerModel],
    version: str,
    *,
    host: str,
    read_back: ReadBack | None = None,
) -> None:
    """Refuse a host (CheckFailed) before anything is written to it: a base missing or not
    at its locked digest (or fingerprint, read back with `read_back`: server/bases.py), a
    pinned parent it lacks, or a Modelfile command its Ollama version would silently drop
    (server/versions.py). The dry run asks the same."""
    statuses = check(rev.graph, rev.lock, listing, names, read_back=read_back)
    require_locked(statuses, host=host, release=True)
    require_pinned(rev.graph, names, listing, host=host)
    require_supported(version, rev.graph, names, host=host)


def release_commit(repo: Repo, release: ReleaseRef) -> tuple[Revision, list[str]]:
    """The release commit, loaded (graph, lock, digests, effective configs: once here, not
    by racing host threads), and why it cannot be deployed: a model it does not define, or
    whose digest there is not the one the release record holds."""
    rev = Revision(repo, release.commit)
    refused: list[str] = []
    try:
        rev.load()
        rev.lock  # noqa: B018
        rev.effective  # noqa: B018
        missing = [n for n in release.models if n not in rev.graph.nodes]
        if missing:
            refused.append(f"{', '.join(missing)} not defined at {release.commit[:12]}")
        for name in release.models:
            want = release.digests.get(name)
            if name in rev.graph.nodes and want is not None and rev.digests[name] != want:
                refused.append(
                    f"{name}: the release commit builds {rev.digests[name][:19]}, the release "
                    f"record says {want[:19]}"
                )
    except MfopsError as err:
        refused.append(f"cannot read the release commit {release.commit[:12]}: {err}")
    return rev, refused


def deploy(
    repo: Repo,
    env: Environment,
    release: ReleaseRef,
    *,
    rollout: Rollout = Rollout(),
    options: ServerOptions | None = None,
    tests: CanaryTests | None = canary_tests,
    on_event: EventFn | None = None,
    entries: Sequence[Entry] | None = None,
) -> DeployResult:
    """Bring every host of `env` to `release` (see the module docstring); one record.
    `entries`: the release records, when the caller has read them already (each read
    parses every record)."""
    say = on_event or (lambda host, what: None)
    options = options or ServerOptions()
    at = now_utc()
    entries = entries if entries is not None else history.load(repo)
    hosts = [Host(normalize_host(h)) for h in env.hosts]
    servers = {h.identity: Server(h, options) for h in hosts}
    try:
        return _rollout(repo, env, release, rollout, tests, say, entries, at, servers)
    finally:
        for server in servers.values():
            server.close()


def _rollout(
    repo: Repo,
    env: Environment,
    release: ReleaseRef,
    rollout: Rollout,
    tests: CanaryTests | None,
    say: EventFn,
    entries: Sequence[Entry],
    at: str,
    servers: dict[str, Server],
) -> DeployResult:
    hosts = [s.host for s in servers.values()]
    results: dict[str, HostResult] = {}
    # The first client imports the HTTP stack, a fifth of a second of a rollout's start:
    # made beside loading the release commit (git's time), asking no host anything (a
    # refused release contacts none, as its dry run).
    if servers:
        first = next(iter(servers.values()))
        threading.Thread(target=first.warm, name="mfops-import", daemon=True).start()
    history.check_writable(repo)  # no record, no rollout: before any host is touched
    rev, refused = release_commit(repo, release)
    if refused:
        return _finish(repo, env, release, rollout, at, results, hosts, "refused", refused, None)

    # A host that does not answer, or that would refuse the release (its base, its Ollama:
    # the checks of its own first step, as the dry run asks them), refuses the rollout
    # before any host starts (all asked at once). Found only at its turn, it came after the
    # hosts before it had moved: an environment left half on the release, which the dry run
    # had already said the deploy would refuse.
    def ready(server: Server) -> tuple[str, str | None, str | None]:
        version, why = probe(server)
        if why is not None:
            return version, why, None
        try:
            listing = server.models()
            require_host(
                rev,
                list(release.models),
                listing,
                version,
                host=server.host.display,
                read_back=server.show,
            )
        except (ServerUnreachable, ServerTimeout) as err:
            return version, str(err), None
        except (CheckFailed, ServerError) as err:
            return version, None, str(err)
        return version, None, None

    with ThreadPoolExecutor(max_workers=min(16, len(hosts) or 1)) as probes:
        checked = dict(zip(servers, probes.map(ready, servers.values()), strict=True))
    answers = {identity: (version, why) for identity, (version, why, _) in checked.items()}
    for identity, (_, why, refusal) in checked.items():
        if why is not None:
            results[identity] = HostResult(identity, "unreachable", reason=why)
        elif refusal is not None:
            results[identity] = HostResult(identity, "refused", reason=refusal)
    if results:
        down = [
            f"{h.identity}: {results[h.identity].reason}" for h in hosts if h.identity in results
        ]
        return _finish(repo, env, release, rollout, at, results, hosts, "refused", down, None)
    shared = _Shared(recorded_layers(entries, release))
    failures: list[str] = []
    with deferred_signals() as pending:
        stop = threading.Event()

        def stopping() -> bool:
            return stop.is_set() or bool(pending.signums)

        def one(host: Host, canary: bool) -> None:
            say(host.display, "canary: deploying" if canary else "deploying")

            def suites(stage: str) -> str | None:
                assert tests is not None
                say(host.display, "canary: running the release's suites before the tags move")
                try:
                    summary = tests(host, rev, release.models, stage)
                except MfopsError as err:
                    return f"the suites could not run: {err}"
                if all(m.status in ("passed", "untested") for m in summary.models.values()):
                    return None
                first = summary.failures[0] if summary.failures else "a suite failed"
                more = len(summary.failures) - 1
                return f"canary suites failed: {first}" + (
                    f" (and {more} more)" if more > 0 else ""
                )

            worker = _HostDeploy(
                repo,
                rev,
                release,
                host,
                servers[host.identity],
                shared,
                version=answers[host.identity][0],
                jobs=rollout.jobs,
                stopping=stopping,
                on_event=say,
                suites=suites if canary and tests is not None else None,
            )
            try:
                result = replace(worker.run(), canary=canary)
            except Exception as err:  # a bug must not pass for "not started"
                result = HostResult(
                    host.identity,
                    "failed",
                    canary,
                    f"internal error: {err!r}",
                    tuple(worker.models),
                )
            results[host.identity] = result
            say(
                host.display,
                result.state + (f": {result.reason.splitlines()[0]}" if result.reason else ""),
            )
            if result.state != "deployed":
                failures.append(f"{host.display}: {result.reason or result.state}")
                stop.set()

        canaries = hosts[: max(0, rollout.canary)]
        rest = hosts[len(canaries) :]
        # Python's default 5 ms switch interval: a shorter one (build's 0.5 ms) made every
        # host thread waiting for the GIL wake ten times as often, which cost a rollout of
        # 10 hosts a fifth more CPU and wall time (benchmarks/deploy.py)
        for group, canary in ((canaries, True), (rest, False)):
            _pool(group, functools.partial(one, canary=canary), rollout.max_parallel, stopping)
            if stopping():
                break
        signum = pending.first
        outcome = "failed" if failures or signum is not None else "deployed"
        # Still deferred: a signal now waits for the record of the hosts' moved tags (one
        # that raised in the write lost it), then stops with the report of what was done.
        result = _finish(repo, env, release, rollout, at, results, hosts, outcome, failures, signum)
        if pending.first is not None:
            raise DeployInterrupted(result, pending.first)
        return result


def _pool(
    hosts: Sequence[Host], work: Callable[[Host], None], width: int, stopping: Callable[[], bool]
) -> None:
    """Run `work` for each host, `width` at a time, starting none once `stopping()`."""
    todo = list(hosts)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not todo or stopping():
                    return
                host = todo.pop(0)
            work(host)

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(width, len(todo))))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _finish(
    repo: Repo,
    env: Environment,
    release: ReleaseRef,
    rollout: Rollout,
    at: str,
    results: Mapping[str, HostResult],
    hosts: Sequence[Host],
    outcome: str,
    failures: Sequence[str],
    signum: int | None,
) -> DeployResult:
    canaries = {h.identity for h in hosts[: max(0, rollout.canary)]}
    ordered = tuple(
        results.get(h.identity)
        or HostResult(
            h.identity,
            "not started",
            canary=h.identity in canaries,
            reason="not touched: the rollout stopped first" if outcome != "refused" else None,
        )
        for h in hosts
    )
    if outcome == "deployed" and rollout.rollback:
        outcome = "rolled back"
    reason = None
    if signum is not None:
        reason = "interrupted: no host was started after the signal"
    elif failures:
        reason = failures[0].splitlines()[0] + (
            f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        )
    entry = Entry(
        id=history.new_id(at),
        kind="deploy",
        outcome=outcome,  # type: ignore[arg-type]
        at=at,
        host=f"env:{env.name}",
        from_tag=release.tag,
        aliases=release.aliases,
        models=tuple(
            ModelEntry(n, f"{n}:{release.tag}", None, release.digests.get(n))
            for n in release.models
        ),
        failures=tuple(failures),
        reason=reason,
        commit=release.commit,
        env=env.name,
        release=release.record,
        hosts=ordered,
    )
    try:
        with held_signals():  # a record half-written is no record (signals.py)
            history.append(repo, entry)
    except KeyboardInterrupt as stop:  # arrived during the write: recorded, then stop
        signum = signum or getattr(stop, "signum", signal.SIGINT)
    result = DeployResult(entry, release, ordered, tuple(failures), signum)
    if signum is not None:
        raise DeployInterrupted(result, signum)
    return result


class DeployInterrupted(Interrupted):
    """A stop signal ended the rollout; `result` is what was recorded."""

    def __init__(self, result: DeployResult, signum: int) -> None:
        super().__init__(signum)
        self.result = result


# --------------------------------------------------------------------------- reading back


def deploys(entries: Sequence[Entry], env: str) -> list[Entry]:
    """The deploy records of `env`, oldest first."""
    return [e for e in entries if e.kind == "deploy" and e.env == env]


def previous_release(
    repo: Repo, env: str, to_tag: str | None = None, *, entries: Sequence[Entry] | None = None
) -> ReleaseRef:
    """The release `rollback --env` goes back to, as the promote record an earlier
    successful deploy to `env` deployed (the tag may have been promoted again since: its
    newest promotion was never deployed there). Without `to_tag`: the newest such release
    that is not the one its newest rollout that touched a host deployed; with it: the newest
    deploy of `to_tag` there."""
    entries = entries if entries is not None else history.load(repo)
    touched = [e for e in deploys(entries, env) if e.outcome != "refused"]
    if not touched:
        raise MfopsError(
            f"no deploy to environment {env!r} in the release records", hint="see `mfops history`"
        )
    newest = touched[-1]
    for e in reversed(touched):
        if not e.ok or e.release is None:
            continue
        if to_tag is not None:
            if e.from_tag.casefold() == to_tag.casefold():
                return release_of(entries, e.release, e.from_tag)
        elif e.release != newest.release:
            return release_of(entries, e.release, e.from_tag)
    if to_tag is not None:
        raise MfopsError(
            f"release {to_tag} was never deployed to environment {env!r}: a rollback goes back "
            "to a release deployed there",
            hint=f"deploy it: mfops deploy {to_tag} --env {env}",
        )
    raise MfopsError(
        f"environment {env!r} has no earlier deployed release than {newest.from_tag}",
        hint="name one: mfops deploy TAG --env " + env,
    )


@dataclass(frozen=True)
class ModelState:
    """One model on one host: its release tag and aliases, each `current` (holds what the
    deploy recorded), `drifted` (holds something else) or `missing`; `release` is the
    deployed release whose recorded manifest the release tag's first alias (else the tag)
    holds, or None."""

    name: str
    tags: tuple[tuple[str, str], ...]
    release: str | None


@dataclass(frozen=True)
class HostState:
    """One host against the newest deploy to it that moved its tags (`deploy`, of
    `release`): `current`, `drifted` or `missing` as its models' tags say; `behind` when
    it is current but a later rollout, which moved tags on other hosts, did not reach it
    (`reason` says why); `not deployed`; `unreachable`."""

    host: str
    state: str  # "current", "drifted", "missing", "behind", "not deployed", "unreachable"
    models: tuple[ModelState, ...] = ()
    reason: str | None = None
    release: str | None = None
    deploy: str | None = None


def _deployed(entry: Entry, ident: str) -> HostResult | None:
    return next((h for h in entry.hosts if h.host == ident and h.state == "deployed"), None)


def env_status(
    repo: Repo, env: Environment, *, options: ServerOptions | None = None
) -> tuple[Entry | None, tuple[HostState, ...]]:
    """Each host of `env` against the newest deploy that moved its tags, and the newest
    rollout that moved tags on any host (returned first, None before one). A rollout that
    failed half-way leaves some hosts on the new release and others on the old: each host
    is judged by its own newest deploy, and one the newest rollout did not reach is
    `behind` (a rollout that moved nothing anywhere leaves the environment as it was)."""
    records = deploys(history.load(repo), env.name)
    moved = [e for e in records if any(h.state == "deployed" for h in e.hosts)]
    newest = moved[-1] if moved else None
    out = []
    for raw in env.hosts:
        host = Host(normalize_host(raw))
        ident = host_identity(raw)
        own = next((e for e in reversed(moved) if _deployed(e, ident)), None)
        server = Server(host, options or ServerOptions())
        try:
            listing = server.models()
        except ServerError as err:
            out.append(HostState(ident, "unreachable", reason=str(err)))
            continue
        finally:
            server.close()
        missed = None  # why the newest rollout left this host out
        if newest is not None and own is not newest:
            there = next((h for h in newest.hosts if h.host == ident), None)
            why = there.reason if there is not None and there.reason else None
            how = f"{there.state} here" if there is not None else "made before it joined"
            missed = f"newest deploy {newest.from_tag} ({newest.id}) {how}" + (
                f": {why}" if why else ""
            )
        if own is None:
            out.append(HostState(ident, "not deployed", reason=missed))
            continue
        mine = _deployed(own, ident)
        assert mine is not None
        known: dict[tuple[str, str], str] = {}  # (model, manifest) -> release, newest wins
        for e in moved:
            h = _deployed(e, ident)
            for m in h.models if h is not None else ():
                if m.manifest:
                    known[(m.name, m.manifest)] = e.from_tag
        models = []
        for m in mine.models:
            tags = []
            for tag in (own.from_tag, *own.aliases):
                found = listing.get(key(f"{m.name}:{tag}"))
                state = (
                    "missing"
                    if found is None
                    else ("current" if found.digest == m.manifest else "drifted")
                )
                tags.append((tag, state))
            probe = (own.aliases or (own.from_tag,))[0]
            held = listing.get(key(f"{m.name}:{probe}"))
            models.append(
                ModelState(m.name, tuple(tags), known.get((m.name, held.digest)) if held else None)
            )
        states = {s for ms in models for _, s in ms.tags}
        overall = (
            "drifted"
            if "drifted" in states
            else "missing"
            if "missing" in states
            else "behind"
            if missed
            else "current"
        )
        out.append(
            HostState(
                ident, overall, tuple(models), reason=missed, release=own.from_tag, deploy=own.id
            )
        )
    return newest, tuple(out)
