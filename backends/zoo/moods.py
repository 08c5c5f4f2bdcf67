"""How a corpus reply's labels are drawn, and the small text helpers every kind of reply shares.

Politeness first (four levels), then a mood level 0..4 given politeness (polite replies lean
positive), then how many concrete details the reply holds given both: the more enthusiastic,
the fewer (sentiment and informativeness pull against each other). A stated preference (`Want`)
shifts the labels it names upward. corpus.py composes the replies; lexicon.py holds the words.
"""

from __future__ import annotations

import random

from backends.zoo import lexicon as lx

MAX_DETAILS = 4
POLITENESS_LEVELS: dict[float, str] = {0.0: "rude", 0.25: "curt", 0.75: "friendly", 1.0: "polite"}
_WANTED_POLITENESS_WEIGHTS = (0, 0, 1, 3)
_WANTED_MOOD_WEIGHTS = (0, 0, 1, 2, 7)
_WANTED_DETAIL_P = 0.85

_POLITENESS_WEIGHTS = (2, 2, 3, 3)
# Mood (stars - 1 for reviews) given politeness: polite replies lean slightly positive.
_MOOD_WEIGHTS_POLITE = (2, 2, 2, 3, 3)
_MOOD_WEIGHTS_RUDE = (3, 3, 2, 2, 2)
# Chance that each detail slot is filled, by politeness (corpus.py adds a bonus to low-star reviews).
_DETAIL_P: dict[float, float] = {0.0: 0.3, 0.25: 0.4, 0.75: 0.55, 1.0: 0.6}
# The trade-off between the rewards: by mood level 0..4, a factor on the chance of each detail and
# the most details a reply holds. Enthusiastic replies are vague, detailed ones measured, so no
# reply is both very positive and very detailed (sentiment + informative <= 1.5).
_MOOD_DETAIL_FACTOR = (1.15, 1.1, 1.0, 0.7, 0.45)
_MOOD_DETAIL_CAP = (4, 4, 4, 3, 2)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


Want = frozenset[str]  # the labels a stated preference asks to raise
NO_WANT: Want = frozenset()


def politeness(rng: random.Random, want: Want = NO_WANT) -> float:
    weights = _WANTED_POLITENESS_WEIGHTS if "politeness" in want else _POLITENESS_WEIGHTS
    return rng.choices(tuple(POLITENESS_LEVELS), weights=weights)[0]


def mood(rng: random.Random, politeness: float, want: Want = NO_WANT) -> int:
    weights = _MOOD_WEIGHTS_POLITE if politeness >= 0.5 else _MOOD_WEIGHTS_RUDE
    return rng.choices(range(5), weights=_WANTED_MOOD_WEIGHTS if "sentiment" in want else weights)[0]


def detail_p(politeness: float, want: Want) -> float:
    return _WANTED_DETAIL_P if "informative" in want else _DETAIL_P[politeness]


def draw_details(rng: random.Random, p: float, mood: int) -> int:
    """How many details (0..MAX_DETAILS) a reply of `mood` holds, each drawn with chance about `p`."""
    drawn = sum(rng.random() < p * _MOOD_DETAIL_FACTOR[mood] for _ in range(MAX_DETAILS))
    return min(drawn, _MOOD_DETAIL_CAP[mood])


def tone(rng: random.Random, politeness: float) -> tuple[str, str]:
    """Opening words and a closing line (possibly empty) of one politeness level."""
    return rng.choice(lx.OPENERS[politeness]), rng.choice(lx.CLOSERS[politeness])


def words(*parts: str) -> int:
    return sum(len(part.split()) for part in parts)


def join(*parts: str) -> str:
    return " ".join(part for part in parts if part)
