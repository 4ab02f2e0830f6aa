"""Reading a system prompt into `Rules` for the toy model (the grammar is in toymodel.py).

Kept apart from `toymodel.py` so the sentence patterns can grow without burying how a reply
is put together. Everything matches case-insensitively on whole words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Words that never count as keywords of a question.
STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        """
    a about above after again all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more
    most my no nor not now of off on once only or other our out over own please same she
    should so some such tell than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours yourself explain give show describe know want need like
    get make let use say ok hi hello hey
""",
    )
)

LANGUAGES: dict[str, tuple[list[str], str]] = {
    "english": (["Hello!", "Hi!", "Hey!", "Greetings!"], "Here is a short answer about {kw}."),
    "french": (
        ["Bonjour !", "Salut !", "Bonjour,", "Bien sûr !"],
        "Voici une réponse courte sur {kw}.",
    ),
    "spanish": (
        ["¡Hola!", "¡Claro!", "Hola,", "¡Por supuesto!"],
        "Aquí tienes una respuesta corta sobre {kw}.",
    ),
    "german": (
        ["Hallo!", "Guten Tag!", "Hallo,", "Gerne!"],
        "Hier ist eine kurze Antwort zu {kw}.",
    ),
    "italian": (["Ciao!", "Certo!", "Ciao,", "Buongiorno!"], "Ecco una breve risposta su {kw}."),
    "portuguese": (
        ["Olá!", "Claro!", "Olá,", "Bom dia!"],
        "Aqui está uma resposta curta sobre {kw}.",
    ),
    "dutch": (["Hallo!", "Goedendag!", "Hallo,", "Zeker!"], "Hier is een kort antwoord over {kw}."),
}

_Q = "\"“”'‘’"
_QUOTED = re.compile(rf"[{_Q}]([^{_Q}]+)[{_Q}]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_VERBS = (
    r"discuss|talk about|talk of|mention|answer questions about|answer questions on|"
    r"help with|give advice on|give advice about|provide information about|"
    r"provide information on|chat about|speak about|comment on|engage with|engage in"
)
_CANNED = re.compile(
    r"^if (?:you are |you're |you get )?(?:the user )?(?:asks? |asked )(?:you )?(?:about |for )"
    r"(?P<topics>.+?)\s*(?:,|\bthen\b)\s*(?P<action>.*)$"
)
_REFUSE = re.compile(
    r"^(?:you )?(?:should |must |will |shall )?(?:never|do not|don't|must not|mustn't|"
    r"should not|shouldn't|will not|won't|refuse to|decline to|avoid)\s+(?:ever\s+)?"
    rf"(?:{_VERBS})\s+(?P<topics>.+)$"
)
_ALLOW = re.compile(
    r"^(?:you )?(?:should |must |may |can |will )?only (?:ever )?"
    rf"(?:{_VERBS}|respond to questions about|reply to questions about)\s+(?P<topics>.+)$"
)
_EXCEPT = re.compile(
    r"^(?:anything|any topic|any subject|topics)\s+(?:except|but|other than|besides)\s+(.+)$"
)
_PERSONA = re.compile(r"^(?:you are|you're|your name is)\s+(?P<who>.+)$", re.IGNORECASE)
_COMPLY = re.compile(
    r"(?:follow|obey) (?:these|the|your|all|all the|my) (?:rules|instructions) "
    r"(\d{1,3})\s*% of the time"
)
_JSON = re.compile(r"\bjson\b")
_JSON_VERB = re.compile(
    r"\b(?:reply|replies|respond|responses?|answers?|output|return|format|write|only)\b"
)
_LANG = re.compile(
    r"\b(?:answer|reply|respond|speak|write|talk|responses?|replies)\b.*\bin\s+(?:"
    + "|".join(LANGUAGES)
    + r")\b"
)
_UPPER = re.compile(r"\b(?:all caps|in caps|capital letters|uppercase|upper case|upper-case)\b")
_LOWER = re.compile(r"\b(?:lowercase|lower case|lower-case|small letters)\b")
_BRIEF = re.compile(r"^(?:be )?(?:brief|concise|terse|succinct)\b|\bin (?:one|a single) sentence\b")
_MAXWORDS = re.compile(
    r"\b(?:at most|no more than|maximum of|max)\s+(\d+)\s+words\b"
    r"|\bin (\d+) words or (?:fewer|less)\b"
)
_PREFIX = re.compile(rf"\b(?:start|begin)\b.*?\bwith\s+[{_Q}](?P<x>[^{_Q}]+)[{_Q}]")
_SUFFIX = re.compile(rf"\bend\b.*?\bwith\s+[{_Q}](?P<x>[^{_Q}]+)[{_Q}]")
_IDENTITY = re.compile(r"\b(?:who are you|what are you|your name|introduce yourself)\b")


@dataclass
class Rules:
    """What the system prompt asks for; see the module docstring."""

    canned: list[tuple[list[str], str | None]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    persona: str = ""
    compliance: int = 100
    json: bool = False
    language: str = ""
    case: str = ""
    brief: bool = False
    max_words: int = 0
    prefix: str = ""
    suffix: str = ""


def split_sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        for part in re.split(r"(?<=[.!?;])\s+", line):
            part = re.sub(r"^\s*(?:[-*•]+|\d+[.)])\s*", "", part).strip()
            if part:
                out.append(part)
    return out


def split_topics(text: str) -> list[str]:
    text = re.sub(rf"[{_Q}]", "", text)
    text = text.strip().rstrip(".!?;:")
    text = re.sub(
        r"^(?:any|anything|the topic of|topics like|topics such as|questions about|about)\s+",
        "",
        text,
    )
    topics = []
    for part in re.split(r",|/|\bor\b|\band\b|\bnor\b", text):
        part = re.sub(r"^(?:the|any|anything about|a|an|topics? like)\s+", "", part.strip()).strip()
        if part:
            topics.append(part)
    return topics


def parse_rules(system: str) -> Rules:
    """Read the rules (module docstring) out of a system prompt."""
    rules = Rules()
    for sentence in split_sentences(system):
        s = sentence.lower()
        if m := _CANNED.match(s):
            quoted = _QUOTED.search(sentence[m.start("action") :])
            rules.canned.append(
                (split_topics(m.group("topics")), quoted.group(1) if quoted else None)
            )
        elif m := _REFUSE.match(s):
            topics = m.group("topics").strip()
            if ex := _EXCEPT.match(topics):
                rules.allowed.extend(split_topics(ex.group(1)))
            else:
                rules.refused.extend(split_topics(topics))
        elif m := _ALLOW.match(s):
            rules.allowed.extend(split_topics(m.group("topics")))
        elif m := _COMPLY.search(s):
            rules.compliance = max(0, min(100, int(m.group(1))))
        elif _JSON.search(s) and _JSON_VERB.search(s):
            rules.json = True
        elif m := _LANG.search(s):
            rules.language = next(lang for lang in LANGUAGES if re.search(rf"\bin\s+{lang}\b", s))
        elif _UPPER.search(s) and re.search(r"\b(?:reply|respond|answer|write|speak|use)\b", s):
            rules.case = "upper"
        elif _LOWER.search(s) and re.search(r"\b(?:reply|respond|answer|write|speak|use)\b", s):
            rules.case = "lower"
        elif _BRIEF.search(s):
            rules.brief = True
        elif m := _MAXWORDS.search(s):
            rules.max_words = int(m.group(1) or m.group(2))
        elif m := _PREFIX.search(s):
            rules.prefix = _original_quote(sentence, m.start("x") - 1, m.group("x"))
        elif m := _SUFFIX.search(s):
            rules.suffix = _original_quote(sentence, m.start("x") - 1, m.group("x"))
        elif m := _PERSONA.match(sentence):
            rules.persona = m.group("who").strip().rstrip(".!")
    return rules


def _original_quote(sentence: str, start: int, fallback: str) -> str:
    """The quoted text with its original case (the rule was matched on a lower-cased copy)."""
    found = _QUOTED.search(sentence[start:])
    return found.group(1) if found else fallback


def mentions(text: str, topic: str) -> bool:
    """Whole-word, case-insensitive phrase match; a plural `s`/`es` also counts."""
    words = [re.escape(w) for w in topic.lower().split()]
    if not words:
        return False
    pattern = r"\b" + r"\s+".join(words) + r"(?:s|es)?\b"
    return re.search(pattern, text.lower()) is not None


def keywords(text: str, limit: int = 5) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or len(word) < 3 or word in out:
            continue
        out.append(word)
        if len(out) == limit:
            break
    return out


def join_words(words: list[str]) -> str:
    if not words:
        return "your question"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits, any script): the unit of the embeddings."""
    return _WORD.findall(text.lower())


def asks_identity(text: str) -> bool:
    """Whether a question asks the model who or what it is (the persona rule)."""
    return _IDENTITY.search(text.lower()) is not None
