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
"""

from __future__ import annotations

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

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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

    loader = _loader_class()(text)
    try:
        return _build(loader, path, yaml)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {problem}", path=path, line=line) from None
    except yaml.reader.ReaderError as err:  # a character YAML does not allow (NUL, ...)
        char = err.character if isinstance(err.character, int) else ord(err.character[:1] or " ")
        line = text.count("\n", 0, err.position) + 1
        raise ConfigError(
            f"invalid YAML: unacceptable character #x{char:04x}: {err.reason}", path=path, line=line
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML: {str(err).splitlines()[0]}", path=path) from None
    finally:
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
                raise error(f"nested more than {MAX_DEPTH} levels deep", event)
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
