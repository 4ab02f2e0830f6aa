"""Hypothesis strategies for the fuzz targets (tests/fuzz/targets.py): inputs that get past
the first character.

Modelfiles are assembled from real keywords, parameter names, roles, quotes, blanks, line
endings, BOMs and encodings; YAML and JSON documents are shaped like the real files (suite,
mfops.yaml, lock, state, baseline keys with values of every type) and then mutated:
truncated, spliced with aliases, anchors, Python tags, merge keys, NULs, deep brackets.
Raw random bytes are mixed into every strategy.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

_KEYWORDS = [
    "FROM",
    "from",
    "PARAMETER",
    "parameter",
    "SYSTEM",
    "TEMPLATE",
    "MESSAGE",
    "ADAPTER",
    "LICENSE",
    "DRAFT",
    "RENDERER",
    "PARSER",
    "REQUIRES",
    "FR0M",
    "#",
    "",
    "SYSTEM\t",
    "Parameter",
]
_PARAMS = [
    "temperature",
    "num_ctx",
    "stop",
    "seed",
    "top_p",
    "mirostat",
    "numa",
    "use_mmap",
    "Temperature",
    "",
    "num-ctx",
    "x",
]
_ROLES = ["user", "assistant", "system", "User", "tool", ""]
_PIECES = [
    '"',
    '"""',
    "#",
    " ",
    "\t",
    "\r",
    "\r\n",
    "\n",
    "\x00",
    "\x0b",
    "\u00a0",
    "\u200d",
    "\ufeff",
    "llama3.2:3b",
    "./w.gguf",
    "../x",
    "/dev/zero",
    "~/x",
    "~nobody/x",
    "1e50",
    "inf",
    "NaN",
    "0x1p-2",
    "+5",
    "true",
    "{{ .Prompt }}",
    ": ",
    "💡",
]
_ENDINGS = ["\n", "\r\n", "\r", ""]


@st.composite
def _modelfile_text(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        keyword = draw(st.sampled_from(_KEYWORDS))
        sep = draw(st.sampled_from([" ", "  ", "\t", "", " \t"]))
        head = ""
        if keyword.upper() == "PARAMETER":
            head = draw(st.sampled_from(_PARAMS)) + draw(st.sampled_from([" ", "", "  "]))
        elif keyword.upper() == "MESSAGE":
            head = draw(st.sampled_from(_ROLES)) + draw(st.sampled_from([" ", "", "  "]))
        value = "".join(
            draw(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=8)), max_size=6))
        )
        lines.append(keyword + sep + head + value + draw(st.sampled_from(_ENDINGS)))
    text = "".join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "latin-1"]))
    return (
        text.encode(encoding, "replace")
        if encoding != "utf-16-be"
        else b"\xfe\xff" + text.encode("utf-16-be", "surrogatepass")
    )


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "base",
            "expert",
            "llama3.2:3b",
            "-x",
            "a..b",
            "json",
            "icontains",
            "regex",
            "((",
            "sha256:" + "a" * 64,
            "a" * 64,
            "created",
            "tagged",
        ]
    ),
)
_KEYS = st.sampled_from(
    [
        "model",
        "inherit",
        "options",
        "cases",
        "name",
        "prompt",
        "messages",
        "role",
        "content",
        "format",
        "samples",
        "pass_rate",
        "assert",
        "type",
        "value",
        "threshold",
        "description",
        "models",
        "modelfile",
        "tests",
        "defaults",
        "host",
        "jobs",
        "candidate_tag",
        "embedding_model",
        "judge_model",
        "allow_paths",
        "temperature",
        "seed",
        "stop",
        "version",
        "bases",
        "builds",
        "digest",
        "manifest",
        "action",
        "built_at",
        "output",
        "promotions",
        "entries",
    ]
) | st.text(max_size=6)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)
_YAML_SPLICES = [
    "&a ",
    "*a",
    "!!python/object/apply:os.system ['true']",
    "<<: *a\n",
    "---\n",
    "[" * 70,
    "{",
    ": ",
    "- ",
    "\t",
    "\x00",
    "%YAML 1.1\n",
    "? ",
    "!!binary AAAA",
    "!custom ",
    "'",
    '"',
    "|\n",
    ">-\n",
    "#",
    "\ufeff",
    "…",
]


def _mutate(draw: st.DrawFn, text: str, splices: list[str]) -> str:
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        choice = draw(st.integers(0, 2))
        if choice == 0:
            text = text[:at]  # truncated
        elif choice == 1:
            text = text[:at] + draw(st.sampled_from(splices)) + text[at:]
        else:
            text = text[:at] + draw(st.text(max_size=4)) + text[at:]
    return text


@st.composite
def _yaml_text(draw: st.DrawFn, top: st.SearchStrategy[Any]) -> bytes:
    import yaml

    value = draw(top)
    try:
        text = yaml.safe_dump(value, default_flow_style=draw(st.booleans()), allow_unicode=True)
    except (ValueError, yaml.YAMLError):
        text = ""
    return _mutate(draw, text, _YAML_SPLICES).encode("utf-8", "surrogatepass")


@st.composite
def _json_text(draw: st.DrawFn, top: st.SearchStrategy[Any]) -> bytes:
    text = json.dumps(draw(top), indent=draw(st.sampled_from([None, 1])))
    return _mutate(draw, text, ["[" * 50, "{", '"', "NaN", "1" * 40, "\x00", ",", "}"]).encode(
        "utf-8", "surrogatepass"
    )


def _shaped(keys: list[str]) -> st.SearchStrategy[Any]:
    """A mapping with some of `keys` (the real file's), values of any shape."""
    return st.dictionaries(st.sampled_from(keys), _VALUES, max_size=len(keys)) | _VALUES


_CASE = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=8),
        "prompt": st.text(max_size=10),
        "assert": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(
                        [
                            "contains",
                            "icontains",
                            "regex",
                            "is-json",
                            "json-schema",
                            "min-length",
                            "max-latency-ms",
                            "similar",
                            "llm-judge",
                            "baseline",
                            "equals",
                            "contains-any",
                        ]
                    ),
                    "value": _SCALARS,
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={
        "samples": st.integers(-2, 2000),
        "pass_rate": st.floats(),
        "options": st.dictionaries(
            st.sampled_from(["temperature", "seed", "stop", "num_ctx", "x"]), _SCALARS
        ),
        "format": st.sampled_from(["json", "xml"]) | st.dictionaries(_KEYS, _VALUES),
    },
)
_SUITE = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["base", "expert", "nope", "-x"]) | _SCALARS,
        "cases": st.lists(_CASE, max_size=3) | _VALUES,
    },
    optional={"inherit": _SCALARS, "options": st.dictionaries(_KEYS, _SCALARS)},
)
_CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "models": st.dictionaries(
            st.sampled_from(["base", "a..b", "-x", "team/bot", "B"]),
            _shaped(["modelfile", "description", "tests"]),
        ),
        "defaults": _shaped(["host", "jobs", "candidate_tag", "embedding_model", "judge_model"]),
        "allow_paths": _VALUES,
    },
)
_LOCK = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 2, "1"]) | _SCALARS,
        "bases": st.dictionaries(st.text(max_size=12), _SCALARS),
    }
)
_STATE = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 2]) | _SCALARS,
        "builds": st.dictionaries(
            st.text(max_size=10), _shaped(["digest", "manifest", "action", "built_at"])
        )
        | _VALUES,
    },
    optional={"host": _SCALARS, "promotions": _VALUES},
)
_BASELINE = _shaped(["version", "output", "server_version", "model_manifest", "target"])

_RAW = st.binary(max_size=200)

STRATEGIES: dict[str, st.SearchStrategy[bytes]] = {
    "modelfile": _modelfile_text() | _RAW,
    "yaml": _yaml_text(_VALUES) | _RAW,
    "config": _yaml_text(_CONFIG) | _RAW,
    "suite": _yaml_text(_SUITE) | _RAW,
    "lock": _json_text(_LOCK) | _RAW,
    "state": _json_text(_STATE) | _RAW,
    "baseline": _json_text(_BASELINE) | _RAW,
}


def fuzz(name: str, examples: int) -> int:
    """Feed one target `examples` generated inputs; return how many ran. A finding (an
    exception other than the target's typed errors) propagates with hypothesis' shrinking.
    Shared by the test run and `benchmarks/fuzz.py`."""
    from hypothesis import HealthCheck, Phase, given, settings

    from tests.fuzz.targets import TARGETS, check

    target, seen = TARGETS[name], [0]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(STRATEGIES[name])
    def run(data: bytes) -> None:
        seen[0] += 1
        check(target, data)

    run()
    return seen[0]
