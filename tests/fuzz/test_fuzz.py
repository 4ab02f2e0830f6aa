"""Fuzzing the loaders of user-controlled text (tests/fuzz/targets.py): nothing escapes but
the typed errors, whatever the input.

Every run draws a short budget per target (`FUZZ_EXAMPLES`, default 250); the slow variant
draws `MFOPS_FUZZ_EXAMPLES` (default 5000). `python benchmarks/fuzz.py --examples N` runs
the same targets at any size and reports case counts and rates; it also drives atheris.
"""

from __future__ import annotations

import os

import pytest

from tests.fuzz.strategies import fuzz
from tests.fuzz.targets import TARGETS, check

SHORT = int(os.environ.get("FUZZ_EXAMPLES", "250"))
LONG = int(os.environ.get("MFOPS_FUZZ_EXAMPLES", "5000"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_short(name: str):
    assert fuzz(name, SHORT) >= SHORT // 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_long(name: str):
    assert fuzz(name, LONG) >= LONG // 2


SEEDS = {
    "modelfile": [
        b"",
        b"FROM",
        b'FROM x\nSYSTEM """',
        b"\xfe\xff\x00",
        b"\xef\xbb\xbf\xff",
        b"PARAMETER  temperature 1\nFROM x\n",
        b"FROM x\nPARAMETER stop\n",
        b"FROM x\nMESSAGE user\n",
        b'FROM x\r\nSYSTEM "a\r\nb"\r\n',
    ],
    "yaml": [b"", b"&a [*a]", b"!!python/name:os.system", b"[" * 10_000, b"a: !!binary x"],
    "config": [b"models:\n  x: {modelfile: ../y}\n", b"defaults: {jobs: .inf}\n"],
    "suite": [
        b"model: base\ncases: [{name: a, prompt: b, assert: [{type: regex, value: '(('}]}]",
        b"model: base\ncases: [{name: a, prompt: b, format: {type: 5}, assert: [{type: is-json}]}]",
    ],
    "lock": [b"", b"null", b"[" * 100_000, b'{"version": 1e999}', b'{"version": 1, "bases": []}'],
    "state": [b"{}", b'{"version": 1, "builds": {"a": {"digest": null}}}', b"\xff"],
    "baseline": [b"{}", b'{"version": 1, "output": "x"}', b"[" * 100_000],
}


@pytest.mark.parametrize(("name", "data"), [(n, d) for n, ds in SEEDS.items() for d in ds])
def test_seed_inputs(name: str, data: bytes):
    check(TARGETS[name], data)
