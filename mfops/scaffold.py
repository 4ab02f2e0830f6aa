"""Scaffolding a model repository from mfops' templates: the library half of `mfops init`.

The templates live in the source tree's `templates/` folder, which the wheel ships as the
package `mfops._templates`; each part is a folder laid out exactly as it lands in the target
directory (`starter/` holds mfops.yaml and the models, `ci/github/` holds
`.github/workflows/mfops.yml`).

Init must never destroy work: every target file is examined before anything is written, and
when one would be overwritten without `force` the whole scaffold is refused, naming each
such file, so that a run leaves either the full scaffold or nothing. Files that already hold
exactly the template's content are left alone, and `.gitignore` is merged (the template's
lines that are missing get appended) because almost every repository already has one. A
directory that already holds an `mfops.yaml` is an mfops repository: its models are not
re-scaffolded unless forced, so `mfops init --ci github` adds just the workflow to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mfops.errors import MfopsError
from mfops.fileio.atomic import write_atomic

#: `--ci` choice -> template folder with the files for that CI system.
CI_TEMPLATES: dict[str, str] = {"github": "ci/github"}
STARTER = "starter"
#: Files whose existing content is merged line by line instead of being replaced.
MERGED = frozenset({".gitignore"})
CONFIG_FILE = "mfops.yaml"
#: Never scaffolded, wherever they turn up in a template folder.
IGNORED = frozenset({"__pycache__", ".DS_Store"})

#: create / overwrite (--force) / merge (.gitignore) write the file; unchanged: it already
#: holds the template; kept: a file of an existing mfops repository, not looked at;
#: conflict: exists with other content (init refuses).
Action = Literal["create", "overwrite", "merge", "unchanged", "kept", "conflict"]


class InitError(MfopsError):
    """`mfops init` refused: a file would be overwritten, or the target is unusable."""


@dataclass(frozen=True)
class FilePlan:
    """One template file and what init does with it at `path` (relative, POSIX)."""

    path: str
    source: Path
    action: Action
    content: bytes
    reason: str = ""


@dataclass(frozen=True)
class Scaffold:
    """Everything init will do (or did) in `root`."""

    root: Path
    files: tuple[FilePlan, ...]
    ci: str | None = None

    def with_action(self, *actions: Action) -> list[FilePlan]:
        return [f for f in self.files if f.action in actions]

    @property
    def written(self) -> list[FilePlan]:
        return self.with_action("create", "overwrite", "merge")


def templates_root() -> Path:
    """The template folder: `mfops/_templates` in an installed wheel, else `templates/` of
    the source checkout this package runs from (editable installs, the test suite)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / STARTER / CONFIG_FILE).is_file():
            return candidate
    raise InitError("mfops' templates are missing from this installation", hint="reinstall mfops")


def template_files(part: str, *, root: Path | None = None) -> dict[str, Path]:
    """Relative POSIX path -> source file, for every file of one template part."""
    base = (root or templates_root()) / part
    if not base.is_dir():
        raise InitError(f"no template folder {part!r} in {base.parent}", hint="reinstall mfops")
    return {
        p.relative_to(base).as_posix(): p
        for p in sorted(base.rglob("*"))
        if p.is_file() and not IGNORED & set(p.relative_to(base).parts)
    }


def _merge_lines(existing: bytes, template: bytes) -> bytes | None:
    """`existing` plus the template's lines it lacks (None when it lacks none)."""
    have = {line.strip() for line in existing.decode("utf-8", "replace").splitlines()}
    missing = [
        line
        for line in template.decode("utf-8").splitlines()
        if line.strip() and line.strip() not in have
    ]
    if not missing:
        return None
    text = existing.decode("utf-8", "replace")
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + "\n".join(missing) + "\n").encode("utf-8")


#: The template text replaced by `substitutions[...]` (the workflow's mfops requirement).
INSTALL_TOKEN = "@MFOPS_INSTALL@"


def _render(template: bytes, substitutions: Mapping[str, str]) -> bytes:
    for token, value in substitutions.items():
        template = template.replace(token.encode("utf-8"), value.encode("utf-8"))
    return template


def _plan_file(
    root: Path, rel: str, source: Path, *, force: bool, substitutions: Mapping[str, str]
) -> FilePlan:
    template = _render(source.read_bytes(), substitutions)
    target = root / rel
    if target.is_dir():
        raise InitError(f"{target} is a directory; the template needs a file there")
    if not target.exists():
        return FilePlan(rel, source, "create", template)
    existing = target.read_bytes()
    if existing == template:
        return FilePlan(rel, source, "unchanged", template)
    if Path(rel).name in MERGED:  # merged even with --force: nobody means to lose one
        merged = _merge_lines(existing, template)
        if merged is None:
            return FilePlan(rel, source, "unchanged", existing)
        return FilePlan(rel, source, "merge", merged)
    if force:
        return FilePlan(rel, source, "overwrite", template)
    return FilePlan(rel, source, "conflict", template, reason="exists with other content")


def plan(
    target: Path,
    *,
    ci: str | None = None,
    force: bool = False,
    templates: Path | None = None,
    substitutions: Mapping[str, str] | None = None,
) -> Scaffold:
    """What `scaffold` would do in `target`; raises InitError when it must refuse.
    `substitutions` maps template tokens (INSTALL_TOKEN) to the text written instead."""
    if ci is not None and ci not in CI_TEMPLATES:
        raise InitError(
            f"unknown CI system {ci!r}", hint=f"choose one of: {', '.join(sorted(CI_TEMPLATES))}"
        )
    root = Path(target)
    where = "the current directory" if str(root) in ("", ".") else str(root)
    if root.exists() and not root.is_dir():
        raise InitError(f"{where} exists and is not a directory")
    existing_repo = (root / CONFIG_FILE).is_file()
    if existing_repo and not force and ci is None:
        raise InitError(
            f"{where} is already an mfops repository ({CONFIG_FILE} exists)",
            hint="`mfops init --ci github` adds the CI workflow; --force overwrites the "
            "starter files",
        )
    parts: list[tuple[str, bool]] = [(STARTER, existing_repo and not force)]
    if ci is not None:
        parts.append((CI_TEMPLATES[ci], False))
    files: list[FilePlan] = []
    for part, keep_repo in parts:
        for rel, source in template_files(part, root=templates).items():
            if keep_repo:
                files.append(FilePlan(rel, source, "kept", b"", reason="existing mfops repository"))
            else:
                files.append(
                    _plan_file(root, rel, source, force=force, substitutions=substitutions or {})
                )
    conflicts = [f for f in files if f.action == "conflict"]
    if conflicts:
        names = ", ".join(f.path for f in conflicts)
        raise InitError(
            f"not overwriting {len(conflicts)} existing "
            f"file{'s' if len(conflicts) != 1 else ''} in {where}: {names}",
            hint="nothing was written; --force overwrites them",
        )
    return Scaffold(root, tuple(files), ci)


def scaffold(
    target: Path,
    *,
    ci: str | None = None,
    force: bool = False,
    templates: Path | None = None,
    substitutions: Mapping[str, str] | None = None,
) -> Scaffold:
    """Write the starter repository (and the CI workflow for `ci`) into `target`.

    All-or-nothing with respect to conflicts (see the module docstring); each file is
    written atomically. Returns the plan that was carried out.
    """
    done = plan(target, ci=ci, force=force, templates=templates, substitutions=substitutions)
    for item in done.written:
        path = done.root / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, item.content, root=done.root)
    return done


def next_steps(done: Scaffold, *, shown_root: str, in_git: bool) -> list[tuple[str, str]]:
    """(command, why) pairs a person runs next, from creating the repo to a first release."""
    steps: list[tuple[str, str]] = []
    if shown_root not in ("", "."):
        steps.append((f"cd {shown_root}", ""))
    if done.ci is not None and done.with_action("kept"):
        # an existing repository that only got the workflow: its models are built already
        return [
            *steps,
            ("git add .github && git commit -m 'mfops gate'", "the workflow"),
            ("git push", "pull requests are gated from now on"),
            (
                "git tag vX.Y.Z && git push origin vX.Y.Z",
                "the workflow gates and promotes the tag",
            ),
            (
                "# optional: a repository secret MFOPS_OLLAMA_HOST naming your Ollama "
                "(without it the workflow starts one on the runner)",
                "",
            ),
        ]
    if not in_git:
        steps.append(("git init", ""))
    steps += [
        ("mfops lock --pull", "pull the bases, pin their digests in mfops.lock"),
        ("git add -A && git commit -m 'Model repository'", ""),
        ("mfops build --all", "every model, at the candidate tag sha-<commit>"),
        ("mfops test", "the behaviour suites, against that tag"),
        ("mfops promote --all --to v0.1.0", "release what passed (HEAD's candidate)"),
    ]
    if done.ci == "github":
        steps.append(
            ("git tag v0.1.0 && git push origin v0.1.0", "or let the workflow gate and promote it")
        )
    return steps
