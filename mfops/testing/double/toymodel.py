"""A deterministic toy language model whose behaviour follows its SYSTEM prompt.

mfops' behaviour suites ask "does this model still refuse X / still answer in JSON" after a
Modelfile change. Against a real model those suites pass or fail because of what SYSTEM,
MESSAGE and PARAMETER lines say; the toy model keeps exactly that causal link, cheaply and
reproducibly: change a SYSTEM line and the replies change for a reason a test can name.

Input: the conversation as Ollama builds it (the model's SYSTEM unless the request starts
with its own system message, then the model's MESSAGEs, then the request's messages), plus
the effective options (model PARAMETERs overridden per key by request options).

Rules are read from the text of all system messages, split into sentences (line breaks and
`.`, `!`, `?`, `;` followed by a blank; leading bullets like `-`, `*`, `1.` are ignored).
Matching is case-insensitive. Each sentence is tried against the rules below in this order
and the first rule that matches claims it:

1. Canned reply: `If (you are) asked about <topics>, say/reply/respond/answer ...`.
   When the last user message mentions a topic, the reply is the quoted text of the sentence
   (`"..."`), or without quotes the refusal `I'm sorry, but I cannot help with <topic>.`
2. Refusal: `Never|Do not|Don't|Must not|Should not|Refuse to|Decline to|Avoid` +
   `discuss|talk about|mention|answer questions about|help with|give advice on|...` +
   `<topics>`. Mentioning a topic gives `I'm sorry, but I cannot help with <topic>.`
   `... anything except/but/other than <topics>` turns it into rule 3.
3. Allow-list: `(You) (should/must/may/can/will) only discuss|talk about|answer questions
   about|help with <topics>`. A last user message that mentions none of the topics gets
   `I'm sorry, but I cannot help with that. I can only discuss <topics>.`
4. Persona: `You are <persona>` / `Your name is <name>`. Questions containing `who are you`,
   `what are you`, `your name` or `introduce yourself` get `I am <persona>.`
5. Rule compliance: `Follow|Obey these|the|your|all rules|instructions <N>% of the time`.
   Each reply, a draw (seeded like the variants below) decides whether the other rules
   (except the persona) are obeyed this time, for testing pass rates over `samples`.
6. JSON: a sentence mentioning `JSON` together with reply/respond/answer/output/return/
   format/write/only. The reply is a JSON object `{"answer": <text>}`, plus
   `"refused": true` for refusals. Request `format: "json"` does the same; a JSON-schema
   `format` gives an object with the schema's properties filled in by type.
7. Language: `(Always) answer|reply|respond|speak|write|talk in <language>` for French,
   Spanish, German, Italian, Portuguese, Dutch or English. The answer sentence is written in
   that language and starts with its greeting (`Bonjour !`, `¡Hola!`, `Hallo!`, `Ciao!`,
   `Olá!`, `Hallo!`). Refusals stay in English.
8. Case: `... in (all) caps|capital letters|uppercase|upper case` / `lowercase|lower case`.
9. Length: `Be brief|concise|terse`, `... in one sentence` keep only the answer sentence;
   `at most|no more than <N> words`, `in <N> words or fewer|less` cut to N words.
10. Prefix / suffix: `(Always) start|begin ... with "<X>"` and `(Always) end ... with "<X>"`.

Without a matching rule the reply is `<opener> Here is a short answer about <keywords>.
<detail> <closer>` where keywords are the content words of the last user message. Few-shot
MESSAGEs count too: if the last user message repeats an earlier user message of the
conversation (ignoring case and surrounding blanks), the assistant reply that followed it
is returned verbatim.

Sampling: with `temperature` 0 the reply is fixed (variant 0). With `temperature` > 0
(Ollama's default is 0.8) the opener, detail and closer are picked from 8 x 8 x 8 variants:
variant = (hash of the conversation + seed) mod 512 when `seed` is set (so seeds 1 and 2
always differ and equal seeds always agree), a fresh random draw when it is not. Languages
other than English vary only the greeting.

After that, `stop` strings cut the reply (`done_reason` stays `stop`) and `num_predict`
limits it to that many tokens (`done_reason` `length`). A token is a run of non-blanks with
the blanks before it.

Embeddings: bag of words with the hashing trick, `EMBED_DIM` (256) dimensions, a signed
bucket per lower-cased word (`[0-9a-z]+`, Unicode letters included), L2-normalised. Texts
that share words are closer in cosine similarity; empty text gives a zero vector.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from .rules import (
    LANGUAGES,
    Rules,
    asks_identity,
    join_words,
    keywords,
    mentions,
    parse_rules,
    words,
)

EMBED_DIM = 256
_SECURE = random.SystemRandom()

OPENERS = [
    "Sure.",
    "Certainly.",
    "Of course.",
    "Happy to help.",
    "Good question.",
    "Here is what I know.",
    "Let me explain.",
    "Gladly.",
]
DETAILS = [
    "The key idea is simple.",
    "It depends on the details.",
    "Start with the basics.",
    "There are a few points to consider.",
    "Most people find this straightforward.",
    "The short version is below.",
    "Think of it step by step.",
    "This comes up often.",
]
CLOSERS = [
    "I hope this helps.",
    "Let me know if you need more.",
    "That is the gist of it.",
    "Feel free to ask a follow-up.",
    "This should get you started.",
    "Ask again for more detail.",
    "That covers the basics.",
    "Good luck!",
]


@dataclass
class Reply:
    """What the toy model says, with the numbers Ollama reports about it."""

    text: str
    tokens: list[str]
    prompt_tokens: int
    done_reason: str


def conversation_hash(messages: list[dict[str, Any]]) -> int:
    raw = json.dumps(
        [[m.get("role", ""), m.get("content", "")] for m in messages], ensure_ascii=False
    )
    return int.from_bytes(hashlib.sha256(raw.encode()).digest()[:8], "big")


def variant_index(messages: list[dict[str, Any]], options: dict[str, Any]) -> int:
    """0 when greedy; seeded (hash + seed) mod 512; random when no seed is set."""
    temperature = options.get("temperature", 0.8)
    if not isinstance(temperature, (int, float)) or temperature <= 0:
        return 0
    seed = options.get("seed", -1)
    if isinstance(seed, (int, float)) and int(seed) != -1:
        return (conversation_hash(messages) + int(seed)) % 512
    return _SECURE.randrange(512)


def _rng(messages: list[dict[str, Any]], options: dict[str, Any]) -> random.Random:
    seed = options.get("seed", -1)
    temperature = options.get("temperature", 0.8)
    if isinstance(seed, (int, float)) and int(seed) != -1:
        return random.Random(f"{conversation_hash(messages)}:{int(seed)}")
    if isinstance(temperature, (int, float)) and temperature <= 0:
        return random.Random(conversation_hash(messages))
    return random.Random(_SECURE.random())


def compose(
    messages: list[dict[str, Any]],
    options: dict[str, Any],
    *,
    fmt: Any = None,
) -> Reply:
    """The reply to a conversation (already merged with the model's SYSTEM and MESSAGEs)."""
    system = "\n".join(m.get("content", "") for m in messages if m.get("role") == "system")
    rules = parse_rules(system)
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    question = messages[users[-1]].get("content", "") if users else ""
    obey = _rng(messages, options).random() * 100 < rules.compliance
    variant = variant_index(messages, options)
    json_mode = (rules.json and obey) or fmt == "json" or isinstance(fmt, dict)

    text, refused = _answer(
        rules if obey else Rules(persona=rules.persona), messages, users, question, variant
    )
    if not refused and obey:
        if rules.case == "upper":
            text = text.upper()
        elif rules.case == "lower":
            text = text.lower()
        if rules.max_words:
            text = " ".join(text.split()[: rules.max_words])
        text = " ".join(x for x in (rules.prefix, text, rules.suffix) if x)
    if json_mode:
        text = _as_json(text, refused, question, fmt)

    prompt_tokens = sum(len(m.get("content", "").split()) for m in messages) + len(messages)
    tokens = re.findall(r"\s*\S+", text) or [text]
    done_reason = "stop"
    stops = options.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
        tokens = re.findall(r"\s*\S+", text)
    limit = options.get("num_predict", -1)
    if isinstance(limit, (int, float)) and limit >= 0 and len(tokens) > int(limit):
        tokens = tokens[: int(limit)]
        text = "".join(tokens)
        done_reason = "length"
    return Reply(text, tokens, prompt_tokens, done_reason)


def _answer(
    rules: Rules, messages: list[dict[str, Any]], users: list[int], question: str, variant: int
) -> tuple[str, bool]:
    for topics, canned in rules.canned:
        for topic in topics:
            if mentions(question, topic):
                return canned or f"I'm sorry, but I cannot help with {topic}.", canned is None
    for topic in rules.refused:
        if mentions(question, topic):
            return f"I'm sorry, but I cannot help with {topic}.", True
    if rules.allowed and not any(mentions(question, t) for t in rules.allowed):
        allowed = join_words(rules.allowed)
        return f"I'm sorry, but I cannot help with that. I can only discuss {allowed}.", True
    if rules.persona and asks_identity(question):
        return f"I am {rules.persona}.", False
    wanted = question.strip().lower()
    for i in users[:-1]:
        later = messages[i + 1] if i + 1 < len(messages) else None
        if (
            messages[i].get("content", "").strip().lower() == wanted
            and later
            and later.get("role") == "assistant"
        ):
            return later.get("content", ""), False
    if not question.strip():
        return "How can I help you today?", False
    kw = join_words(keywords(question))
    greetings, body = LANGUAGES.get(rules.language or "english", LANGUAGES["english"])
    if rules.language and rules.language != "english":
        text = f"{greetings[variant % len(greetings)]} {body.format(kw=kw)}"
        return text, False
    body_text = body.format(kw=kw)
    if rules.brief:
        return body_text, False
    opener, detail, closer = (
        OPENERS[variant % 8],
        DETAILS[variant // 8 % 8],
        CLOSERS[variant // 64 % 8],
    )
    return f"{opener} {body_text} {detail} {closer}", False


def _as_json(text: str, refused: bool, question: str, fmt: Any) -> str:
    if isinstance(fmt, dict) and isinstance(fmt.get("properties"), dict):
        obj: dict[str, Any] = {}
        first_string = True
        for name, spec in fmt["properties"].items():
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind == "string":
                obj[name] = text if first_string else join_words(keywords(question))
                first_string = False
            elif kind == "integer":
                obj[name] = len(keywords(question))
            elif kind == "number":
                obj[name] = float(len(keywords(question)))
            elif kind == "boolean":
                obj[name] = not refused
            elif kind == "array":
                obj[name] = keywords(question)
            elif kind == "object":
                obj[name] = {}
            else:
                obj[name] = None
        return json.dumps(obj, ensure_ascii=False)
    obj = {"answer": text}
    if refused:
        obj["refused"] = True
    return json.dumps(obj, ensure_ascii=False)


def embed(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A signed bag-of-words vector (hashing trick), L2-normalised."""
    vec = [0.0] * dim
    for word in words(text):
        h = int.from_bytes(hashlib.md5(word.encode()).digest()[:8], "big")
        vec[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    return normalize(vec)


def normalize(vec: list[float]) -> list[float]:
    norm = max(sum(v * v for v in vec) ** 0.5, 1e-12)
    return [v / norm for v in vec]
