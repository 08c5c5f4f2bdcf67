"""The shapes of the zoo's word lists and the parsers of their compact text form (lexicon.py holds the words).

Entries are "|"-separated strings; aspect and question-topic blocks are head lines followed by
lines "<sign> entry|entry|...". Parsing happens once, when lexicon.py is imported. No words here,
no sampling, no labels.
"""

from dataclasses import dataclass


def split_entries(entries: str) -> tuple[str, ...]:
    """"a|b | c" -> ("a", "b", "c")."""
    return tuple(entry.strip() for entry in entries.split("|"))


@dataclass(frozen=True)
class Aspect:
    """One reviewable aspect; `plural` picks "were" over "was"."""

    name: str
    plural: bool
    pos: tuple[str, ...]
    neg: tuple[str, ...]
    pos_details: tuple[str, ...]
    neg_details: tuple[str, ...]


def _blocks(block: str, signs: tuple[str, ...]) -> dict[str, dict[str, list[str]]]:
    """Parse head lines, each followed by lines "<sign> entry|entry|..." (signs may repeat)."""
    parsed: dict[str, dict[str, list[str]]] = {}
    head = ""
    for line in block.strip().splitlines():
        sign, _, rest = line.partition(" ")
        if sign in signs:
            parsed[head][sign].extend(split_entries(rest))
        else:
            head = line
            parsed[head] = {key: [] for key in signs}
    return parsed


def parse_aspects(block: str) -> tuple[Aspect, ...]:
    """Aspects from "name [was|were]: pos|... / neg|..." heads with "+" and "-" detail lines."""
    aspects = []
    for head, details in _blocks(block, ("+", "-")).items():
        name, _, rest = head.partition(" [")
        verb, _, adjectives = rest.partition("]: ")
        pos, _, neg = adjectives.partition(" / ")
        pos_words, neg_words = split_entries(pos), split_entries(neg)
        aspects.append(Aspect(name, verb == "were", pos_words, neg_words, tuple(details["+"]), tuple(details["-"])))
    return tuple(aspects)


@dataclass(frozen=True)
class ReviewTopic:
    """A reviewable domain: how it is asked about and what is judged (names come from names.py)."""

    aspects: tuple[Aspect, ...]
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class QuestionTopic:
    """A short-question category: prompts take a context as {c}; `frame` names what an answer offers."""

    prompts: tuple[str, ...]
    contexts: tuple[str, ...]
    frame: str
    suggestions: tuple[str, ...]
    details: tuple[str, ...]


def parse_question_topics(block: str) -> dict[str, QuestionTopic]:
    """Topics from "name: frame" heads with "?" prompt, "@" context, "*" suggestion and "+"
    detail lines."""
    topics = {}
    for head, p in _blocks(block, ("?", "@", "*", "+")).items():
        name, _, frame = head.partition(": ")
        topics[name] = QuestionTopic(
            tuple(p["?"]), tuple(p["@"]), frame, tuple(p["*"]), tuple(p["+"])
        )
    return topics
