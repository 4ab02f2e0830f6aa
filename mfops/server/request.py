"""From a repo model to the `POST /api/create` request that builds it (ollama-reference §3).

The Ollama CLI turns a Modelfile into structured create fields on the client side; mfops does
the same from the parsed model, with two differences that make builds composable:

- a *source* FROM (another repo model) becomes `from: <parent>:<TAG>`; the build passes the
  parent's content tag (`mf-<digest>`, build/tags.py) as TAG, so a child's create, and its
  manifest, are the same whatever tag the chain is built at;
- local files (FROM weights, ADAPTER, DRAFT) are returned as `Upload`s for the server layer to
  HEAD-check and stream, keyed as the CLI keys them: a lone file by its base name, several by
  their path relative to their deepest common directory; a directory import takes the files
  Ollama's `filesForModel` would take.

Everything else is the model's own declared request (effective.declared): inheritance is the
server's job, exactly as with `ollama create`.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mfops.errors import GraphError

if TYPE_CHECKING:
    from mfops.graph.effective import Declared
    from mfops.graph.inheritance import ModelNode
    from mfops.repo.repository import ResolvedPath, Snapshot

Field = Literal["files", "adapters", "draft_files"]

#: `filesForModel`: the first group with a match wins; then the extras are added.
_WEIGHT_GROUPS = (
    ("model*.safetensors", "*/model*.safetensors"),
    ("consolidated*.safetensors",),
    ("pytorch_model*.bin",),
    ("consolidated*.pth",),
    ("*.gguf",),
    ("*.bin",),
)
_EXTRAS = ("*.json", "*/*.json", "chat_template.jinja", "tokenizer.model")


@dataclass(frozen=True)
class CreateRequest:
    """A `POST /api/create` body: the structured fields of ollama-reference §3.1.

    Empty values are left out, as the Ollama CLI does (`omitempty`). `files`, `adapters` and
    `draft_files` map relative names to `sha256:` digests of uploaded blobs.
    """

    model: str
    from_: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    adapters: dict[str, str] = field(default_factory=dict)
    draft_files: dict[str, str] = field(default_factory=dict)
    template: str = ""
    system: str = ""
    license: tuple[str, ...] = ()
    parameters: dict[str, object] = field(default_factory=dict)
    messages: tuple[tuple[str, str], ...] = ()
    renderer: str = ""
    parser: str = ""
    requires: str = ""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if self.from_:
            body["from"] = self.from_
        for key in ("files", "adapters", "draft_files"):
            if getattr(self, key):
                body[key] = dict(getattr(self, key))
        for key in ("template", "system", "renderer", "parser", "requires"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        if self.license:
            body["license"] = list(self.license)
        if self.parameters:
            body["parameters"] = {
                k: list(v) if isinstance(v, list) else v for k, v in self.parameters.items()
            }
        if self.messages:
            body["messages"] = [{"role": r, "content": c} for r, c in self.messages]
        return body


@dataclass(frozen=True)
class Upload:
    """One local file the create needs as a blob, and the key it goes under."""

    field: Field
    key: str
    path: Path
    digest: str | None = None  # known already (a hashed FROM file); else hashed on upload


def local_path(snapshot: Snapshot, resolved: ResolvedPath) -> Path:
    """The file on disk a resolved path of the working tree stands for."""
    if resolved.repo_path is not None:
        return snapshot.repo.root / resolved.repo_path
    return Path(resolved.abs_path or resolved.arg)


def _glob(directory: Path, pattern: str) -> list[Path]:
    head, _, tail = pattern.rpartition("/")
    folders = [directory] if not head else [p for p in sorted(directory.iterdir()) if p.is_dir()]
    out: list[Path] = []
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        out.extend(
            folder / n for n in names if fnmatch.fnmatchcase(n, tail) and (folder / n).is_file()
        )
    return out


def dir_files(directory: Path) -> list[Path]:
    """The files Ollama imports from a directory (`filesForModel`), sorted."""
    chosen: list[Path] = []
    for group in _WEIGHT_GROUPS:
        chosen = [p for pattern in group for p in _glob(directory, pattern)]
        if chosen:
            break
    if not chosen:
        raise GraphError(
            f"{directory}: no Modelfile or safetensors files found",
            hint="a directory import needs *.safetensors, *.gguf or *.bin weights",
        )
    extras = [p for pattern in _EXTRAS for p in _glob(directory, pattern)]
    return sorted(dict.fromkeys([*chosen, *extras]))


def file_keys(paths: list[Path]) -> list[str]:
    """The CLI's names for uploaded files: a lone file's base name, else relative paths."""
    if len(paths) == 1:
        return [paths[0].name]
    common = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [p.relative_to(common).as_posix() for p in paths]


def _uploads(field: Field, snapshot: Snapshot, items: list[ResolvedPath]) -> list[Upload]:
    paths: list[tuple[Path, str | None]] = []
    for resolved in items:
        path = local_path(snapshot, resolved)
        if resolved.kind == "dir":
            paths.extend((p, None) for p in dir_files(path))
        else:
            paths.append((path, snapshot.sha256(resolved)))
    keys = file_keys([p for p, _ in paths]) if paths else []
    return [Upload(field, key, p, d) for key, (p, d) in zip(keys, paths, strict=True)]


def uploads_for(node: ModelNode, snapshot: Snapshot) -> list[Upload]:
    """Every blob one model's create needs (its own FROM files, ADAPTER and DRAFTs)."""
    out: list[Upload] = []
    if node.base.kind == "file":
        out += _uploads("files", snapshot, list(node.base.files))
    if node.adapter is not None:
        out += _uploads("adapters", snapshot, [node.adapter])
    if node.drafts:
        out += _uploads("draft_files", snapshot, list(node.drafts))
    return out


def from_for(node: ModelNode, tag: str) -> str | None:
    """What the create's `from` is: the parent's build at `tag`, the base as written, or
    None for a file import."""
    if node.base.kind == "source":
        return f"{node.base.target}:{tag}"
    if node.base.kind in ("external", "pinned"):
        return node.base.arg
    return None


def create_request(
    node: ModelNode, own: Declared, *, target: str, tag: str, blobs: dict[Upload, str]
) -> CreateRequest:
    """The create request for `node` at `target` (`name:TAG`), given uploaded blob digests."""
    maps: dict[str, dict[str, str]] = {"files": {}, "adapters": {}, "draft_files": {}}
    for upload, digest in blobs.items():
        maps[upload.field][upload.key] = digest
    texts = {k: v.value for k, v in own.texts.items()}
    return CreateRequest(
        model=target,
        from_=from_for(node, tag),
        files=maps["files"],
        adapters=maps["adapters"],
        draft_files=maps["draft_files"],
        template=texts.get("template", ""),
        system=texts.get("system", ""),
        license=tuple(lic.value for lic in own.licenses),
        parameters={k: v.value for k, v in own.parameters.items()},
        messages=tuple((m.role, m.content) for m in own.messages),
        renderer=texts.get("renderer", ""),
        parser=texts.get("parser", ""),
        requires=texts.get("requires", ""),
    )
