"""The one YAML loader: safe, bounded, and aware of the line each key sits on.

Config errors must say where (`mfops.yaml:12: models.engine-bot.tests: expected a list of
strings`), which plain `yaml.safe_load` cannot do: it returns bare Python values. So this
module drives PyYAML's safe parser event by event and builds plain Python values itself,
recording the line of every mapping key and sequence item under its key path.

Building from events, rather than composing a node tree, is also what keeps hostile input
harmless. Aliases are refused outright (no "billion laughs" expansion, and mfops' files have
no use for them), nesting is capped (libyaml's own composer recurses in C and crashes the
interpreter on a few hundred thousand `[`), and documents over 5 MB are refused before parsing.
Scalars get exactly the safe loader's types (int, float, bool, null, timestamps, strings).

mfops owns its messages: the parser's own error texts differ between libyaml and pure-Python
PyYAML (and between releases), so `_syntax_message` maps them to mfops' wording, and the
depth limit reads the same whichever layer (mfops or the parser) notices it first.
`MFOPS_YAML_PURE=1` forces the pure-Python loader (the test run uses it to check both).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mfops.errors import ConfigError

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64

_COLLECTION_TAGS = {
    "mapping": (None, "tag:yaml.org,2002:map"),
    "sequence": (None, "tag:yaml.org,2002:seq"),
}

KeyPath = tuple[object, ...]


@dataclass(frozen=True)
class LineMap:
    """Where each value came from: key path -> 1-based line of its key (or sequence item)."""

    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line(self, *path: object) -> int:
        """The line of `path`, or of its nearest ancestor that has one (1 at worst)."""
        p: KeyPath = tuple(path)
        while p:
            found = self.lines.get(p)
            if found is not None:
                return found
            p = p[:-1]
        return self.lines.get((), 1)

    def get(self, path: KeyPath) -> int | None:
        """The line of exactly `path`, None when unknown."""
        return self.lines.get(tuple(path))


def _loader_class() -> type:
    import yaml

    if os.environ.get("MFOPS_YAML_PURE", "") not in ("", "0"):
        return yaml.SafeLoader
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def depth_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


#: (words in the parser's context or problem, mfops' message), first match wins. The parser's
#: wording only selects a message here; it is never shown.
_SYNTAX_MESSAGES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("quoted scalar", "end of stream"), "a quoted string is not closed"),
    (("quoted scalar",), "invalid escape sequence in a double-quoted string"),
    (("flow sequence",), "a [ list is not closed, or its items are not separated by ','"),
    (("flow mapping",), "a { mapping is not closed, or its items are not separated by ','"),
    (("flow node",), "a value is missing inside a [ list or { mapping"),
    (("simple key",), "a key is missing its ':'"),
    (("mapping values",), "unexpected ':' in a value (quote values that contain ': ')"),
    (("block mapping",), "unexpected text or bad indentation in a mapping"),
    (("block collection",), "unexpected text or bad indentation in a list"),
    (("block sequence",), "unexpected text or bad indentation in a list"),
    (("anchor",), "invalid anchor (&name)"),
    (("alias",), "invalid alias (*name)"),
    (("tag",), "invalid tag (!name)"),
    (("directive",), "invalid directive (%NAME)"),
    (("block scalar",), "invalid block scalar (| or >)"),
    (("cannot start any token",), "a character that cannot start a value"),
    (("end of stream",), "the file ends unexpectedly"),
)

_TAB_INDENT = re.compile(r"^ *\t", re.MULTILINE)


def _syntax_message(err: object, text: str, line: int | None) -> tuple[str, int | None]:
    """mfops' message (and line) for a syntax error the YAML parser reported."""
    words = " ".join(str(getattr(err, a, None) or "") for a in ("context", "problem")).lower()
    if not words.strip():
        words = str(err).lower()
    if "depth" in words or "nesting" in words or "too deep" in words:
        return depth_message(), line  # the same words as mfops' own check, no prefix
    # Tabs may not indent YAML. libyaml and pure PyYAML notice them at different places
    # (the tab's line or the one before), so the first tab-indented line is what is named.
    tab = _TAB_INDENT.search(text)
    if tab is not None:
        tab_line = text.count("\n", 0, tab.start()) + 1
        if line is None or tab_line <= line + 1:
            return "invalid YAML: a tab character indents a line (indent with spaces)", tab_line
    for needles, message in _SYNTAX_MESSAGES:
        if all(n in words for n in needles):
            return f"invalid YAML: {message}", line
    return "invalid YAML: syntax error", line


class _Frame:
    __slots__ = ("container", "key", "key_line", "path", "start_line")

    def __init__(
        self, container: dict[Any, Any] | list[Any], path: KeyPath, start_line: int
    ) -> None:
        self.container = container
        self.path = path
        self.start_line = start_line
        self.key: object = _NO_KEY
        self.key_line = 0


_NO_KEY = object()


def load_yaml(text: str, path: str) -> tuple[object, LineMap]:
    """Parse one YAML document into plain Python values plus the line of every key.

    An empty document gives None. Every problem is a ConfigError at `path:line`.
    """
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MB", path=path)
    import yaml

    loader = None
    try:
        loader = _loader_class()(text)  # the pure loader checks characters here already
        return _build(loader, path, yaml)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        message, line = _syntax_message(err, text, line)
        raise ConfigError(message, path=path, line=line) from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow (NUL, ...)
        char = err.character if isinstance(err.character, int) else ord(err.character[:1] or " ")
        found = text.find(chr(char)) if 0 <= char < 0x110000 else -1
        line = text.count("\n", 0, found if found >= 0 else err.position) + 1
        raise ConfigError(f"invalid YAML: unacceptable character #x{char:04x}",
                          path=path, line=line) from None  # fmt: skip
    except yaml.YAMLError as err:
        message, line = _syntax_message(err, text, None)
        raise ConfigError(message, path=path, line=line) from None
    except RecursionError:  # a parser that recurses per level gave up before mfops' check
        raise ConfigError(depth_message(), path=path) from None
    finally:
        if loader is not None:
            loader.dispose()


def _build(loader: Any, path: str, yaml: Any) -> tuple[object, LineMap]:
    ev = yaml.events
    lines: dict[KeyPath, int] = {}
    stack: list[_Frame] = []
    root: object = None
    documents = 0

    def error(message: str, event: Any) -> ConfigError:
        return ConfigError(message, path=path, line=event.start_mark.line + 1)

    def place(value: object, event: Any, line: int) -> None:
        """Put a finished value into the enclosing collection (or make it the root)."""
        nonlocal root
        if not stack:
            root = value
            lines[()] = line
            return
        top = stack[-1]
        if isinstance(top.container, list):
            index = len(top.container)
            top.container.append(value)
            item: KeyPath = (*top.path, index)
            lines[item] = line
        elif top.key is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise error("a mapping key must be a plain value, not a collection", event)
            if value in top.container:
                first = lines.get((*top.path, value), "?")
                raise error(f"duplicate key {value!r} (first at line {first})", event)
            top.key, top.key_line = value, line
        else:
            top.container[top.key] = value
            member: KeyPath = (*top.path, top.key)
            lines[member] = top.key_line
            top.key = _NO_KEY

    def child_path(event: Any) -> KeyPath:
        if not stack:
            return ()
        top = stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.key is _NO_KEY:
            raise error("a mapping key must be a plain value, not a collection", event)
        return (*top.path, top.key)

    while loader.check_event():
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, ev.AliasEvent):
            raise error("YAML aliases (*name) are not supported", event)
        if isinstance(event, ev.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise error("expected one YAML document, found several", event)
        elif isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
            kind = "mapping" if isinstance(event, ev.MappingStartEvent) else "sequence"
            if event.tag not in _COLLECTION_TAGS[kind] and event.tag != "!":
                raise error(f"unsupported YAML tag {event.tag}", event)
            if len(stack) >= MAX_DEPTH:
                raise error(depth_message(), event)
            frame = _Frame({} if kind == "mapping" else [], child_path(event), line)
            stack.append(frame)
        elif isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
            frame = stack.pop()
            place(frame.container, event, frame.start_line)
        elif isinstance(event, ev.ScalarEvent):
            place(_scalar(loader, event, yaml, error), event, line)
    return root, LineMap(lines)


def _scalar(loader: Any, event: Any, yaml: Any, error: Callable[[str, Any], ConfigError]) -> object:
    """The value the safe loader would construct for one scalar event."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == "tag:yaml.org,2002:merge":
        raise error("YAML merge keys (<<) are not supported", event)
    if tag == "tag:yaml.org,2002:str":
        return event.value
    construct = loader.yaml_constructors.get(tag)
    if construct is None or tag in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
        raise error(f"unsupported YAML tag {tag}", event)
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        return construct(loader, node)
    except (ValueError, TypeError, yaml.YAMLError) as err:
        kind = tag.rsplit(":", 1)[-1]
        shown = event.value if len(event.value) <= 40 else event.value[:40] + "..."
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise error(f"invalid {kind} value {shown!r}: {reason}", event) from None


def kind_of(value: object) -> str:
    """How an error message names the type of a YAML value (config and suite errors)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def dotted(path: tuple[object, ...]) -> str:
    """A key path as errors show it: `models.engine-bot.tests[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def dump_yaml(data: object) -> str:
    """YAML for people to read and for other tools to load: block style, keys in the given
    order, multi-line strings as literal blocks (`|`) where YAML can hold them exactly
    (PyYAML falls back to a quoted scalar where it cannot)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    out: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return out
