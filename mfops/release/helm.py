"""Released models as values for the Ollama Helm chart (`mfops export helm-values`).

Most fleets already run Kubernetes, and the widely used chart otwld/ollama-helm creates
models when a pod starts: its values take `ollama.models.pull` (names pulled first) and
`ollama.models.create`, a list of `{name, template}` where `template` is a Modelfile. The
chart's start-up hook writes each template to a file with an unquoted shell here-document
(`cat <<EOF > $models/<name>`) and runs `ollama create <name> -f <file>`, in list order.
mfops renders the models released at one tag for it, so every pod creates exactly the
models that were tested, and Kubernetes does the rest (scheduling, scaling, restarts).

Which models, from where. The release records (`refs/mfops/history`, repo/history.py) say
which models a tag holds and the commit each was promoted from: per model, the newest
successful promotion that moved the tag; a rollback that moved it points back at the
release it restored, which is looked up in the records before it. That commit's Modelfiles
and `mfops.lock` are what the release's tests ran on.

What each pod creates. Every model's *effective* Modelfile at its release commit (the source
chain folded from the root down with Ollama's create semantics, graph/effective.py), FROM the
root's external base. Flattened rather than `FROM parent:TAG`, because:
- a pod then creates exactly what was tested, whatever else the tag holds: a child promoted
  from a later commit than its parent (the parent unchanged there, or promoted again since)
  was built and tested on the parent *at the child's commit*, which is not always the
  parent's release at TAG;
- each create needs only its base, so one failed create never cascades down the list.
Build's read-back compares effective configs (server/roundtrip.py), and the tests create
the exported text on a fresh server and compare it field by field with the released
model (server/compare.py), so a flattened create is checked to hold the same weights,
template, system, parameters, messages and licenses. Entries still come parents first
(the graph's order at each commit, then name), so the list reads like the build.

Bases. Ollama cannot FROM a digest (`name@sha256:…` is not a model name, ollama-reference.md
§5), and neither can `ollama pull`, so the locked manifest digest cannot be enforced by the
chart: each Modelfile says FROM the base's `name:tag` and records the locked digest in a
comment, and the base is listed under `pull`. Exactness of the base therefore rests on
what the registry serves at that tag: a team that needs a guarantee points the base at its
own registry (Ollama's push/pull), where the tag does not move, and `mfops lock --check`
tells when the public one did.

Refused (exit 1, naming each model): anything a pod cannot reproduce from a registry alone —
a local file base, ADAPTER or DRAFT (the repo's files are not in the pod; push the model to
a registry and pull it instead), a base missing from the lock, a pinned base (`FROM
model:tag` built on a server), a dirty release, a record without a commit or with a digest
the commit no longer gives; and names or texts the chart's shell step would alter: a name with `/`
(the chart writes the file under that name), a line that is exactly `EOF` (it ends the
here-document), and control characters other than tab (not representable in the chart's
YAML). `$`, backquote and backslash are escaped for the here-document, so the file the pod
writes is the Modelfile byte for byte (`heredoc_text` / `unescape_heredoc`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.errors import CheckFailed, MfopsError, RefError
from mfops.fileio.yamlfile import dump_yaml
from mfops.graph.effective import to_modelfile
from mfops.graph.revision import Revision
from mfops.language.suggest import close_tags, did_you_mean
from mfops.repo import history

if TYPE_CHECKING:
    from mfops.repo.history import Entry, ModelEntry
    from mfops.repo.repository import Repo

#: The chart this renders for, and the keys it reads (values.yaml of otwld/ollama-helm).
CHART = "otwld/ollama-helm"

#: Characters the chart's YAML cannot carry in its block scalar (all C0 controls but tab
#: and newline, DEL, and the C1 range; YAML also folds a carriage return into a newline).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ReleasedModel:
    """One model a tag holds per the records: the promotion that put it there."""

    name: str
    commit: str | None
    digest: str | None
    dirty: bool
    record: str  # the record id, for messages


@dataclass(frozen=True)
class ExportedModel:
    """One `ollama.models.create` entry and where it came from."""

    name: str  # the repo model
    target: str  # NAME:TAG, what the pod creates
    commit: str
    digest: str
    base: str  # the external base's name:tag as FROM spells it
    base_digest: str  # its locked manifest digest (sha256:...)
    modelfile: str  # the effective Modelfile the pod writes


@dataclass(frozen=True)
class HelmExport:
    tag: str
    models: tuple[ExportedModel, ...]

    @property
    def pulls(self) -> tuple[str, ...]:
        """The bases, each once, in first-use order."""
        return tuple(dict.fromkeys(m.base for m in self.models))


# --------------------------------------------------------------------------- the release


def _moves(model: ModelEntry, entry: Entry, tag: str) -> bool:
    folded = tag.casefold()
    if model.destinations:
        return any(d.tag.casefold() == folded and d.after is not None for d in model.destinations)
    return any(t and t.casefold() == folded for t in (entry.to_tag, *entry.aliases))


#: One record and its models by folded name (looked up once per model, not scanned).
Indexed = list[tuple["Entry", dict[str, "ModelEntry"]]]


def _find(entries: Indexed, name: str, tag: str, upto: int, depth: int = 0) -> ReleasedModel | None:
    """The promotion whose content `name:tag` holds, looking at entries[:upto], newest first."""
    folded = name.casefold()
    for i in range(upto - 1, -1, -1):
        entry, models = entries[i]
        model = models.get(folded)
        if model is None or not _moves(model, entry, tag):
            continue
        if entry.kind == "rollback":  # the tag now holds the release it restored
            if depth > len(entries):
                return None
            return _find(entries, name, entry.from_tag, i, depth + 1)
        return ReleasedModel(model.name, entry.commit, model.digest, entry.dirty, entry.id)
    return None


def released_at(repo: Repo, tag: str, *, host: str | None = None) -> list[ReleasedModel]:
    """Every model the records say `tag` holds (on `host`, an identity, when given; else the
    newest release on any server). Unknown tag: MfopsError (exit 2) with a suggestion."""
    # a deploy record copies a release to an environment; the promotion it names is the release
    entries = [e for e in history.load(repo, host=host) if e.ok and e.kind != "deploy"]
    indexed: Indexed = [(e, {m.name.casefold(): m for m in e.models}) for e in entries]
    names = dict.fromkeys(m.name for e in entries for m in e.models)
    found = [r for n in names if (r := _find(indexed, n, tag, len(indexed))) is not None]
    if found:
        return sorted(found, key=lambda r: r.name)
    known = [t for e in entries for m in e.models for t in _tags_of(m, e)]
    where = f" on {host}" if host else ""
    hint = did_you_mean(close_tags(tag, known))
    if hint is None:
        releases = sorted(set(known))
        hint = (
            "released tags: " + ", ".join(releases[:8]) + (" ..." if len(releases) > 8 else "")
            if releases
            else "nothing is released yet (`mfops promote`); fetch the team's records with "
            "`mfops history --sync origin`"
        )
    raise MfopsError(f"no release at tag {tag!r}{where} in the release records", hint=hint)


def _tags_of(model: ModelEntry, entry: Entry) -> list[str]:
    if model.destinations:
        return [d.tag for d in model.destinations]
    return [t for t in (entry.to_tag, *entry.aliases) if t]


# --------------------------------------------------------------------------- export


def export_helm(repo: Repo, tag: str, *, host: str | None = None) -> HelmExport:
    """The released models at `tag`, each as its effective Modelfile at its release commit
    (see the module docstring); CheckFailed naming every model the chart cannot reproduce."""
    released = released_at(repo, tag, host=host)
    revisions: dict[str, Revision] = {}
    problems: list[str] = []
    rows: list[tuple[int, ExportedModel]] = []
    for rel in released:
        try:
            row = _export_one(repo, rel, tag, revisions)
        except _Refused as why:
            problems.append(f"{rel.name}: {why}")
            continue
        rows.append(row)
    if problems:
        raise CheckFailed(
            f"cannot export {len(problems)} of {len(released)} models at {tag} for the chart: "
            + "; ".join(problems),
            hint="the chart creates models from a Modelfile and registry bases only",
        )
    rows.sort(key=lambda r: (r[0], r[1].name))
    return HelmExport(tag, tuple(m for _, m in rows))


class _Refused(Exception):
    """Why one model cannot be exported (collected into one CheckFailed)."""


def _export_one(
    repo: Repo,
    rel: ReleasedModel,
    tag: str,
    revisions: dict[str, Revision],
) -> tuple[int, ExportedModel]:
    if rel.commit is None:
        raise _Refused(f"its release (record {rel.record}) names no commit")
    if rel.dirty:
        raise _Refused(
            f"it was released from uncommitted changes on {rel.commit[:12]} "
            f"(record {rel.record}); the commit does not hold what was tested"
        )
    if "/" in rel.name:
        raise _Refused("the chart writes each Modelfile to a file named after the model")
    rev = revisions.get(rel.commit)
    if rev is None:
        try:
            repo.resolve_ref(rel.commit)
        except RefError:
            raise _Refused(
                f"its release commit {rel.commit[:12]} is not in this clone (git fetch it)"
            ) from None
        rev = revisions[rel.commit] = Revision(repo, rel.commit)
    try:
        digests = rev.load(require_models=True)
        graph = rev.graph
        name = graph[rel.name].name
    except MfopsError as err:
        raise _Refused(f"at its release commit {rel.commit[:12]}: {err}") from None
    if rel.digest is not None and digests[name] != rel.digest:
        raise _Refused(
            f"its content at {rel.commit[:12]} has digest {digests[name][7:19]}, the release "
            f"recorded {rel.digest[7:19]} (records from another mfops version?)"
        )
    eff = rev.effective[name]
    base = eff.base
    if base.kind == "file":
        raise _Refused(f"its weights come from a local file ({base.target}); push it to a registry")
    if eff.adapters or eff.drafts:
        raise _Refused("it uses a local ADAPTER or DRAFT file; push it to a registry")
    if base.kind == "pinned":
        raise _Refused(
            f"its base {base.target} is a model built on a server (a pinned FROM), which a "
            "pod does not have; push it to a registry"
        )
    locked = rev.lock.get(base.target)
    if locked is None:
        raise _Refused(f"its base {base.target} is not in mfops.lock at {rel.commit[:12]}")
    target = f"{name}:{tag}"
    text = _modelfile(
        eff_text=to_modelfile(eff, model_dir="", label=tag),
        target=target,
        commit=rel.commit,
        base=base.target,
        locked=locked,
    )
    check_chart_text(text)
    model = ExportedModel(
        name=name,
        target=target,
        commit=rel.commit,
        digest=digests[name],
        base=base.target,
        base_digest=locked,
        modelfile=text,
    )
    return graph.depth(name), model


def _modelfile(*, eff_text: str, target: str, commit: str, base: str, locked: str) -> str:
    head = [
        f"# {target} from commit {commit} (mfops export helm-values)",
        f"# base {base} locked at {locked}",
        "# (Ollama cannot FROM a digest: the pod pulls the base by name; `mfops lock --check`)",
    ]
    return "\n".join(head) + "\n" + eff_text


def check_chart_text(text: str) -> None:
    """Refuse a Modelfile the chart's shell step or YAML would change (module docstring)."""
    bad = _UNSAFE.search(text)
    if bad is not None:
        raise _Refused(
            f"its Modelfile holds the control character {bad.group()!r}, which the chart's "
            "YAML cannot carry"
        )
    if any(line == "EOF" for line in text.split("\n")):
        raise _Refused("its Modelfile has a line `EOF`, which ends the chart's here-document")


def heredoc_text(text: str) -> str:
    """`text` escaped for an unquoted here-document: `\\`, `$` and backquote each get a
    backslash, the only characters such a here-document does not copy as they are."""
    return re.sub(r"([\\$`])", r"\\\1", text)


def unescape_heredoc(text: str) -> str:
    """What the shell writes for `heredoc_text(x)`: x (used to show the pod's file)."""
    return re.sub(r"\\([\\$`])", r"\1", text)


def values(export: HelmExport) -> dict[str, object]:
    """The chart's values for `export`: `ollama.models.pull` and `ollama.models.create`."""
    return {
        "ollama": {
            "models": {
                "pull": list(export.pulls),
                "create": [
                    {"name": m.target, "template": heredoc_text(m.modelfile)} for m in export.models
                ],
            }
        }
    }


def render_values(export: HelmExport) -> str:
    """The values file: a header saying what it is, then the YAML."""
    head = [
        f"# Values for the Ollama Helm chart ({CHART}): the models released at {export.tag}.",
        "# Written by `mfops export helm-values`; each template is the model's effective",
        "# Modelfile at its release commit (`$`, backquote and backslash are escaped for the",
        "# chart's here-document). Use: helm upgrade --install ollama otwld/ollama -f THIS_FILE",
    ]
    return "\n".join(head) + "\n" + dump_yaml(values(export))
