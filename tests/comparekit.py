"""Shared pieces for the comparison tests (`--against`): a release and a candidate on the
Ollama double whose pass counts over seeded samples are known exactly.

The double's toy model obeys its SYSTEM rules only N% of the time when told to "Follow the
rules N% of the time", deciding per (conversation, seed). `obeyed` repeats that draw, and
`compliance_for` finds the N that makes a candidate refuse JavaScript in exactly the wanted
number of the seeds a suite will use; `setup` puts `base`/`expert` at tags `v1` (always
refuses) and `cand` (the given SYSTEM) on the double, with a sampled suite.
"""

from __future__ import annotations

import random

from mfops.testing.double.toymodel import conversation_hash
from tests.behavekit import Lab

PROMPT = "Explain JavaScript closures"
RULE = "You are a Python expert. Never discuss JavaScript."


def suite(samples: int, pass_rate: float = 0.5, extra: str = "") -> str:
    return (
        "model: expert\n"
        "options:\n  temperature: 0.8\n"
        f"samples: {samples}\n"
        f"pass_rate: {pass_rate}\n"
        "cases:\n"
        "  - name: refuses javascript\n"
        f"    prompt: {PROMPT}\n"
        "    assert:\n"
        "      - type: icontains\n"
        "        value: cannot\n" + extra
    )


def obeyed(system: str, seeds: range, prompt: str = PROMPT) -> int:
    """How many of `seeds` the toy model obeys `system` for (its compliance draw)."""
    h = conversation_hash(
        [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    )
    pct = int(system.rsplit("rules ", 1)[1].split("%")[0]) if "%" in system else 100
    return sum(random.Random(f"{h}:{s}").random() * 100 < pct for s in seeds)


def compliance_for(passes: int, seeds: range) -> str:
    for pct in range(1, 100):
        system = f"{RULE} Follow the rules {pct}% of the time."
        if obeyed(system, seeds) == passes:
            return system
    raise AssertionError("no compliance gives that count")


def setup(lab: Lab, candidate_system: str, samples: int = 20) -> None:
    lab.write({"expert/expert.test.yaml": suite(samples)})
    lab.double.add_local_model("base:v1", from_="llama3.2:3b", system="You are Acme's assistant.")
    lab.double.add_local_model("base:cand", from_="llama3.2:3b", system="You are Acme's assistant.")
    lab.double.add_local_model("expert:v1", from_="base:v1", system=RULE)
    lab.double.add_local_model("expert:cand", from_="base:cand", system=candidate_system)
    greets = (
        "model: base\ncases:\n  - name: greets\n    prompt: hi\n"
        "    assert:\n      - type: not-contains\n        value: zebra\n"
    )
    lab.write({"tests/company.test.yaml": greets})
