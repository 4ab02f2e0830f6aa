"""Round-trip verification: does the server hold what mfops meant to create?

Ollama has silently dropped create fields before (a client that did not know a field, a
server that ignored it), and a model that builds "successfully" without its SYSTEM prompt is
worse than a failed build. So after every create mfops reads the model back and compares it
with the *intended* config: the effective config of the repo model (its source chain folded,
effective.py) laid over what its root's base holds on the server.

- When the root's base is a model on the server (external or pinned), its config is known:
  every field must match exactly, and a parameter on the server that neither the base nor
  the chain sets is a difference too.
- When the root is built from local weights, what the import adds by itself (an autodetected
  template or stop words) is unknown, so only what the chain sets is checked, and licenses
  must *end* with the chain's.

Floats pass through float32 on the client side (PARAMETER values) and float64 on the
server, so two floats are equal when they are the same float32; everything else is exact.
"""

from __future__ import annotations

import contextlib
import math
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mfops.graph.effective import Effective
    from mfops.server.client import Server
    from mfops.server.show import ServerConfig

_TEXTS = ("system", "template", "renderer", "parser", "requires")

#: `general.architecture` -> (renderer, parser, stop) that Ollama's create fills in itself
#: when the renderer or the parser is still empty after inheritance (server/create.go, the
#: same in v0.24 and v0.33; each value only where none is set). Verification expects them,
#: labelled as added by the server, instead of reporting a mismatch (issue 13 item 7).
SERVER_FILLED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gemma4": ("gemma4", "gemma4", ("<turn|>",)),
    "laguna": ("laguna", "laguna", ()),
    "nemotron_h": ("nemotron-3-nano", "nemotron-3-nano", ()),
    "nemotron_h_moe": ("nemotron-3-nano", "nemotron-3-nano", ()),
    "nemotron_h_omni": ("nemotron-3-nano", "nemotron-3-nano", ()),
}


@dataclass(frozen=True)
class Mismatch:
    """One field where the server differs from the intent; `origin` set the intended value."""

    field: str
    expected: object
    actual: object
    origin: str | None = None
    #: The likely cause, when the server's answer alone would leave the reader guessing.
    note: str | None = None

    def describe(self) -> str:
        where = f" (from {self.origin})" if self.origin else ""
        want, have = _short(self.expected), _short(self.actual)
        why = f" ({self.note})" if self.note else ""
        return f"{self.field}: intended {want}{where}, server has {have}{why}"


#: Why a create can answer success and hold fewer adapters than the chain names: Ollama
#: files an ADAPTER GGUF by its `general.type`, and one that is not `adapter` (e.g. a whole
#: model's weights) becomes a second weights layer, which `show` does not list at all
#: (seen on v0.24.0 and v0.33.0-rc2).
ADAPTER_NOT_STORED = (
    "Ollama keeps an ADAPTER file as an adapter only when it is a LoRA adapter, a GGUF whose "
    "general.type is 'adapter'; any other GGUF is stored as weights and not shown"
)


@dataclass(frozen=True)
class Intended:
    """What the server should hold. None for a field means "not known, not checked"."""

    texts: dict[str, tuple[str, str | None] | None]
    parameters: dict[str, tuple[object, str | None]]
    exact_parameters: bool
    messages: tuple[tuple[tuple[str, str], ...], str | None] | None
    licenses: tuple[tuple[str, ...], str | None]
    exact_licenses: bool
    #: How many ADAPTER layers (they stack down the chain) and whether a DRAFT is expected:
    #: an older server drops `draft_files` without a word (issue 13 item 9).
    adapters: int = 0
    draft: bool = False
    #: The projector blobs a model keeps from its base on the server, and that base's label
    #: (None: a file base, not known).
    projectors: tuple[tuple[str, ...], str] | None = None


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def intended(eff: Effective, base: ServerConfig | None, *, base_name: str = "") -> Intended:
    """The config the server should hold after building `eff` on top of `base`.

    `base` is the server's config of the root's FROM model, or None for a file base.
    """
    origin = f"base {base_name}" if base_name else "base"
    texts: dict[str, tuple[str, str | None] | None] = {}
    for key in _TEXTS:
        item = eff.texts.get(key)
        if item is not None:
            texts[key] = (item.value, item.origin)
        elif base is not None:
            texts[key] = (base.text(key), origin)
        else:
            texts[key] = None
    params: dict[str, tuple[object, str | None]] = {}
    if base is not None:
        params = {k: (v, origin) for k, v in base.parameters.items()}
    for key, param in eff.parameters.items():
        params[key] = (param.value, param.origin)
    messages: tuple[tuple[tuple[str, str], ...], str | None] | None = None
    if eff.messages:
        messages = (tuple((m.role, m.content) for m in eff.messages.value), eff.messages.origin)
    elif base is not None:
        messages = (tuple((m.role, m.content) for m in base.messages), origin)
    own = tuple(lic.value for lic in eff.licenses)
    lic_origin = eff.licenses[-1].origin if eff.licenses else origin
    if base is not None:
        licenses = ((base.license_text,) if base.license_text else ()) + own
    else:
        licenses = own
    if base is not None and base.architecture in SERVER_FILLED:
        _server_filled(texts, params, base.architecture, chain_stop="stop" in eff.parameters)
    adapters = len(eff.adapters) + (len(base.adapters) if base is not None else 0)
    return Intended(
        texts,
        params,
        base is not None,
        messages,
        (licenses, lic_origin),
        base is not None,
        adapters,
        bool(eff.drafts and eff.drafts.value),
        (blob_names(base.projectors), origin) if base is not None else None,
    )


def _server_filled(
    texts: dict[str, tuple[str, str | None] | None],
    params: dict[str, tuple[object, str | None]],
    architecture: str,
    *,
    chain_stop: bool,
) -> None:
    """What the server adds on the first create of the chain when the base's renderer or
    parser is empty: each missing one, and gemma4's stop unless the chain sets a stop."""
    renderer, parser, stop = SERVER_FILLED[architecture]
    have_r, have_p = texts.get("renderer"), texts.get("parser")
    if have_r and have_r[0] and have_p and have_p[0]:
        return
    origin = f"the server itself ({architecture} weights)"
    if not (have_r and have_r[0]):
        texts["renderer"] = (renderer, origin)
    if not (have_p and have_p[0]):
        texts["parser"] = (parser, origin)
    if stop and not chain_stop:
        params["stop"] = (list(stop), origin)


def blob_names(paths: tuple[str, ...]) -> tuple[str, ...]:
    """Layers by blob name (`sha256-<hex>`): the blob folder is per machine."""
    return tuple(x.rpartition("/")[2] for x in paths)


def same_value(a: object, b: object) -> bool:
    """Equal, with floats compared as float32 (the precision PARAMETER values have)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            # The server keeps every parameter as a float64 (issue 13 item 4): an int over
            # 2^53 comes back as the nearest float64, the value it can store.
            return a == b or (max(abs(a), abs(b)) > 2**53 and float(a) == float(b))
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return False
        try:
            return struct.pack("<f", fa) == struct.pack("<f", fb)
        except OverflowError:
            return fa == fb
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(want: Intended, have: ServerConfig) -> tuple[Mismatch, ...]:
    """Every field where the server's model differs from the intent, in a stable order."""
    out: list[Mismatch] = []
    for key in _TEXTS:
        spec = want.texts.get(key)
        if spec is not None and spec[0] != have.text(key):
            out.append(Mismatch(key.upper(), spec[0], have.text(key), spec[1]))
    for key in sorted(set(want.parameters) | set(have.parameters)):
        if key in want.parameters:
            value, origin = want.parameters[key]
            if key not in have.parameters:
                out.append(Mismatch(f"PARAMETER {key}", value, None, origin))
            elif not same_value(value, have.parameters[key]):
                out.append(Mismatch(f"PARAMETER {key}", value, have.parameters[key], origin))
        elif want.exact_parameters:
            out.append(Mismatch(f"PARAMETER {key}", None, have.parameters[key], None))
    if want.messages is not None:
        msgs, origin = want.messages
        got = tuple((m.role, m.content) for m in have.messages)
        if msgs != got:
            out.append(Mismatch("MESSAGE", list(msgs), list(got), origin))
    if want.adapters and len(have.adapters) < want.adapters:
        out.append(Mismatch("ADAPTER", want.adapters, len(have.adapters), note=ADAPTER_NOT_STORED))
    if want.draft and not have.drafts:
        out.append(Mismatch("DRAFT", "a draft model", None, None))
    if want.projectors is not None:
        blobs, origin = want.projectors
        if blob_names(have.projectors) != blobs:
            out.append(
                Mismatch("projectors", list(blobs), list(blob_names(have.projectors)), origin)
            )
    licenses, origin = want.licenses
    joined = "\n".join(licenses)
    if want.exact_licenses:
        if joined != have.license_text:
            out.append(Mismatch("LICENSE", joined, have.license_text, origin))
    elif licenses and not (
        have.license_text == joined or have.license_text.endswith("\n" + joined)
    ):
        out.append(Mismatch("LICENSE", joined, have.license_text, origin))
    return tuple(out)


def unified(old: str, new: str) -> str:
    """Hunks of a unified diff (no file header) between two texts."""
    import difflib

    out = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
    return "\n".join(line for line in out if not line.startswith(("---", "+++")))


def render(mismatches: tuple[Mismatch, ...]) -> str:
    """A readable multi-line diff: one line per field, a unified diff for long texts."""
    lines: list[str] = []
    for m in mismatches:
        lines.append(m.describe())
        if (
            isinstance(m.expected, str)
            and isinstance(m.actual, str)
            and ("\n" in m.expected or "\n" in m.actual or len(m.expected) > 60)
        ):
            lines.extend("    " + x for x in unified(m.expected, m.actual).splitlines())
    return "\n".join(lines)


class BaseConfigs:
    """The server's config of each root base (external or pinned), read once per build."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._gates: dict[str, threading.Lock] = {}
        self._found: dict[str, ServerConfig | None] = {}

    def prefetch(self, effs: Iterable[Effective]) -> None:
        """Read the bases of `effs` on a thread of its own, while the first creates run:
        otherwise the first read-back of each base's models waits for it (all of them at
        once, on the critical path of a build). An error is left to `for_model`, which
        asks again."""
        wanted = {e.base.target: e for e in effs if e.base.kind in ("external", "pinned")}

        def run() -> None:
            for eff in wanted.values():
                # Only a head start: whatever goes wrong (the build may even be over and
                # the client closed) happens again, and is reported, in `for_model`.
                with contextlib.suppress(Exception):
                    self.for_model(eff)

        if wanted:
            threading.Thread(target=run, name="mfops-bases", daemon=True).start()

    def for_model(self, eff: Effective) -> tuple[ServerConfig | None, str]:
        """(the root base's config or None for a file base, its name)."""
        base = eff.base
        if base.kind not in ("external", "pinned"):
            return None, ""
        with self._lock:
            gate = self._gates.setdefault(base.target, threading.Lock())
        with gate:  # one show per base, however many models ask at once
            if base.target not in self._found:
                self._found[base.target] = self.server.show(base.target)
            return self._found[base.target], base.target


def check_model(
    server: Server, eff: Effective, target: str, bases: BaseConfigs
) -> tuple[Mismatch, ...] | None:
    """Read `target` back and compare it with `eff`; None when the server has no such model."""
    have = server.show(target)
    if have is None:
        return None
    base, name = bases.for_model(eff)
    return compare(intended(eff, base, base_name=name), have)


def drift(server: Server, eff: Effective, target: str, bases: BaseConfigs) -> tuple[Mismatch, ...]:
    """What differs between the server's `target` and the repo's intent (for --explain)."""
    return check_model(server, eff, target, bases) or ()
