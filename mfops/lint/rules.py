"""The lint rules themselves, one small function per code (registered with `rule`).

The machinery they are written against (findings, the registry, the shared facts about a
file) is in registry.py; engine.py imports this module, which registers every rule, and runs them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from itertools import pairwise

from mfops.language.modelfile import SINGLE_VALUED, Instruction
from mfops.language.names import is_reserved_tag
from mfops.language.params import DEPRECATED, REGISTRY, REMOVED, ParamValueError, convert
from mfops.language.semver import normalize_requires
from mfops.lint.registry import (
    DELETE,
    DIRECTIVE,
    RESOLVED,
    RULES,
    SEE_RULES,
    SEMVER_MESSAGE,
    Hit,
    ModelfileFacts,
    at_name,
    at_value,
    path_exists,
    resolve_path,
    rule,
)

# --------------------------------------------------------------------------- MF0xx: file


@rule("MF003", "warning", "malformed mfops-lint directive, or one naming an unknown rule")
def _bad_directive(f: ModelfileFacts) -> Iterator[Hit]:
    """A mistyped directive silently suppresses nothing; say so instead."""
    for line, problem, codes in f.directives:
        if problem:
            yield Hit(line, 1, f"malformed mfops-lint directive: {problem}")
        for code in (c for c in codes if c not in RULES):
            yield Hit(line, 1, f"mfops-lint directive names unknown rule {code}", SEE_RULES)


# --------------------------------------------------------------------------- MF1xx: parameters


def _suggest_param(name: str) -> str | None:
    by_case = [n for n in REGISTRY if n.lower() == name.lower()]
    if by_case:
        return f"did you mean '{by_case[0]}'? parameter names are case-sensitive"
    close = difflib.get_close_matches(name.lower(), REGISTRY, n=1, cutoff=0.75)
    return f"did you mean '{close[0]}'?" if close else None


def _params(f: ModelfileFacts) -> Iterator[Instruction]:
    return (i for i in f.mf.of("PARAMETER") if i.param)


@rule("MF101", "error", "unknown PARAMETER name")
def _unknown_param(f: ModelfileFacts) -> Iterator[Hit]:
    """Names are matched case-sensitively, so `Temperature` fails `ollama create`."""
    for ins in _params(f):
        name = ins.param
        if name not in REGISTRY and name not in DEPRECATED and name not in REMOVED:
            yield at_name(ins, f"unknown parameter '{name}'", _suggest_param(name))


@rule("MF102", "error", "PARAMETER that Ollama removed (numa, num_gqa, tfs_z, ...)")
def _removed_param(f: ModelfileFacts) -> Iterator[Hit]:
    """Old Modelfiles carry these; Ollama now fails on them with no hint why."""
    for ins in (i for i in _params(f) if i.param in REMOVED):
        why = f"parameter '{ins.param}' was {REMOVED[ins.param]}"
        yield at_name(
            ins, f"{why}; ollama create fails with unknown parameter '{ins.param}'", DELETE
        )


_TYPE_WORDS = {
    "int": "a whole number, e.g. 4096",
    "float": "a number, e.g. 0.7",
    "bool": "true or false",
    "list": "a string",
}


@rule("MF103", "error", "PARAMETER value Ollama cannot convert to the parameter's type")
def _invalid_value(f: ModelfileFacts) -> Iterator[Hit]:
    """Go's strconv decides: `4096.0` is not an int, `yes` is not a bool."""
    for ins in (i for i in _params(f) if i.param in REGISTRY):
        try:
            convert(ins.param, ins.value)
        except ParamValueError as err:
            hint = f"{ins.param} takes {_TYPE_WORDS[REGISTRY[ins.param].type]}"
            if "#" in ins.value:  # `PARAMETER num_ctx 4096 # context` is the usual cause
                hint += "; Modelfiles have no inline comments: the '#' is part of the value"
            yield at_value(ins, f"PARAMETER {ins.param}: {err}", hint)


@rule("MF104", "error", "PARAMETER with an empty name (two blanks after the keyword)")
def _empty_param_name(f: ModelfileFacts) -> Iterator[Hit]:
    """Two blanks after PARAMETER end an empty name; the whole rest becomes the value."""
    for ins in (i for i in f.mf.of("PARAMETER") if not i.param):
        yield at_name(
            ins,
            "PARAMETER has an empty name: a second blank after PARAMETER ends "
            "the name, and ollama create fails with unknown parameter ''",
            f"write one blank: PARAMETER {ins.value}",
        )


@rule("MF105", "warning", "deprecated PARAMETER: Ollama warns and drops it")
def _deprecated_param(f: ModelfileFacts) -> Iterator[Hit]:
    """The line has no effect: Ollama drops it, unchecked, with a warning on stdout."""
    for ins in (i for i in _params(f) if i.param in DEPRECATED):
        yield at_name(ins, f"parameter '{ins.param}' is deprecated: Ollama ignores it", DELETE)


@rule("MF106", "warning", "single-valued PARAMETER set twice: the later value silently wins")
def _repeated_param(f: ModelfileFacts) -> Iterator[Hit]:
    """Scalar keys are last-wins, so an earlier line is dead; `stop` lines accumulate."""
    seen: dict[str, int] = {}
    for ins in _params(f):
        spec = REGISTRY.get(ins.param)
        if spec is None or spec.type == "list":
            continue
        if ins.param in seen:
            yield at_name(
                ins,
                f"parameter '{ins.param}' is set again (first on line "
                f"{seen[ins.param]}); only the last value is used",
            )
        seen.setdefault(ins.param, ins.line)


@rule("MF107", "warning", "integer parameter above 2^53: the server stores a float64")
def _huge_int(f: ModelfileFacts) -> Iterator[Hit]:
    """Ollama decodes `parameters` into float64, so 9007199254740993 is kept as
    9007199254740992 (issue 13 item 4); verification compares the value it can store."""
    for ins in _params(f):
        spec = REGISTRY.get(ins.param)
        if spec is None or spec.type != "int":
            continue
        try:
            value = convert(ins.param, ins.value)
        except ParamValueError:
            continue
        if isinstance(value, int) and abs(value) > 2**53:
            kept = int(float(value))
            yield at_value(
                ins,
                f"{ins.param} {value} is above 2^53: the server stores it as a float64, {kept}",
                f"use a value up to {2**53}",
            )


# --------------------------------------------------------------------------- MF2xx: FROM, paths


@rule("MF201", "warning", "external FROM without an explicit tag (means :latest, which moves)")
def _untagged_from(f: ModelfileFacts) -> Iterator[Hit]:
    """An untagged external base is `:latest`: a rebuild can silently get new weights."""
    known = f.known_untagged
    for fr in f.froms:
        if fr.name is None or fr.name.has_tag or fr.name.untagged in known:
            continue  # tagged, or a source edge built together with the repo model
        value = fr.ins.value
        same = [known[k] for k in known if k.lower() == fr.name.untagged.lower()]
        hint = f"pin a tag: FROM {value}:<tag>"
        if same:
            hint = f"the repo model is spelled '{same[0]}' (FROM is case-sensitive)"
        yield at_value(
            fr.ins,
            f"FROM {value} has no tag: it means {value}:latest, which "
            "changes whenever the registry updates it",
            hint,
        )


@rule("MF202", "warning", "FROM with a reserved tag (cloud, local, *-cloud)")
def _reserved_tag(f: ModelfileFacts) -> Iterator[Hit]:
    """Ollama routes these tags to cloud/local handling (`FROM x:cloud` is a remote stub)."""
    for fr in f.froms:
        if fr.name is not None and fr.name.has_tag and is_reserved_tag(fr.name.tag):
            message = f"tag '{fr.name.tag}' is reserved: Ollama routes it to cloud/local handling"
            yield at_value(fr.ins, f"{message} instead of a plain model", "use another tag")


@rule("MF203", "error", "FROM is neither an existing path nor a valid model name")
def _invalid_from(f: ModelfileFacts) -> Iterator[Hit]:
    """The server rejects it; most often an inline comment, which Modelfiles do not have."""
    for fr in f.froms:
        if fr.kind == "empty":
            hint = "name a model (FROM llama3.2:3b) or a file (FROM ./model.gguf)"
            yield at_value(fr.ins, "FROM has no value", hint)
        elif fr.kind == "invalid":
            hint = None
            if "#" in fr.ins.value:
                hint = "Modelfiles have no inline comments: the '#' is part of the value"
            message = f"FROM is neither an existing path nor a valid model name: {fr.reason}"
            yield at_value(fr.ins, message, hint)


@rule("MF204", "error", "FROM names a path that does not exist (Ollama would pull it as a name)")
def _missing_from_path(f: ModelfileFacts) -> Iterator[Hit]:
    """The filesystem decides path versus name: a mistyped path becomes a registry pull."""
    for fr in (fr for fr in f.froms if fr.kind == "missing-path"):
        yield at_value(
            fr.ins,
            f"FROM path does not exist: {fr.ins.value}; Ollama would take "
            "it for a model name and try to pull it",
            RESOLVED,
        )


@rule("MF205", "error", "ADAPTER or DRAFT path does not exist")
def _missing_local_path(f: ModelfileFacts) -> Iterator[Hit]:
    """ADAPTER and DRAFT must be local files; `ollama create` stops on a missing one."""
    for ins in (i for i in f.mf.instructions if i.keyword in ("ADAPTER", "DRAFT")):
        if not ins.value:
            yield at_value(ins, f"{ins.keyword} has no path")
        elif not path_exists(resolve_path(ins.value, f.ctx.base_dir)):
            yield at_value(ins, f"{ins.keyword} path does not exist: {ins.value}", RESOLVED)


@rule("MF206", "warning", "conflicting FROM lines: the last model name wins, files are ignored")
def _conflicting_froms(f: ModelfileFacts) -> Iterator[Hit]:
    """Only the last model name is sent, and with a name present uploaded files are unused."""
    names = [fr for fr in f.froms if fr.kind != "file"]
    for earlier, later in pairwise(names):
        yield at_value(
            later.ins,
            f"another FROM model name (previous on line "
            f"{earlier.ins.line}): only the last one is used",
        )
    if names:
        last = names[-1].ins
        for fr in (fr for fr in f.froms if fr.kind == "file"):
            message = f"FROM file is ignored: FROM {last.value} on line {last.line} names a model"
            yield at_value(fr.ins, f"{message}, and Ollama then uses the model only")


@rule("MF207", "warning", "external FROM spelled with capitals: Ollama looks it up exactly")
def _from_case(f: ModelfileFacts) -> Iterator[Hit]:
    """Ollama finds a FROM model by its exact path on disk and pulls otherwise, while
    registry names are lower case: `FROM Llama3.2` next to `llama3.2` pulls another copy
    (or fails offline) on Linux, and works on macOS and Windows (issue 13 item 8)."""
    known = {k.lower() for k in f.known_untagged}
    for fr in f.froms:
        if fr.name is None or fr.name.untagged.lower() in known:
            continue
        value = fr.ins.value
        if value != value.lower():
            yield at_value(
                fr.ins,
                f"FROM {value} has capitals: Ollama looks the base up by its exact "
                "spelling, and registry names are lower case",
                f"write FROM {value.lower()}",
            )


# --------------------------------------------------------------------------- MF3xx: structure


@rule("MF301", "warning", "single-valued command given twice: the later one silently wins")
def _repeated_command(f: ModelfileFacts) -> Iterator[Hit]:
    """The earlier value is dropped without a word: usually a merge or copy-paste slip."""
    seen: dict[str, int] = {}
    for ins in (i for i in f.mf.instructions if i.keyword.lower() in SINGLE_VALUED):
        if ins.keyword in seen:
            message = f"{ins.keyword} given again (previous on line {seen[ins.keyword]})"
            yield Hit(ins.line, ins.column, f"{message}: only the last one is used")
        seen[ins.keyword] = ins.line


@rule("MF302", "info", "no header comment before the first command saying what the model is for")
def _no_header(f: ModelfileFacts) -> Iterator[Hit]:
    """A repo of models is read by people; info only, because it never changes the model."""
    header = [c for c in f.mf.header if c.text.strip("# \t") and not DIRECTIVE.match(c.text)]
    first = f.mf.instructions[0]
    if not header:
        yield Hit(
            first.line,
            first.column,
            "no header comment saying what this model is for",
            "start the file with a comment such as '# name: what it is for'",
        )


@rule("MF303", "error", "REQUIRES is not a valid semantic version")
def _bad_requires(f: ModelfileFacts) -> Iterator[Hit]:
    """Ollama adds a `v` and checks with x/mod/semver: no leading zeros, no `0.14-rc1`."""
    for ins in (i for i in f.mf.of("REQUIRES") if normalize_requires(i.value) is None):
        yield at_value(ins, f"REQUIRES {ins.value!r}: {SEMVER_MESSAGE}")


@rule("MF304", "warning", "empty SYSTEM/TEMPLATE/RENDERER/PARSER: cannot clear an inherited value")
def _empty_text(f: ModelfileFacts) -> Iterator[Hit]:
    """Empty strings are left out of the request, so the base's value stays (reference §4)."""
    for ins in f.mf.instructions:
        if ins.keyword in ("SYSTEM", "TEMPLATE", "RENDERER", "PARSER") and ins.value == "":
            yield at_value(
                ins,
                f"empty {ins.keyword} is not sent: Ollama omits empty strings, "
                f"so it cannot clear an inherited {ins.keyword}",
                DELETE,
            )


@rule("MF305", "info", "command keyword not in upper case (mfops fmt fixes it)")
def _keyword_case(f: ModelfileFacts) -> Iterator[Hit]:
    """Keywords are case-insensitive; one spelling keeps files greppable and diffs small."""
    for ins in (i for i in f.mf.instructions if i.written != i.keyword):
        yield Hit(
            ins.line, ins.column, f"keyword '{ins.written}' is not upper case", "run mfops fmt"
        )


# --------------------------------------------------------------------------- MF4xx: MESSAGE


def _chat(f: ModelfileFacts) -> list[Instruction]:
    return [m for m in f.mf.of("MESSAGE") if m.role != "system"]


@rule("MF401", "warning", "system MESSAGE after the conversation has started")
def _late_system(f: ModelfileFacts) -> Iterator[Hit]:
    """Templates expect system text before the turns; mid-history it is an odd prompt."""
    started = False
    for m in f.mf.of("MESSAGE"):
        if m.role != "system":
            started = True
        elif started:
            yield at_name(m, "system message in the middle of the history: put it first")


@rule("MF402", "warning", "two user or two assistant MESSAGEs in a row")
def _same_role_twice(f: ModelfileFacts) -> Iterator[Hit]:
    """Few-shot history teaches the turn structure; a doubled role teaches a broken one."""
    for prev, m in pairwise(_chat(f)):
        if prev.role == m.role:
            yield at_name(
                m,
                f"{m.role} message follows another {m.role} message (line "
                f"{prev.line}): user and assistant should alternate",
            )


@rule("MF403", "warning", "MESSAGE history starts with an assistant message")
def _starts_with_assistant(f: ModelfileFacts) -> Iterator[Hit]:
    """An answer to no question: usually a missing or misplaced user line."""
    chat = _chat(f)
    if chat and chat[0].role == "assistant":
        yield at_name(chat[0], "history starts with an assistant message: nothing was asked yet")


@rule("MF404", "warning", "MESSAGE history ends with an unanswered user message")
def _ends_with_user(f: ModelfileFacts) -> Iterator[Hit]:
    """Model MESSAGEs are prepended to the caller's, whose first turn is a user turn too."""
    chat = _chat(f)
    if chat and chat[-1].role == "user":
        yield at_name(
            chat[-1],
            "history ends with a user message: the caller's first message "
            "follows it, so the model sees two user turns in a row",
            "add the assistant's answer, or delete the message",
        )


#: (keyword, first Ollama release whose create accepts it, what older servers do). Fixed
#: knowledge from Ollama's api/types.go history (issue 13 item 9); `mfops build` checks the
#: real server's /api/version before any create (mfops.server.versions).
_SINCE = (
    ("RENDERER", "0.12.0", "drop it silently"),
    ("PARSER", "0.12.0", "drop it silently"),
    ("REQUIRES", "0.14.0", "drop it silently"),
    ("DRAFT", "0.30.0", "drop it silently"),
)


@rule("MF306", "info", "command that older Ollama servers silently drop, or newer ones refuse")
def _version_dependent(f: ModelfileFacts) -> Iterator[Hit]:
    """Older servers ignore create fields they do not know and still answer success."""
    for keyword, since, older in _SINCE:
        for ins in f.mf.of(keyword)[:1]:
            yield Hit(
                ins.line,
                ins.column,
                f"{keyword} needs Ollama {since} or newer: older servers {older}",
                "mfops build refuses it on an older server",
            )
    for ins in f.mf.of("ADAPTER")[:1]:
        yield Hit(
            ins.line,
            ins.column,
            "ADAPTER: Ollama 0.34.1 reportedly stopped creating LoRA adapter models "
            "(ollama/ollama#14969); existing ones still run",
            "check the server version you build on",
        )


_ordered = sorted(RULES.items())  # --list-rules and the README list rules by code
RULES.clear()
RULES.update(_ordered)
