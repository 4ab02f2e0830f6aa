"""The repository: where its root is, and what it holds at one version.

`Repo.find` locates the mfops root (the nearest directory upward holding `mfops.yaml`, else
the git work tree) and, separately, the git root: the root may be a subdirectory of a larger
git repository (the bundled example lives in `examples/`), so every path mfops shows is
relative to the mfops root while git is asked about `prefix/...`.

`Repo.snapshot(ref)` gives one version of the repo: the working tree (ref None) or any commit,
read from git's object database without a checkout (gitstore.py). Both kinds answer through
the same file view (sources.py), so a model is found, named, parsed and its paths resolved
identically at a tag and on disk. The models of a snapshot are the ones `mfops.yaml` lists
plus every unlisted Modelfile found by the conventions (conventions.py); computing them reads
all Modelfiles in one batch, once.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

from mfops.errors import ConfigError, ModelfileError, RefError, RepoError
from mfops.language.modelfile import Modelfile, decode, parse
from mfops.language.names import check_repo_model_name
from mfops.language.outline import outline
from mfops.language.semver import parse_version_tag
from mfops.repo.cache import Cache, blob_id
from mfops.repo.config import Config, Defaults, ModelConfig, load_config
from mfops.repo.conventions import MODELFILE, SUFFIX
from mfops.repo.gitstore import GitStore, Started, validate_ref
from mfops.repo.paths import ResolvedPath, Resolver
from mfops.repo.sources import Source, TreeSource, WorktreeSource

__all__ = [
    "CONFIG_FILE",
    "LOCK_FILE",
    "STATE_DIR",
    "Config",
    "Defaults",
    "ModelConfig",
    "Repo",
    "RepoModel",
    "ResolvedPath",
    "Snapshot",
    "load_config",
]

CONFIG_FILE = "mfops.yaml"
LOCK_FILE = "mfops.lock"
STATE_DIR = ".mfops"


@dataclass(frozen=True)
class RepoModel:
    """A model of the repo: its name, its Modelfile (path relative to the root) parsed."""

    name: str
    path: str
    modelfile: Modelfile
    description: str | None = None
    tests: tuple[str, ...] = ()
    #: the git blob id of the Modelfile's bytes: what the parse and digest caches key on
    blob: str | None = None

    @property
    def dir(self) -> str:
        """The Modelfile's directory relative to the root ('' at the root): FROM paths are
        resolved against it, as Ollama resolves them against the Modelfile's directory."""
        parent = posixpath.dirname(self.path)
        return "" if parent == "." else parent


def _find_git_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


class Repo:
    """An mfops repository: `root` (the mfops root), `git_root` and `prefix` between them."""

    def __init__(self, root: Path, git_root: Path | None = None) -> None:
        self.root = Path(root).resolve()
        self.git_root = Path(git_root).resolve() if git_root is not None else None
        prefix = self.root.relative_to(self.git_root).as_posix() if self.git_root else ""
        self.prefix = "" if prefix == "." else prefix
        self._store: GitStore | None = None
        self._dirty_check: Started | None = None

    @cached_property
    def cache(self) -> Cache:
        """Parses and digests by content (repo/cache.py), shared by every snapshot."""
        return Cache.open(self.root)

    def __repr__(self) -> str:
        return f"Repo({str(self.root)!r})"

    def close(self) -> None:
        """Stop the git processes reading objects (they also end with the interpreter),
        and a dirty check nobody asked for the answer of."""
        if self._store is not None:
            self._store.close()
        started, self._dirty_check = self._dirty_check, None
        if started is not None:
            started.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def find(cls, start: Path | None = None, *, explicit: Path | None = None) -> Repo:
        """The repo that `explicit` (the `-C/--repo` option) names, or the nearest one above
        `start` (default: the current directory): the first directory upward that holds
        mfops.yaml, or failing that the enclosing git work tree."""
        if explicit is not None:
            directory = Path(explicit).expanduser()
            if not directory.is_dir():
                raise RepoError(f"{explicit}: no such directory")
            root = directory.resolve()
            return cls(root, _find_git_root(root))
        here = Path(start if start is not None else os.getcwd()).resolve()
        if not here.is_dir():
            here = here.parent
        for d in (here, *here.parents):
            if (d / CONFIG_FILE).is_file() or (d / ".git").exists():
                return cls(d, _find_git_root(d))
        raise RepoError(
            f"not inside an mfops repository: no {CONFIG_FILE} or .git in {here} or above",
            hint="run in a repository, pass -C DIR, or create mfops.yaml",
        )

    # -- git ---------------------------------------------------------------------------

    @property
    def store(self) -> GitStore:
        if self.git_root is None:
            raise RepoError(f"{self.root} is not in a git repository")
        if self._store is None:
            self._store = GitStore(self.git_root)
        return self._store

    def resolve_ref(self, ref: str) -> str:
        """The full SHA of the commit `ref` names (RefError for bad or unknown refs)."""
        validate_ref(ref)
        if self.git_root is None:
            raise RefError(f"unknown ref {ref!r}", hint=f"{self.root} is not in a git repository")
        return self.store.rev_parse(ref)

    def resolve_refs(self, refs: Sequence[str]) -> list[str]:
        """`resolve_ref` of each, from one git process."""
        for ref in refs:
            validate_ref(ref)
        if self.git_root is None and refs:
            return [self.resolve_ref(refs[0])]  # (raises)
        return self.store.rev_parse_all(refs)

    def head_commit(self) -> str | None:
        return self.store.head() if self.git_root is not None else None

    def short_sha(self, ref: str = "HEAD") -> str:
        return self.store.short(self.resolve_ref(ref))

    def version_tags(self, reachable_from: str | None = None) -> list[str]:
        """Tags that are versions (`v1.2.3`, `1.2.3-rc.1`), newest version first; only those
        reachable from `reachable_from` (a ref) when given."""
        if self.git_root is None:
            return []
        merged = self.resolve_ref(reachable_from) if reachable_from is not None else None
        found = [(v, t) for t in self.store.tags(merged) if (v := parse_version_tag(t))]
        found.sort(key=lambda vt: (vt[0].key(), vt[1]), reverse=True)
        return [t for _, t in found]

    def is_dirty(self) -> bool:
        """Uncommitted changes (untracked files included) under the mfops root, state left
        out. False outside git: there is no commit to differ from. The answer of a check
        `start_dirty_check` began is used once, when there is one."""
        if self.git_root is None:
            return False
        started, self._dirty_check = self._dirty_check, None
        if started is None:
            started = self._start_status()
        return bool(started.result())

    def start_dirty_check(self) -> None:
        """Begin `is_dirty`'s `git status` in the background (git stats every file of a
        large tree: that runs on another core while this process reads the graph)."""
        if self.git_root is not None and self._dirty_check is None:
            self._dirty_check = self._start_status()

    def _start_status(self) -> Started:
        base = f"{self.prefix}/" if self.prefix else ""
        specs = [f":(top,literal){self.prefix}" if self.prefix else ":(top)"]
        specs.append(f":(top,literal,exclude){base}{STATE_DIR}")
        return self.store.start_status(specs)

    # -- snapshots ---------------------------------------------------------------------

    def snapshot(self, ref: str | None = None) -> Snapshot:
        """The repo as it is on disk (None) or at a commit, tag or branch."""
        if ref is None:
            return Snapshot(self, None, None, WorktreeSource(self.root))
        commit = self.resolve_ref(ref)
        entries = self.store.ls_tree(commit, self.prefix)
        return Snapshot(self, ref, commit, TreeSource(self.root, self.store, entries))


class Snapshot:
    """One version of the repo: its config, its models and its files."""

    def __init__(self, repo: Repo, ref: str | None, commit: str | None, source: Source) -> None:
        self.repo = repo
        self.ref = ref
        self.commit = commit
        self.source = source
        self._resolved: dict[tuple[str, str], ResolvedPath] = {}
        self._hashes: dict[tuple[str | None, str | None], str] = {}

    @property
    def label(self) -> str:
        return "working tree" if self.ref is None else self.ref

    def __repr__(self) -> str:
        return f"Snapshot({self.label!r})"

    def display(self, path: str) -> str:
        """How messages name a repo file: `path`, or `ref:path` for a version from git."""
        return path if self.ref is None else f"{self.ref}:{path}"

    # -- files -------------------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes | None:
        """A repo file's content (symlinks inside the repo followed), None when absent."""
        found = self._files.resolve("", path)
        if found.kind != "file" or found.escapes:
            return None
        return self.source.read(found.repo_path or "")

    def file_problem(self, path: str) -> str | None:
        """Why `path` is not a readable repo file ("does not exist", "points outside the
        repository", ...); None when it is one."""
        found = self._files.resolve("", path)
        if found.escapes:
            return "points outside the repository"
        if found.kind == "file":
            return None
        return {"missing": "does not exist", "dir": "is a directory"}.get(
            found.kind, "is not a regular file"
        )

    def read_text(self, path: str) -> str | None:
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ConfigError(f"not UTF-8 text ({err.reason})", path=self.display(path)) from None

    def lock_text(self) -> str | None:
        return self.read_text(LOCK_FILE)

    @cached_property
    def config(self) -> Config:
        """mfops.yaml at this version (an empty Config when there is none)."""
        text = self.read_text(CONFIG_FILE)
        if text is None:
            return Config(path=self.display(CONFIG_FILE))
        return load_config(text, self.display(CONFIG_FILE))

    @cached_property
    def _files(self) -> Resolver:
        """Resolves repo files (mfops.yaml, the lock, suites): inside the root only."""
        return Resolver(self.source)

    @cached_property
    def resolver(self) -> Resolver:
        """Resolves Modelfile paths, with mfops.yaml's allow_paths."""
        return Resolver(self.source, _allow_prefixes(self.repo.root, self.config.allow_paths))

    def resolve(self, base_dir: str, arg: str) -> ResolvedPath:
        """Where a FROM/ADAPTER/DRAFT argument in a Modelfile in `base_dir` points."""
        key = (base_dir, arg)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self.resolver.resolve(base_dir, arg)
        return found

    def sha256(self, resolved: ResolvedPath) -> str:
        """`sha256:<hex>` of a file or directory (see sources.Resolver.sha256), cached."""
        key = (resolved.repo_path, resolved.abs_path)
        found = self._hashes.get(key)
        if found is None:
            found = self._hashes[key] = self.resolver.sha256(resolved)
        return found

    def size(self, resolved: ResolvedPath) -> int:
        return self.resolver.size(resolved)

    # -- models ------------------------------------------------------------------------

    @cached_property
    def models(self) -> dict[str, RepoModel]:
        """Every model of this version by name, sorted by name."""
        config = self.config
        claims: dict[str, tuple[str, str]] = {}  # folded name -> (name, path)
        wanted: list[tuple[str, str, ModelConfig | None]] = []  # name, path, listed entry

        def claim(name: str, path: str) -> None:
            other = claims.setdefault(name.lower(), (name, path))
            if other[1] != path:
                raise RepoError(
                    f"two files claim the model name {name!r}: {self.display(other[1])} and "
                    f"{self.display(path)}",
                    hint="rename one, or list them in mfops.yaml under different names",
                )

        listed_paths = set()
        physical: list[str] = []  # the regular file each one reads (symlinks followed)
        for entry in config.models.values():
            claim(entry.name, entry.modelfile)
            listed_paths.add(entry.modelfile)
            wanted.append((entry.name, entry.modelfile, entry))
            physical.append(self._physical(entry.name, entry.modelfile, entry))
        root_name = self.repo.root.name
        for path, link in self.source.modelfiles():
            if path in listed_paths:
                continue
            name = _conventional_name(path, root_name)
            try:
                check_repo_model_name(name)
            except ValueError as err:
                raise RepoError(
                    f"{self.display(path)}: cannot name a model after this file: {err}",
                    hint=f"rename it, or list it in {CONFIG_FILE} under a valid name",
                ) from None
            claim(name, path)
            wanted.append((name, path, None))
            physical.append(self._physical(name, path, None) if link else path)
        loaded = self._load_modelfiles(physical, [self.display(p) for _, p, _ in wanted])
        models: dict[str, RepoModel] = {}
        for (name, path, listed), (mf, blob) in zip(wanted, loaded, strict=True):
            models[name] = RepoModel(
                name=name,
                path=path,
                modelfile=mf,
                description=listed.description if listed else None,
                tests=listed.tests if listed else (),
                blob=blob,
            )
        self.repo.cache.save()
        return dict(sorted(models.items()))

    def _load_modelfiles(
        self, physical: list[str], shown: list[str]
    ) -> list[tuple[Modelfile, str]]:
        """Parse the files `physical` (named `shown` in messages), reading and parsing only
        what the cache does not know: at a commit, blobs whose id it has not parsed; in the
        working tree, files whose stat data changed since they were read (as git's index)."""
        cache = self.repo.cache
        source = self.source
        tree = source if isinstance(source, TreeSource) else None
        # the stat data each worktree file had before it was read, for the worktree memo
        seen = source.file_stats if isinstance(source, WorktreeSource) else None
        prefix = os.path.join(source.root, "")  # joined by hand: 10,000 os.path.join
        count = len(physical)
        out: list[tuple[Modelfile, str] | None] = [None] * count
        todo: list[int] = []
        stats: list[os.stat_result | None] = [None] * count
        if seen is not None and not cache.stat_known():
            # Cold: no stat data to look a file up by, so no `stat` of its own: each file's
            # is taken from the descriptor it is read through, before the read.
            assert isinstance(source, WorktreeSource)
            read_ns = time.time_ns()
            read: list[bytes] = []
            for i, rel in enumerate(physical):
                data, st = source.read_stat(rel)
                read.append(data)
                stats[i] = seen[rel] = st
            return self._parse_read(physical, shown, list(range(count)), read, stats, read_ns, out)
        for i, rel in enumerate(physical):
            blob: str | None
            if tree is not None:
                blob = tree.entries[rel].sha
            else:
                try:
                    st = stats[i] = os.stat(prefix + rel)
                except OSError:
                    todo.append(i)
                    continue
                if seen is not None:
                    seen[rel] = st
                blob = cache.stat_blob(rel, st)
            mf = None
            if blob is not None:
                mf = cache.modelfile(blob, shown[i], partial(self._reparse, rel, shown[i]))
            if mf is None:
                todo.append(i)
            else:
                out[i] = (mf, blob)  # type: ignore[assignment]
        read_ns = time.time_ns()
        contents = source.read_many([physical[i] for i in todo])
        return self._parse_read(physical, shown, todo, contents, stats, read_ns, out)

    def _parse_read(
        self,
        physical: list[str],
        shown: list[str],
        todo: list[int],
        contents: Iterable[bytes],
        stats: list[os.stat_result | None],
        read_ns: int,
        out: list[tuple[Modelfile, str] | None],
    ) -> list[tuple[Modelfile, str]]:
        """Parse (or find by blob id) the files `todo` read as `contents`; fill `out`."""
        cache = self.repo.cache
        tree = self.source if isinstance(self.source, TreeSource) else None
        for i, data in zip(todo, contents, strict=True):
            rel = physical[i]
            blob = tree.entries[rel].sha if tree is not None else blob_id(data)
            mf = cache.modelfile(blob, shown[i], partial(self._reparse, rel, shown[i]))
            if mf is None:
                text = decode(data)
                # In the working tree, where graph-only commands (ls, graph) run most, a
                # plain file is only outlined: parsed in full when more than its graph
                # lines is used (language/outline.py). At a commit the graph is stored
                # after the first run, and what reads one mostly wants the digests.
                found_mf = outline(text, shown[i]) if tree is None else None
                mf = found_mf if found_mf is not None else parse(text, path=shown[i])
                cache.put_modelfile(blob, mf, text)
            found = stats[i]
            if found is not None:
                cache.put_stat(rel, found, blob, read_ns)
            out[i] = (mf, blob)
        return out  # type: ignore[return-value]

    def _reparse(self, rel: str, shown: str) -> Modelfile:
        return parse(self.source.read(rel), path=shown)

    def _physical(self, name: str, path: str, entry: ModelConfig | None) -> str:
        """The regular file a Modelfile path stands for (symlinks inside the root followed)."""
        found = self._files.resolve("", path)
        if found.kind == "file" and not found.escapes:
            return found.repo_path or path
        problem = {
            "missing": "does not exist",
            "dir": "is a directory",
            "special": "is not a regular file",
        }.get(found.kind, "is not a regular file")
        if found.escapes:
            problem = "points outside the repository"
        where = "" if self.ref is None else f" at {self.ref}"
        if entry is None:
            raise ModelfileError(f"cannot read Modelfile: it {problem}", path=self.display(path))
        raise ConfigError(
            f"models.{name}.modelfile: {path!r} {problem}{where}",
            path=self.config.path,
            line=entry.modelfile_line,
        )


def _conventional_name(path: str, root_name: str) -> str:
    """conventions.model_name_for, on plain strings (it runs once per Modelfile)."""
    parent, _, filename = path.rpartition("/")
    if filename == MODELFILE:
        return parent.rpartition("/")[2] or root_name
    return filename[: -len(SUFFIX)]


def _allow_prefixes(root: Path, allow: tuple[str, ...]) -> tuple[str, ...]:
    """allow_paths as absolute, normalised prefixes: `~` expanded, relative ones from root."""
    out = []
    for item in allow:
        path = os.path.expanduser(item)
        out.append(os.path.normpath(path if os.path.isabs(path) else os.path.join(root, path)))
    return tuple(out)
