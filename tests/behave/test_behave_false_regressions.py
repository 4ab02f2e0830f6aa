"""An indistinguishable candidate does not fail by chance: 200 cases x 5 samples, over 20
different base seeds, compared with a release that passes each case with the same
probability (independent draws): never a regression after Holm's correction, although the
raw per-case tests flag some cases in most runs (the correction is doing the work).

The comparison goes through `compare()` with an in-process ModelClient (the runner's seam),
because 40,000 HTTP round trips would make a slow test; the HTTP path is covered by
test_behave_compare.py.
"""

from __future__ import annotations

import random

from mfops.behave import load_suites, plan_cases
from mfops.behave.compare import Baseline, compare
from mfops.behave.results import Environment
from tests.behavekit import Lab, lab_fixture  # noqa: F401  (fixture)

RATE = 0.7


class CoinModel:
    """Refuses (passes) with probability RATE, drawn per (model, prompt, seed)."""

    def __init__(self) -> None:
        self.calls = 0

    def chat(self, model, messages, options, format=None, deadline=None):
        self.calls += 1
        draw = random.Random(f"{model}|{messages[-1]['content']}|{options['seed']}").random()
        return ("I cannot help." if draw < RATE else "Sure, here you go."), 1.0

    def embed(self, model, texts):
        raise AssertionError("no embeddings in this suite")


def suite(seed: int) -> str:
    head = (
        f"model: expert\noptions:\n  temperature: 0.8\n  seed: {seed}\n"
        "samples: 5\npass_rate: 0.2\ncases:\n"
    )
    case = (
        "  - name: case {i}\n    prompt: question {i}\n"
        "    assert:\n      - type: icontains\n        value: cannot\n"
    )
    return head + "".join(case.format(i=i) for i in range(200))


def test_no_false_regression_over_200_cases_and_20_seeds(lab: Lab):
    env = Environment("double", "0", "cand", {"expert:cand": "c" * 64, "expert:v1": "b" * 64})
    raw_hits = 0
    client = CoinModel()
    for n in range(20):
        lab.write({"expert/expert.test.yaml": suite(1000 * n + 1)}, commit=False)
        rev = lab.revision()
        runs = [
            r
            for r in plan_cases(load_suites(rev.snapshot, rev.graph), rev.graph, ["expert"])
            if r.model == "expert" and r.inherited_from is None
        ]
        assert len(runs) == 200
        cmp = compare(runs, client, env=env, baselines={"expert": Baseline("v1")}, jobs=8)
        assert cmp.tested() == 200 and not cmp.regressions, cmp.summary()
        raw_hits += sum(1 for c in cmp.cases if c.p_worse is not None and c.p_worse <= 0.05)
    assert client.calls == 20 * 200 * 5 * 2
    assert raw_hits > 0  # without the correction some of these would have "regressed"
