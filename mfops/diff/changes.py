"""What changed between two versions of the repo, model by model.

"Changed" means "digest differs" (digest.py): comment-only edits, reformatting and moved files
are not changes, and a change to a base reaches every descendant through the Merkle chain. For
each model that changed, this module says *what* changed, comparing either the **effective**
configs (default: what the server will hold, so a base's new SYSTEM shows on each descendant
that inherits it, labelled with its origin) or the **declared** ones (what each file says).

Decisions worth knowing:

- *Renamed*: a model only in A and one only in B whose digests are equal (or, failing that,
  whose compared content is equal) are one model under a new name; pairs prefer the same file.
  A rename is a difference (the old name disappears for users).
- *Moved*: the same name in another file with an equal digest is **not** a difference; it is
  reported in `DiffResult.moved` so that renderers can mention it, and nothing else.
- *Rebuilt*: a model whose digest differs but whose compared config is identical (a base
  changed something the model overrides) is still listed, with no changes and a `note` naming
  the changed ancestor, because a build would recreate it.
- *Origins*: every value carries the model that set it on each side; renderers print
  "inherited from engine-bot" when that is not the model itself.
- *Levels* (for `--suggest-version`): FROM, weights, ADAPTER, DRAFT, removed and renamed models
  are major; SYSTEM, TEMPLATE, MESSAGE, LICENSE, RENDERER, PARSER, REQUIRES and added models
  are minor; parameters, and rebuilds with no difference, are patch.

Effective configs are computed only for the models that differ (and their ancestors).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, ClassVar, Literal

from mfops.language.semver import Version, parse_version_tag

if TYPE_CHECKING:
    from mfops.graph.effective import Message
    from mfops.graph.inheritance import Graph

Level = Literal["major", "minor", "patch"]
Status = Literal["changed", "added", "removed", "renamed"]
Mode = Literal["effective", "declared"]
Op = Literal["added", "removed", "changed"]
TextField = Literal["system", "template", "renderer", "parser", "requires"]
#: The text fields in display order; SYSTEM and TEMPLATE get a unified diff.
TEXT_FIELDS: tuple[TextField, ...] = ("system", "template", "renderer", "parser", "requires")
_RANK = {"patch": 0, "minor": 1, "major": 2}


def max_level(levels: Iterable[Level | None]) -> Level | None:
    """The most significant of some levels (None when there are none)."""
    best: Level | None = None
    for lv in levels:
        if lv is not None and (best is None or _RANK[lv] > _RANK[best]):
            best = lv
    return best


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class BaseRef:
    """What a FROM stands for: kind, target and, where it has one, the content's identity
    (the locked digest of an external base, the sha256 of a file base)."""

    kind: str
    target: str
    content: str | None = None


@dataclass(frozen=True)
class FileRef:
    """A local file a model uploads (adapter, draft), identified by its content."""

    path: str
    digest: str
    origin: str


@dataclass(frozen=True)
class FromChange:
    """The model's own FROM line names another base (kind, target or content)."""

    kind: ClassVar[str] = "from"
    level: ClassVar[Level] = "major"
    old: BaseRef
    new: BaseRef


@dataclass(frozen=True)
class WeightsChange:
    """The weights inherited from the root of the chain differ (effective mode only)."""

    kind: ClassVar[str] = "weights"
    level: ClassVar[Level] = "major"
    old: BaseRef
    new: BaseRef
    origin_old: str
    origin_new: str


@dataclass(frozen=True)
class FilesChange:
    """ADAPTERs (stacked through the chain) or DRAFTs differ by content."""

    field: Literal["adapters", "draft"]
    old: tuple[FileRef, ...]
    new: tuple[FileRef, ...]
    level: ClassVar[Level] = "major"

    @property
    def kind(self) -> str:
        return self.field


@dataclass(frozen=True)
class TextChange:
    """SYSTEM or TEMPLATE (with a unified diff), or RENDERER, PARSER, REQUIRES (no diff)."""

    field: TextField
    old: str | None
    new: str | None
    origin_old: str | None
    origin_new: str | None
    diff: str | None = None
    level: ClassVar[Level] = "minor"

    @property
    def kind(self) -> str:
        return self.field


@dataclass(frozen=True)
class ItemChange:
    """One element of a list parameter (`stop`): index in the old list for removals, in the
    new list otherwise."""

    op: Op
    index: int
    old: object = None
    new: object = None


@dataclass(frozen=True)
class ParameterChange:
    """One PARAMETER key added, removed or changed, with typed values."""

    kind: ClassVar[str] = "parameter"
    level: ClassVar[Level] = "patch"
    key: str
    op: Op
    old: object
    new: object
    origin_old: str | None
    origin_new: str | None
    items: tuple[ItemChange, ...] = ()


@dataclass(frozen=True)
class MessagesChange:
    """The MESSAGE history differs (it is replaced as a whole list)."""

    kind: ClassVar[str] = "messages"
    level: ClassVar[Level] = "minor"
    old: tuple[Message, ...]
    new: tuple[Message, ...]
    origin_old: str | None
    origin_new: str | None
    diff: str


@dataclass(frozen=True)
class LicenseChange:
    """The LICENSE texts differ; the origins are those of the first entry that differs."""

    kind: ClassVar[str] = "license"
    level: ClassVar[Level] = "minor"
    old: tuple[str, ...]
    new: tuple[str, ...]
    origin_old: str | None
    origin_new: str | None
    diff: str


Change = (
    FromChange
    | WeightsChange
    | FilesChange
    | TextChange
    | ParameterChange
    | MessagesChange
    | LicenseChange
)


@dataclass(frozen=True)
class ModelDiff:
    """One model that differs. `name` is its name in B (in A when removed); `base` is its
    FROM on that side; `rebuilt_because` lists its source ancestors that differ, root first."""

    name: str
    status: Status
    old_name: str | None
    old_file: str | None
    new_file: str | None
    old_digest: str | None
    new_digest: str | None
    base: BaseRef
    changes: tuple[Change, ...] = ()
    rebuilt_because: tuple[str, ...] = ()
    note: str | None = None

    @property
    def level(self) -> Level:
        if self.status == "added":
            return "minor"
        if self.status in ("removed", "renamed"):
            return "major"
        return max_level(c.level for c in self.changes) or "patch"

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of change, each once, in the order they are shown."""
        return tuple(dict.fromkeys(c.kind for c in self.changes))


@dataclass(frozen=True)
class Move:
    """A model whose file moved while its content (digest) stayed equal: not a difference."""

    name: str
    old_file: str
    new_file: str


@dataclass(frozen=True)
class DiffResult:
    """Every model that differs between A (`old_*`) and B (`new_*`, ref None: working tree),
    with the number of models that did not (within the `names` asked for, if any)."""

    old_label: str
    new_label: str
    old_ref: str | None
    new_ref: str | None
    mode: Mode
    models: tuple[ModelDiff, ...]
    unchanged: int
    moved: tuple[Move, ...] = ()
    #: B's inheritance graph, for pictures of what changed (not compared, not in the JSON).
    new_graph: Graph | None = dataclass_field(default=None, compare=False, repr=False)

    def count(self, status: Status) -> int:
        return sum(1 for m in self.models if m.status == status)

    @property
    def level(self) -> Level | None:
        return max_level(m.level for m in self.models)

    def summary(self) -> str:
        """`3 models changed, 1 added, 1 removed, 12 unchanged` (renames only when any)."""
        changed = self.count("changed")
        parts = [f"{changed} model{'' if changed == 1 else 's'} changed"]
        parts += [f"{self.count('added')} added", f"{self.count('removed')} removed"]
        if self.count("renamed"):
            parts.append(f"{self.count('renamed')} renamed")
        parts.append(f"{self.unchanged} unchanged")
        return ", ".join(parts)


# --------------------------------------------------------------------------- versions


@dataclass(frozen=True)
class Suggestion:
    """The next version a change calls for; `next` is None when nothing changed."""

    level: Level | None
    previous: str | None
    next: str | None
    reasons: tuple[str, ...]


def suggest_version(result: DiffResult, tags: Sequence[str]) -> Suggestion:
    """Classify the change and propose the tag after the newest version tag in `tags`
    (newest first, as `Repo.version_tags` returns them); `v0.0.0` is assumed when none."""
    level = result.level
    versions = [v for v in (parse_version_tag(t) for t in tags) if v is not None]
    previous = max(versions, key=Version.key) if versions else None
    if level is None:
        return Suggestion(None, previous.tag if previous else None, None, ())
    reasons = tuple(
        f"{m.name}: {', '.join(m.kinds) or 'rebuilt'}"
        if m.status == "changed"
        else f"{m.name}: {m.status}"
        for m in result.models
        if m.level == level
    )
    bumped = (previous or Version(0, 0, 0)).bump(level)
    prefix = "v" if previous is None or previous.tag.startswith("v") else ""
    return Suggestion(level, previous.tag if previous else None, f"{prefix}{bumped}", reasons)
