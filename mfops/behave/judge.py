"""`llm-judge`: ask a judge model whether an output meets a rubric, as well-formed JSON.

The request uses Ollama's structured output (`format` = a JSON schema), so a capable model
answers `{"pass": bool, "score": 0..1, "reason": "..."}` and nothing else. The grading
instructions go in the user message, not a system message: the judge model keeps its own
SYSTEM (a team may build a dedicated judge with house rules). Greedy, seeded options make
the verdict reproducible, and therefore cacheable.

A reply that is not such an object is not a verdict: the assertion fails and says what the
judge sent. A score outside 0..1 is clamped, with a note, since judges asked for a fraction
sometimes answer on another scale.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mfops.behave.assertions import Verdict, show

if TYPE_CHECKING:
    from mfops.behave.client import ModelClient

JUDGE_OPTIONS = {"temperature": 0, "seed": 42}
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "pass": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": {"type": "string"},
    },
    "required": ["pass", "score", "reason"],
}

_PROMPT = """Grade the RESPONSE against the RUBRIC.
Reply with a JSON object with three fields: "pass" (true if the response meets the rubric,
otherwise false), "score" (a number from 0 to 1, how well it meets the rubric) and "reason"
(one sentence).

RUBRIC:
{rubric}

RESPONSE:
{output}
"""


def judge_messages(rubric: str, output: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": _PROMPT.format(rubric=rubric, output=output)}]


def parse_verdict(text: str) -> Verdict:
    """The verdict in a judge's reply; a failing Verdict that quotes it when malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("pass"), bool):
        return Verdict(False, 0.0, f"the judge did not answer with a verdict: {show(text)}")
    passed = data["pass"]
    score = data.get("score")
    note = None
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        score = 1.0 if passed else 0.0
    elif not 0.0 <= score <= 1.0:
        note = f"judge score {score:g} is outside 0..1, clamped"
        score = min(1.0, max(0.0, float(score)))
    reason = data.get("reason")
    reason = reason if isinstance(reason, str) and reason.strip() else "(no reason given)"
    reason = " ".join(reason.split())
    if len(reason) > 200:
        reason = reason[:199] + "…"
    return Verdict(passed, float(score), reason, note)


def ask_judge(client: ModelClient, model: str, rubric: str, output: str) -> Verdict:
    text, _ = client.chat(model, judge_messages(rubric, output), dict(JUDGE_OPTIONS), JUDGE_SCHEMA)
    return parse_verdict(text)
