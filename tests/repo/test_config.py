"""mfops.yaml validation (mfops.repo.config) and the one YAML loader (mfops.fileio.yamlfile).

Error texts are asserted exactly: `mfops.yaml:LINE: key.path: message` is the contract.
"""

from __future__ import annotations

import pytest

from mfops.errors import ConfigError
from mfops.fileio.yamlfile import MAX_DEPTH, LineMap, load_yaml
from mfops.repo.config import Config, Defaults, ModelConfig, load_config

FULL = """\
# The company hierarchy.
models:
  engine-bot:
    modelfile: BaseBot
    description: Company base assistant.
    tests: [suites/base.yaml, suites/safety.yaml]
  team/helper:
    modelfile: ./helpers/../helpers/helper.Modelfile
defaults:
  host: http://gpu-box:11434
  candidate_tag: "rc-{short}"
  jobs: 8
  embedding_model: nomic-embed-text
  judge_model: llama3.2:3b
allow_paths:
  - /data/weights
  - ../shared
"""


def test_full_config():
    config = load_config(FULL, "mfops.yaml")
    assert config.models == {
        "engine-bot": ModelConfig(
            name="engine-bot",
            modelfile="BaseBot",
            description="Company base assistant.",
            tests=("suites/base.yaml", "suites/safety.yaml"),
            line=3,
            modelfile_line=4,
        ),
        "team/helper": ModelConfig(
            name="team/helper",
            modelfile="helpers/helper.Modelfile",
            line=7,
            modelfile_line=8,
        ),
    }
    assert config.defaults == Defaults(
        host="http://gpu-box:11434",
        candidate_tag="rc-{short}",
        jobs=8,
        embedding_model="nomic-embed-text",
        judge_model="llama3.2:3b",
    )
    assert config.allow_paths == ("/data/weights", "../shared")
    assert config.path == "mfops.yaml"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "models:\n", "models: {}\ndefaults:\n"])
def test_empty_configs(text):
    config = load_config(text, "mfops.yaml")
    assert config == Config(path="mfops.yaml")
    assert config.defaults == Defaults(None, "sha-{short}", 4, None, None)


def test_models_are_sorted_by_name():
    config = load_config("models:\n  zed: {modelfile: z}\n  alpha: {modelfile: a}\n", "m.yaml")
    assert list(config.models) == ["alpha", "zed"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "models:\n  engine-bot:\n    modelfile: BaseBot\n    tests: base.yaml\n",
            "mfops.yaml:4: models.engine-bot.tests: expected a list of strings, got a string",
        ),
        (
            "models:\n  engine-bot:\n    modelfile: BaseBot\n    tests:\n"
            "      - a.yaml\n      - 3\n",
            "mfops.yaml:6: models.engine-bot.tests[1]: expected a non-empty string, got an integer",
        ),
        (
            "modles:\n  x: {modelfile: x}\n",
            "mfops.yaml:1: modles: unknown key (expected one of: allow_paths, defaults, environments, models)"
            " (did you mean 'models'?)",
        ),
        (
            "models:\n  x:\n    modelfile: x\n    descripton: hi\n",
            "mfops.yaml:4: models.x.descripton: unknown key (expected one of: description, "
            "modelfile, tests) (did you mean 'description'?)",
        ),
        (
            "models:\n  x:\n    description: no file\n",
            "mfops.yaml:2: models.x: missing required key 'modelfile'",
        ),
        (
            "models:\n  x: x.Modelfile\n",
            "mfops.yaml:2: models.x: expected a mapping, got a string (write `x: {modelfile: "
            "x.Modelfile}`)",
        ),
        (
            "models:\n  - x\n",
            "mfops.yaml:1: models: expected a mapping of model names, got a list",
        ),
        (
            "models:\n  x:\n    modelfile: 12\n",
            "mfops.yaml:3: models.x.modelfile: expected a non-empty string, got an integer",
        ),
        (
            "models:\n  x:\n    modelfile: ''\n",
            "mfops.yaml:3: models.x.modelfile: expected a non-empty string, got a string",
        ),
        (
            "models:\n  x:\n    modelfile: ../other/Modelfile\n",
            "mfops.yaml:3: models.x.modelfile: '../other/Modelfile' is outside the mfops root; "
            "Modelfiles must live in the repo",
        ),
        (
            "models:\n  x:\n    modelfile: /abs/Modelfile\n",
            "mfops.yaml:3: models.x.modelfile: '/abs/Modelfile' is outside the mfops root; "
            "Modelfiles must live in the repo",
        ),
        (
            "models:\n  x:\n    modelfile: a\n    description: [1]\n",
            "mfops.yaml:4: models.x.description: expected a non-empty string, got a list",
        ),
        (
            "models:\n  bot:v1:\n    modelfile: a\n",
            "mfops.yaml:2: models.bot:v1: invalid repo model name 'bot:v1': no tag allowed "
            "(tags come from builds, e.g. `mfops build --tag v1`)",
        ),
        (
            "models:\n  my bot:\n    modelfile: a\n",
            "mfops.yaml:2: models.my bot: invalid model name 'my bot': model 'my bot' may only "
            "contain letters, digits, '_', '-' and '.'",
        ),
        (
            "models:\n  host/ns/bot:\n    modelfile: a\n",
            "mfops.yaml:2: models.host/ns/bot: invalid repo model name 'host/ns/bot': expected "
            "[namespace/]model without a host",
        ),
        (
            "models:\n  12:\n    modelfile: a\n",
            "mfops.yaml:2: models.12: model names must be strings, got an integer",
        ),
        (
            "models:\n  Bot: {modelfile: a}\n  bot: {modelfile: b}\n",
            "mfops.yaml:3: models.bot: 'bot' and 'Bot' are the same model name to Ollama "
            "(case-insensitive)",
        ),
        (
            "defaults:\n  jobs: 0\n",
            "mfops.yaml:2: defaults.jobs: expected a positive integer, got 0",
        ),
        (
            "defaults:\n  jobs: yes\n",
            "mfops.yaml:2: defaults.jobs: expected a positive integer, got True",
        ),
        (
            "defaults:\n  jobs: '4'\n",
            "mfops.yaml:2: defaults.jobs: expected a positive integer, got '4'",
        ),
        (
            "defaults:\n  judge_model: llama3.2@sha256:1\n",
            "mfops.yaml:2: defaults.judge_model: invalid model name 'llama3.2@sha256:1': '@' is "
            "not allowed (Ollama does not accept digest references)",
        ),
        (
            "defaults:\n  hots: x\n",
            "mfops.yaml:2: defaults.hots: unknown key (expected one of: candidate_tag, "
            "embedding_model, host, hosts, insecure_registries, jobs, judge_model, registry) "
            "(did you mean 'hosts'?)",
        ),
        (
            "defaults: fast\n",
            "mfops.yaml:1: defaults: expected a mapping, got a string",
        ),
        (
            "allow_paths: /data\n",
            "mfops.yaml:1: allow_paths: expected a list of strings, got a string",
        ),
        (
            "allow_paths:\n  - /data\n  - {x: 1}\n",
            "mfops.yaml:3: allow_paths[1]: expected a non-empty string, got a mapping",
        ),
        (
            "- models\n",
            "mfops.yaml:1: expected a mapping at the top level (models:, defaults:, "
            "environments:, ...), got a list",
        ),
        (
            "environments:\n  prod: {hosts: []}\n",
            "mfops.yaml:2: environments.prod.hosts: expected at least one host",
        ),
        (
            "environments:\n  Prod: {hosts: [a]}\n",
            "mfops.yaml:2: environments.Prod: environment names are lowercase letters, digits, "
            "'-' and '_', got 'Prod'",
        ),
        (
            "environments:\n  prod:\n    hosts: [a, a]\n",
            "mfops.yaml:3: environments.prod.hosts: a host is listed twice",
        ),
        (
            "environments:\n  prod: {hostz: [a]}\n",
            "mfops.yaml:2: environments.prod.hostz: unknown key (expected one of: description, "
            "hosts) (did you mean 'hosts'?)",
        ),
        (
            "defaults:\n  hosts: [a, b, a]\n",
            "mfops.yaml:2: defaults.hosts: a host is listed twice",
        ),
    ],
)
def test_config_errors(text, message):
    with pytest.raises(ConfigError) as err:
        load_config(text, "mfops.yaml")
    assert str(err.value) == message
    assert err.value.path == "mfops.yaml"
    assert err.value.line == int(message.split(":")[1])


def test_error_path_is_the_given_display_path():
    with pytest.raises(ConfigError) as err:
        load_config("models: 3\n", "v1.0:mfops.yaml")
    assert (
        str(err.value)
        == "v1.0:mfops.yaml:1: models: expected a mapping of model names, got an integer"
    )


# --------------------------------------------------------------------------- the YAML loader


def test_load_yaml_values_and_lines():
    text = "a: 1\nb: [x, 2.5, null, true]\nc:\n  d: e\n  f:\n    - g\n    - {h: 2024-01-02}\n"
    data, lines = load_yaml(text, "f.yaml")
    assert data == {
        "a": 1,
        "b": ["x", 2.5, None, True],
        "c": {"d": "e", "f": ["g", {"h": __import__("datetime").date(2024, 1, 2)}]},
    }
    assert lines.get(("a",)) == 1
    assert lines.get(("b", 3)) == 2
    assert lines.get(("c",)) == 3
    assert lines.get(("c", "d")) == 4
    assert lines.get(("c", "f", 0)) == 6
    assert lines.get(("c", "f", 1, "h")) == 7
    assert lines.line("c", "f", 1, "nope") == 7  # nearest known ancestor
    assert lines.line("zzz") == 1
    assert LineMap().line("x") == 1


def test_quoted_scalars_stay_strings():
    data, _ = load_yaml("a: '1'\nb: \"true\"\nc: !!str 3\nd: ~\n", "f.yaml")
    assert data == {"a": "1", "b": "true", "c": "3", "d": None}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x [1, 2]\nb: *x\n", "f.yaml:2: YAML aliases (*name) are not supported"),
        ("base: &b {x: 1}\nchild:\n  <<: *b\n", "f.yaml:3: YAML merge keys (<<) are not supported"),
        ("a: {x: 1}\nb:\n  <<: {y: 2}\n", "f.yaml:3: YAML merge keys (<<) are not supported"),
        ("a: 1\nb: 2\na: 3\n", "f.yaml:3: duplicate key 'a' (first at line 1)"),
        ("? [1, 2]\n: x\n", "f.yaml:1: a mapping key must be a plain value, not a collection"),
        ("a: !!python/object/apply:os.system [ls]\n",
         "f.yaml:1: unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system"),
        ("a: !custom x\n", "f.yaml:1: unsupported YAML tag !custom"),
        ("a: !!set {x}\n", "f.yaml:1: unsupported YAML tag tag:yaml.org,2002:set"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2: expected one YAML document, found several"),
        # Syntax errors in mfops' words: libyaml and pure-Python PyYAML word them differently.
        ("a:\n  b: 1\n c: 2\n",
         "f.yaml:3: invalid YAML: unexpected text or bad indentation in a mapping"),
        ("a: [1, 2\nb: 3\n",
         "f.yaml:2: invalid YAML: a [ list is not closed, or its items are not separated by ','"),
        ("a: {b: 1\n",
         "f.yaml:2: invalid YAML: a { mapping is not closed, or its items are not separated by "
         "','"),
        ("a: 'unterminated\n", "f.yaml:2: invalid YAML: a quoted string is not closed"),
        ("a:\tb\n\t- c\n",
         "f.yaml:2: invalid YAML: a tab character indents a line (indent with spaces)"),
        ("a: b: c\n", "f.yaml:1: invalid YAML: unexpected ':' in a value (quote values that "
         "contain ': ')"),
        ("a: \"\\q\"\n",
         "f.yaml:1: invalid YAML: invalid escape sequence in a double-quoted string"),
        ("model: base\ncases: [\n",
         "f.yaml:3: invalid YAML: a value is missing inside a [ list or { mapping"),
        ("a: 1\x00\n", "f.yaml:1: invalid YAML: unacceptable character #x0000"),
    ],
)  # fmt: skip
def test_load_yaml_errors(text, message):
    with pytest.raises(ConfigError) as err:
        load_yaml(text, "f.yaml")
    assert str(err.value) == message


def test_alias_bomb_is_refused_quickly():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    with pytest.raises(ConfigError, match="aliases"):
        load_yaml("\n".join(lines) + "\n", "f.yaml")


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_deep_nesting_is_refused_without_crashing(opening):
    # libyaml's own composer recurses in C: a few hundred thousand '[' crash the interpreter.
    # Newer libyaml refuses deep nesting itself; the message is mfops' either way.
    text = opening * 300_000
    with pytest.raises(ConfigError) as err:
        load_yaml(text, "f.yaml")
    assert str(err.value) == f"f.yaml:1: nested more than {MAX_DEPTH} levels deep"


@pytest.mark.parametrize(
    "error",
    [
        "exceeded maximum nesting depth",
        "document too deep",
    ],
)
def test_a_parsers_own_depth_limit_reads_as_mfops_limit(monkeypatch, error):
    """Whichever layer notices deep nesting first, the message is mfops' own."""
    import yaml

    from mfops.fileio import yamlfile as yamlload

    class Refusing(yaml.SafeLoader):
        def check_event(self, *choices):
            raise yaml.parser.ParserError(None, None, error, self.get_mark())

    monkeypatch.setattr(yamlload, "_loader_class", lambda: Refusing)
    with pytest.raises(ConfigError) as err:
        load_yaml("a: 1\n", "f.yaml")
    assert str(err.value) == f"f.yaml:1: nested more than {MAX_DEPTH} levels deep"


def test_a_parser_that_recurses_too_deep_reads_as_mfops_limit(monkeypatch):
    import yaml

    from mfops.fileio import yamlfile as yamlload

    class Recursing(yaml.SafeLoader):
        def check_event(self, *choices):
            raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(yamlload, "_loader_class", lambda: Recursing)
    with pytest.raises(ConfigError) as err:
        load_yaml("a: 1\n", "f.yaml")
    assert str(err.value) == f"f.yaml: nested more than {MAX_DEPTH} levels deep"


def test_nesting_up_to_the_limit_is_fine():
    data, _ = load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "f.yaml")
    depth = 0
    while isinstance(data, list) and data:
        data = data[0]
        depth += 1
    assert depth == MAX_DEPTH - 1


def test_documents_over_5_mb_are_refused():
    text = "a: " + "x" * (5 * 1024 * 1024) + "\n"
    with pytest.raises(ConfigError) as err:
        load_yaml(text, "big.yaml")
    assert str(err.value) == "big.yaml: file is larger than 5 MB"


def test_size_counts_bytes_not_characters():
    text = "a: " + "é" * (3 * 1024 * 1024) + "\n"  # 3 Mi characters, 6 MiB of UTF-8
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        load_yaml(text, "big.yaml")


def test_environments_and_a_host_pool_are_read():
    config = load_config(
        "defaults:\n  hosts: [http://a:1, http://b:2]\n"
        "environments:\n  prod:\n    hosts: [g1:11434, g2:11434]\n    description: GPUs\n"
        "  staging: {hosts: [s1]}\n",
        "mfops.yaml",
    )
    assert config.defaults.hosts == ("http://a:1", "http://b:2")
    assert list(config.environments) == ["prod", "staging"]
    prod = config.environments["prod"]
    assert prod.hosts == ("g1:11434", "g2:11434") and prod.description == "GPUs"
    assert prod.line == 4
