"""Malformed `mfops.yaml`, `mfops.lock`, state, suite and baseline files: each is one line
naming `file:line`, exit 2, and nothing is written or sent to a model.

The files are wrong in the ways hand edits, merges, disk trouble and hostile pull requests
make them wrong: wrong types, truncated, binary, NUL bytes, huge, nested a hundred thousand
deep, numbers of five thousand digits, YAML alias bombs and Python tags (safe loading only:
nothing is ever constructed or executed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mfops.server.hosts import Host
from tests.buildkit import Workspace, make_workspace
from tests.buildkit import ollama_double_fixture as ollama_double  # noqa: F401

PWNED = "/tmp/mfops-badinput-pwned"


@pytest.fixture
def ws(tmp_path: Path, ollama_double) -> Workspace:  # noqa: F811
    return make_workspace(tmp_path, ollama_double)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def state_files(ws: Workspace) -> list[Path]:
    folder = ws.root / ".mfops"
    return sorted(folder.glob("*/state.json")) if folder.exists() else []


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


DEEP_JSON = "[" * 100_000
LONG_INT = "1" * 5000
YAML_BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n"
                    for i in range(9))  # fmt: skip

# --------------------------------------------------------------------------- mfops.yaml

CONFIG_CASES = {
    "alias bomb": (YAML_BOMB, "mfops.yaml:2: YAML aliases (*name) are not supported"),
    "python tag": ("models: !!python/object/apply:os.system ['touch " + PWNED + "']\n",
                   "mfops.yaml:1: unsupported YAML tag tag:yaml.org,2002:python/object/apply"),
    "python name": ("defaults:\n  host: !!python/name:os.system\n",
                    "mfops.yaml:2: unsupported YAML tag tag:yaml.org,2002:python/name:os.system"),
    "merge key": ("base: &b {jobs: 2}\ndefaults:\n  <<: *b\n", "mfops.yaml:3: YAML merge keys"),
    "deep": ("[" * 100_000, "mfops.yaml:1: nested more than 64 levels deep"),
    "huge": ("# " + "x" * (6 << 20) + "\n", "mfops.yaml: file is larger than 5 MB"),
    "truncated": ("models:\n  base: {modelfile: 'base/Modelf", "mfops.yaml:2: invalid YAML"),
    "binary": (b"\xff\xfe\x00\x00garbage", "mfops.yaml: not UTF-8 text"),
    "NUL": ("defaults:\n  jobs: 2\x00\n", "mfops.yaml:2: invalid YAML: unacceptable character "
            "#x0000"),
    "list at top": ("- models\n", "mfops.yaml:1: expected a mapping at the top level"),
    "models is a list": ("models: [1, 2]\n", "mfops.yaml:1: models: expected a mapping"),
    "jobs is a string": ("defaults:\n  jobs: many\n", "mfops.yaml:2: defaults.jobs: expected a "
                         "positive integer, got 'many'"),
    "jobs of 5000 digits": (f"defaults:\n  jobs: {LONG_INT}\n", "mfops.yaml:2: invalid int "
                            "value '1111111111111111111111111111111111111111...'"),
    "unknown key": ("defualts: {}\n", "mfops.yaml:1: defualts: unknown key"),
    "two documents": ("models: {}\n---\nmodels: {}\n", "mfops.yaml:2: expected one YAML "
                      "document"),
    "option-like model name": ("models:\n  --upload-pack=x: {modelfile: base/Modelfile}\n",
                               "mfops.yaml:2: models.--upload-pack=x: invalid model name"),
    "dotdot model name": ("models:\n  a..b: {modelfile: base/Modelfile}\n",
                          "mfops.yaml:2: models.a..b: invalid repo model name 'a..b': '..'"),
    "modelfile outside": ("models:\n  x: {modelfile: ../../etc/passwd}\n",
                          "mfops.yaml:2: models.x.modelfile: '../../etc/passwd' is outside"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), list(CONFIG_CASES.values()), ids=list(CONFIG_CASES))
def test_malformed_mfops_yaml(ws: Workspace, text: str | bytes, expected: str):
    write(ws.root / "mfops.yaml", text)
    for args in (("build", "--all"), ("ls",), ("lint",)):
        code, out, err = ws.mfops(*args)
        assert code == 2, (args, out, err)
        line = one_line(err)
        assert line.startswith(expected), (args, line)
    assert ws.double.calls.count("/api/create") == 0
    assert not state_files(ws)
    assert not os.path.exists(PWNED)


# --------------------------------------------------------------------------- mfops.lock

LOCK_CASES = {
    "deep": (DEEP_JSON, "mfops.lock:1: not valid JSON: nested too deeply"),
    "long number": ('{"version": ' + LONG_INT + "}", "mfops.lock:1: not valid JSON: a number "
                    "is too long"),
    "truncated": ('{\n "version": 1,\n "bases": {"llama3.2:3b": "sha256:', "mfops.lock:3: not "
                  "valid JSON"),
    "a list": ("[1, 2]", "mfops.lock:1: expected an object with keys 'version', 'bases' and "
               "optionally 'contents'"),
    "fingerprint of no base": ('{"version": 1, "bases": {},\n "contents": {"x:latest": "sha256:'
                               + "0" * 64 + '"}}', "mfops.lock:2: contents.x:latest: no such base "
                               "under 'bases'"),
    "fingerprint not a digest": ('{"version": 1,\n "bases": {"x:latest": "sha256:' + "0" * 64
                                 + '"},\n "contents": {"x:latest": "md5:1"}}', "mfops.lock:2: "
                                 "contents.x:latest: expected 'sha256:'"),
    "digest of the wrong type": ('{"version": 1,\n "bases": {"llama3.2:3b": 5}}',
                                 "mfops.lock:2: bases.llama3.2:3b: expected 'sha256:'"),
    "NUL": ("\x00\x00", "mfops.lock:1: not valid JSON"),
    "binary": (b"\xff\xfe\x00{", "mfops.lock: not UTF-8 text"),
    "version 99": ('{"version": 99, "bases": {}}', "mfops.lock:1: unsupported lock version 99"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), list(LOCK_CASES.values()), ids=list(LOCK_CASES))
def test_malformed_lock(ws: Workspace, text: str | bytes, expected: str):
    write(ws.root / "mfops.lock", text)
    before = (ws.root / "mfops.lock").read_bytes()
    for args in (("build", "--all"), ("lock",), ("status",), ("digest",)):
        code, out, err = ws.mfops(*args)
        assert code == 2, (args, out, err)
        assert one_line(err).startswith(expected), (args, err)
    assert (ws.root / "mfops.lock").read_bytes() == before  # not "repaired" behind the user
    assert ws.double.calls.count("/api/create") == 0
    assert not state_files(ws)


# --------------------------------------------------------------------------- state

STATE_CASES = {
    "deep": (DEEP_JSON, ":1: state is not valid JSON: nested too deeply"),
    "long number": ('{"version": ' + LONG_INT + "}", ":1: state is not valid JSON: a number is "
                    "too long"),
    "truncated": ('{"version": 1,\n "builds": {"a:b": {"digest": "sha', ":2: state is not "
                  "valid JSON"),
    "empty": ("", ":1: state is not valid JSON"),
    "binary": (b"\xff\xfe", ":1: state is not UTF-8 text"),
    "a list": ("[]", ":1: state must be a JSON object"),
    "builds is a list": ('{"version": 1,\n "builds": []}', ":2: state: 'builds' must be an "
                         "object"),
    "entry is a number": ('{"version": 1, "builds": {\n "x:1": 5}}', ":2: state: builds.x:1 "
                          "must be an object"),
    "bad digest": ('{"version": 1, "builds": {\n "x:1": {"digest": "md5:1", "manifest": "'
                   + "0" * 64 + '"}}}', ":2: state: builds.x:1.digest: expected 'sha256:'"),
    "version 2": ('{\n"version": 2}', ":2: unsupported state version 2"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), list(STATE_CASES.values()), ids=list(STATE_CASES))
def test_a_malformed_old_state_file_decides_nothing(ws: Workspace, text: str | bytes, expected):
    """`.mfops/` is a cache: build state comes from the server's content tags and release
    records from git, so a broken (or an old) `.mfops/<host>/state.json` is never read for
    them, never overwritten, and changes no answer."""
    ws.ok("build", "other")
    path = ws.root / ".mfops" / Host(ws.double.url).key / "state.json"
    write(path, text)
    ws.double.calls.reset()
    report = json.loads(ws.ok("build", "other", "--format", "json"))
    assert {m["action"] for m in report["models"]} == {"up to date"}
    assert ws.ok("history") == "no releases recorded (refs/mfops/history)\n"
    rows = json.loads(ws.ok("status", "--format", "json"))["models"]
    assert {r["model"]: r["status"] for r in rows}["other"] == "up to date"
    assert path.read_bytes() == (text.encode() if isinstance(text, str) else text)
    assert ws.double.calls.count("/api/create") == 0


# --------------------------------------------------------------------------- suites

SUITE = (
    "model: {model}\ncases:\n  - name: x\n    prompt: y\n"
    "    assert: [{{type: contains, value: a}}]\n"
)
SUITE_CASES = {
    "alias bomb": (YAML_BOMB, ":2: YAML aliases (*name) are not supported"),
    "python tag": ("model: !!python/object/apply:os.system ['touch " + PWNED + "']\n",
                   ":1: unsupported YAML tag"),
    "deep": ("[" * 200_000, ":1: nested more than 64 levels deep"),
    "huge": ("model: base\n# " + "x" * (6 << 20) + "\n", ": file is larger than 5 MB"),
    "truncated": ('model: base\ncases:\n  - name: x\n    prompt: "unterminated',
                  ":4: invalid YAML: a quoted string is not closed"),
    "binary": (b"\xff\xfe\x00model", ": not UTF-8 text"),
    "NUL": ("model: base\x00\n", ":1: invalid YAML: unacceptable character #x0000"),
    "model is a list": ("model: [base]\ncases: {}\n", ":1: model: expected a non-empty string"),
    "cases is a string": ("model: base\ncases: hello\n", ":2: cases: expected a non-empty list"),
    "samples of a billion": (SUITE.format(model="base").replace(
        "    prompt: y\n", "    prompt: y\n    samples: 1000000000\n"),
        ":5: cases[0].samples: expected at most 1000 samples"),
    "samples of 5000 digits": (SUITE.format(model="base").replace(
        "    prompt: y\n", f"    prompt: y\n    samples: {LONG_INT}\n"), ":5: invalid int value"),
    "infinite temperature": ("options: {temperature: .inf}\n" + SUITE.format(model="base"),
                             ":1: options.temperature: expected a finite number, got inf"),
    "seed beyond 64 bits": ("options: {seed: 99999999999999999999999}\n"
                            + SUITE.format(model="base"), ":1: options.seed: expected a 64-bit"),
    "NaN pass rate": (SUITE.format(model="base").replace(
        "    prompt: y\n", "    prompt: y\n    pass_rate: .nan\n"),
        ":5: cases[0].pass_rate: expected a number > 0 and <= 1, got nan"),
    "option-like model": (SUITE.format(model="--upload-pack=x"), ":1: model: unknown model"),
    "unknown assertion": (SUITE.format(model="base").replace("contains", "eval"),
                          ":5: cases[0].assert[0].type: unknown assertion"),
    "bad regex": (SUITE.format(model="base").replace("{type: contains, value: a}",
                                                     "{type: regex, value: '(('}"),
                  ":5: cases[0].assert[0].value: invalid regular expression"),
    "duplicate key": ("model: base\nmodel: base\n", ":2: duplicate key 'model'"),
}  # fmt: skip


@pytest.fixture
def lab(tmp_path: Path):
    from tests.behavekit import SEED_FILES, Lab, seeded_double
    from tests.gitrepo import GitRepo

    double = seeded_double()
    lab = Lab(GitRepo(tmp_path / "repo"), double)
    lab.write(SEED_FILES)
    lab.build("t1")
    double.calls.reset()
    try:
        yield lab
    finally:
        lab.close()
        double.stop()


@pytest.mark.parametrize(("text", "expected"), list(SUITE_CASES.values()), ids=list(SUITE_CASES))
def test_malformed_suite(lab, text: str | bytes, expected: str):
    write(lab.root / "tests" / "bad.test.yaml", text)
    for args in (("test", "--tag", "t1"), ("gate", "--all", "--candidate-tag", "t1")):
        code, out, err = lab.mfops(*args)
        assert code == 2, (args, out, err)
        line = one_line(err)
        assert f"tests/bad.test.yaml{expected}" in line, (args, line)
    assert lab.chats() == 0 and lab.double.calls.count("/api/create") == 0
    assert not list((lab.root / ".mfops").glob("*/test-cache.json"))
    assert not os.path.exists(PWNED)


# --------------------------------------------------------------------------- baselines, cache


BASELINE_SUITE = ("model: expert\ncases:\n  - name: tone\n    prompt: How do Python decorators "
                  "work?\n    assert:\n      - type: baseline\n")  # fmt: skip


@pytest.mark.parametrize("content", [DEEP_JSON, '{"version": ' + LONG_INT + "}", b"\xff\xfe",
                                     "[]", '{"version": 1, "output": 5}'])  # fmt: skip
def test_malformed_baseline_is_a_config_error_naming_the_file(lab, content):
    lab.write({"expert/tone.test.yaml": BASELINE_SUITE})
    write(lab.root / "expert" / "baselines" / "tone" / "expert" / "tone.json", content)
    code, out, err = lab.mfops("test", "expert", "--tag", "t1")
    text = out + err
    assert code in (1, 2), text
    assert "Traceback" not in text and "internal error" not in text
    assert "expert/baselines/tone/expert/tone.json" in text


@pytest.mark.parametrize("content", [DEEP_JSON, '{"version": ' + LONG_INT + "}", b"\xff\xfe",
                                     "[]", '{"version": 1, "entries": []}'])  # fmt: skip
def test_a_corrupt_test_cache_is_ignored_and_rewritten(lab, content):
    """The cache is disposable: a broken one costs model calls, never a wrong result."""
    assert lab.mfops("test", "--tag", "t1")[0] == 0
    [cache] = list((lab.root / ".mfops").glob("*/test-cache.json"))
    write(cache, content)
    lab.double.calls.reset()
    code, out, err = lab.mfops("test", "--tag", "t1")
    assert code == 0, out + err
    assert lab.chats() > 0
    assert json.loads(cache.read_text())["entries"]
