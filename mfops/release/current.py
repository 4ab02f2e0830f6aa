"""Each model's current release, and the baseline a pull request is compared with.

The gate in pull-request mode asks "is this change worse than what is released?", so it
needs, per model, the tag its current release lives at. That comes from the release
records (history.py); `current_release` is the one function that reads them for this
purpose, so that moving the records (e.g. into git) means changing only it.

When the release tag is not on the server the gate talks to (a fresh CI runner), the model
has "no baseline on this server": reported, never an error. (Rebuilding the release from its
recorded commit, with bases at their locked digests, is not done yet.) A model with no
release at all is "new, no baseline".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfops.behave.compare import Baseline
from mfops.release import history

if TYPE_CHECKING:
    from mfops.behave.results import Environment
    from mfops.store.builds import BuildState


@dataclass(frozen=True)
class Release:
    """Where a model's current release is: its tag, and the commit it was released from."""

    tag: str
    commit: str | None = None


def current_release(state: BuildState, model: str) -> Release | None:
    """The newest successful promotion (or rollback, which restores that tag) of `model`."""
    for entry in reversed(history.load(state, model)):
        if entry.kind == "promote" and entry.outcome == "promoted" and entry.to_tag:
            return Release(entry.to_tag, entry.commit)
        if entry.kind == "rollback" and entry.outcome == "rolled back":
            return Release(entry.from_tag, entry.commit)
    return None


def has_releases(state: BuildState) -> bool:
    """Whether anything was ever released from this host's records (then a pull request
    is compared with the release, and a model without one is "new, no baseline")."""
    return any(e.ok for e in history.load(state))


def release_baselines(
    state: BuildState,
) -> Callable[[Environment, list[str]], Mapping[str, Baseline]]:
    """For `compare_in_session(against=...)`: each model's current release as its baseline."""

    def choose(env: Environment, models: list[str]) -> Mapping[str, Baseline]:
        out: dict[str, Baseline] = {}
        for model in dict.fromkeys(models):
            release = current_release(state, model)
            if release is None:
                out[model] = Baseline(None, "new, no baseline", new=True)
                continue
            where = f" (released from {release.commit[:7]})" if release.commit else ""
            if env.manifest(f"{model}:{release.tag}") is None:
                out[model] = Baseline(
                    None,
                    f"no baseline on this server: {model}:{release.tag}{where} is not on "
                    f"{env.host}",
                )
                continue
            out[model] = Baseline(release.tag, source=f"release {release.tag}{where}")
        return out

    return choose
