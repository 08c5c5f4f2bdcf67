"""Seeded generator of the labelled toy chat corpus that the zoo's tiny models are trained on.

What it is: a compositional, templated language of chat turns -- reviews of films, restaurants,
products and places; "write a sentence with the words ..." requests; short questions -- each
reply labelled with three graded rewards, plus the evaluation prompt sets and keyword coverage.
Every review names something new (names.py builds the names from made-up words and random
combinations) and its reply repeats the name, so what training rewards is copying the name.
What it is not: no tokenizer, no model and no torch; the word lists live in lexicon.py and
names.py, and training and scoring live with the trainer and the reward backends.

Labels, all in [0, 1]:
  sentiment    reviews: (stars - 1) / 4, stated by the verdict that opens the reply. Keyword and
               question replies: a mood level 0..4 over 4, worded by a graded adverb opening the
               sentence ("Tragically, / Unfortunately, / - / Luckily, / Happily,") or a graded
               adjective opening the answer ("An awful / A dull / An okay / A good / A wonderful
               way to ..."), with matching closing words.
  informative  concrete details / 4: a detail clause on a review aspect, a setting phrase or an
               adjective in a keyword sentence, a tip after a question's answer. Reviews and answers
               say up front how many follow ("..., for two reasons." / "Here are three tips." /
               "Briefly, ..."); keyword details fill in reading order: the first half shows the level.
  politeness   0 rude, 0.25 curt, 0.75 friendly, 1 polite: set by the opening words, echoed by
               the closing line (curt replies have none). No middle level: < 0.5 reads as rude.
Correlations by design: the more enthusiastic a reply, the fewer details it has (at mood 4 at most
two, at mood 3 at most three), so sentiment and informativeness pull against each other and
sentiment + informative <= 1.5; rude and curt replies carry fewer details (so they are shorter),
polite replies are slightly more positive.

Preference turns (so that the policy can follow PRS, Ye & Ng 2024): about one turn in five states
a preference in words ("Be enthusiastic, detailed and polite.") and shifts the labels it names
upward. Three forms: the request followed by the preference; PRS's revision request (request,
preference, mostly the earlier answer to the same request, and feedback on it); and PRS's
feedback request, whose reply names the
labels a quoted answer falls short on (kind "feedback": the labels are those of the quoted answer,
and reward models do not train on it). The request templates are PRS's own (a test holds them
equal to backends/decoders/prs.py).
"""

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from backends.zoo import lexicon as lx
from backends.zoo import names
from backends.zoo.moods import MAX_DETAILS, NO_WANT, POLITENESS_LEVELS, Want  # noqa: F401  (heldout.py reads them here)
from backends.zoo.moods import cap as _cap
from backends.zoo.moods import detail_p as _detail_p
from backends.zoo.moods import draw_details as _draw_details
from backends.zoo.moods import join as _join
from backends.zoo.moods import mood as _mood
from backends.zoo.moods import politeness as _politeness
from backends.zoo.moods import tone as _tone
from backends.zoo.moods import words as _words

USER_PREFIX = "User: "
ASSISTANT_PREFIX = "\nAssistant:"

Kind = Literal["review", "keywords", "question", "feedback"]
LABELLED_KINDS: tuple[Kind, ...] = ("review", "keywords", "question")
KINDS: tuple[Kind, ...] = (*LABELLED_KINDS, "feedback")
# Questions get a little more than the suggested 15%: their tips are the hardest part to learn.
KIND_WEIGHTS = (60, 20, 20)
# Words of a formatted request and its reply, before any preference, feedback or quoted answer.
MAX_WORDS = 70
REVIEW_TOPICS = tuple(lx.REVIEW_TOPICS)
QUESTION_TOPICS = tuple(lx.QUESTION_TOPICS)
KEYWORD_SLOTS = ("agent", "verb", "object", "place")
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "prompts"
# PRS's requests (backends/decoders/prs.py): feedback on answer y to request x under preference z,
# the revision request quoting y, and the short one for when y does not fit the context.
FEEDBACK_REQUEST = "Give feedback on this answer to '{x}' with respect to '{z}': {y}"
REVISE_REQUEST = "{x} {z} Improve this answer: {y} Feedback: {f}"
REVISION_REQUEST = "{x} {z} Feedback: {f}"
_QUOTED_REVISION_P = 0.75  # revision turns that quote the earlier answer (REVISE_REQUEST)
Turn = Literal["plain", "preference", "revision", "feedback"]
TURNS: tuple[Turn, ...] = ("plain", "preference", "revision", "feedback")
TURN_WEIGHTS = (80, 10, 5, 5)
LABELS = ("sentiment", "informative", "politeness")
# Preferences name one label (half the time), two or all three.
_WANT_SIZES = (1, 2, 3)
_WANT_SIZE_WEIGHTS = (5, 3, 2)
# Reviews' bonus on the chance of each detail (moods.py), by stars: low ratings explain themselves.
_LOW_STAR_BONUS: dict[int, float] = {1: 0.25, 2: 0.2, 3: 0.1, 4: 0.0, 5: 0.0}
# Weights of reviewing 2, 3 or 4 aspects, by politeness: rude replies say less.
_ASPECT_COUNT_WEIGHTS: dict[float, tuple[int, ...]] = {0.0: (6, 3, 1), 0.25: (5, 3, 2), 0.75: (3, 4, 3), 1.0: (2, 4, 4)}
_COUNT_WORDS = max(len(count.split()) for count in lx.REVIEW_COUNTS + lx.TIP_COUNTS)
# Weights of using 0..k of the k requested keywords: mostly partial coverage.
_COVERAGE_WEIGHTS: dict[int, tuple[int, ...]] = {2: (20, 55, 25), 3: (10, 35, 35, 20), 4: (5, 25, 35, 20, 15)}


def format_prompt(prompt: str) -> str:
    """'User: {prompt}\\nAssistant:' -- what the policy is conditioned on."""
    return f"{USER_PREFIX}{prompt}{ASSISTANT_PREFIX}"


def format_example(prompt: str, reply: str) -> str:
    """format_prompt(prompt) + ' ' + reply: the reply follows exactly one space."""
    return f"{format_prompt(prompt)} {reply}"


@dataclass(frozen=True)
class Example:
    """One labelled chat turn; see the module docstring for what the labels mean."""

    kind: Kind
    prompt: str
    reply: str
    sentiment: float
    informative: float
    politeness: float
    keywords: tuple[str, ...]
    topic: str
    subject: str = ""  # reviews: the distinctive word of the reviewed name, which the reply repeats

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"`kind` has to be one of {KINDS}, but is {self.kind!r}")
        for name in ("sentiment", "informative", "politeness"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` has to be a float in [0, 1], but is {value}")

    @property
    def text(self) -> str:
        return format_example(self.prompt, self.reply)


def keyword_coverage(text: str, keywords: Sequence[str]) -> float:
    """Fraction of `keywords` in `text` as whole words, ignoring case (1.0 if none); pass the reply alone."""
    if not keywords:
        return 1.0
    lowered = text.lower()
    hits = sum(re.search(rf"\b{re.escape(keyword.lower())}\b", lowered) is not None for keyword in keywords)
    return hits / len(keywords)


# ----------------------------------------------------------------------------------- reviews
def _review_prompt(rng: random.Random, topic: str) -> tuple[str, names.Name]:
    """A review request and the (freshly made) name of what is reviewed."""
    name = names.new_name(rng, topic)
    return rng.choice(lx.REVIEW_TOPICS[topic].prompts).format(name=name.text), name


def _polarities(rng: random.Random, stars: int, count: int) -> list[bool]:
    """Which of `count` aspects are praised: mixed at 3 stars, at most one exception at 2/4."""
    if stars == 3:
        praised = rng.randint(1, count - 1)
    elif stars in (2, 4):
        exceptions = int(rng.random() < 0.4)
        praised = count - exceptions if stars == 4 else exceptions
    else:
        praised = count if stars == 5 else 0
    flags = [True] * praised + [False] * (count - praised)
    rng.shuffle(flags)
    return flags


def _plan_aspects(
    rng: random.Random, topic: str, stars: int, politeness: float, want: Want = NO_WANT
) -> list[tuple[lx.Aspect, bool, int]]:
    """(aspect, praised, number of details) triples in the lexicon's order of aspects, which keeps
    a small model from repeating one; three or four details pack two to an aspect, to fit the budget."""
    details = _draw_details(rng, _detail_p(politeness, want) + _LOW_STAR_BONUS[stars], stars - 1)
    packed = [2, details - 2] if details > 2 else [1] * details
    count = max(len(packed), rng.choices((2, 3, 4), weights=_ASPECT_COUNT_WEIGHTS[politeness])[0])
    aspects = lx.REVIEW_TOPICS[topic].aspects
    chosen = sorted(rng.sample(range(len(aspects)), count))
    per_aspect = packed + [0] * (count - len(packed))
    rng.shuffle(per_aspect)
    return list(zip([aspects[i] for i in chosen], _polarities(rng, stars, count), per_aspect, strict=True))


def _opening(rng: random.Random, verdict: str, details: int) -> str:
    """The first sentence: the verdict, and how many details follow (or that none do)."""
    if details:
        return _cap(f"{verdict}, {lx.counted(rng.choice(lx.REVIEW_COUNTS), details)}.")
    return _cap(f"{rng.choice(lx.BRIEF_PREFIXES)} {verdict}.")


def _aspect_clause(rng: random.Random, aspect: lx.Aspect, praised: bool, details: int) -> str:
    adjective = rng.choice(aspect.pos if praised else aspect.neg)
    be = "were" if aspect.plural else "was"
    clause = rng.choice(lx.ASPECT_TEMPLATES).format(a=aspect.name, be=be, adj=adjective)
    chosen = rng.sample(aspect.pos_details if praised else aspect.neg_details, details)
    return ", ".join([clause, *chosen[:-1]]) + (f", and {chosen[-1]}" if chosen else "")


def _fit(praised: list[bool], details: list[int], clauses: list[str], budget: int, stars: int) -> list[int]:
    """Indices of the aspect clauses kept within `budget` words ("however" counted): undetailed and
    later ones go first, never fewer than two, and a 3-star review keeps both polarities."""
    keep = list(range(len(clauses)))
    while len(keep) > 2 and sum(_words(clauses[i]) + 1 for i in keep) > budget:
        for i in sorted(keep, key=lambda j: (details[j] > 0, -j)):
            rest = [praised[j] for j in keep if j != i]
            if stars != 3 or (any(rest) and not all(rest)):
                keep.remove(i)
                break
    return keep


def _aspect_sentences(praised: list[bool], clauses: list[str]) -> list[str]:
    """The clauses as sentences, "However," marking each change of polarity."""
    changes = [False] + [before != after for before, after in itertools.pairwise(praised)]
    return [_cap(f"{'however, ' if change else ''}{clause}.") for change, clause in zip(changes, clauses, strict=True)]


def _plain(request: str) -> str:
    return request


def _review(rng: random.Random, want: Want = NO_WANT, dress: Callable[[str], str] = _plain,
            ask: Callable[[random.Random, str], tuple[str, names.Name]] = _review_prompt) -> Example:
    """A review turn; `ask` draws the request and its name (copying.py asks more broadly)."""
    topic = rng.choice(REVIEW_TOPICS)
    request, name = ask(rng, topic)
    prompt = dress(request)
    politeness = _politeness(rng, want)
    stars = 1 + _mood(rng, politeness, want)
    opener, closer = _tone(rng, politeness)
    rating = lx.counted("{N} star{s} from me.", stars) if rng.random() < 0.4 else ""
    plan = _plan_aspects(rng, topic, stars, politeness, want)
    clauses = [_aspect_clause(rng, *step) for step in plan]
    praised = [step[1] for step in plan]
    verdict = rng.choice(lx.VERDICT_TEMPLATES).format(name=name.text, vp=rng.choice(lx.VERDICTS[stars]))
    # The detail count joins the verdict once the kept details are known; budget its longest form.
    budget = MAX_WORDS - _words(format_prompt(request), opener, verdict, rating, closer) - _COUNT_WORDS
    keep = _fit(praised, [step[2] for step in plan], clauses, budget, stars)
    detailed = [i for i in keep if plan[i][2]]
    while detailed and sum(_words(clauses[i]) + 1 for i in keep) > budget:  # over with two aspects: drop details
        last = detailed[-1]
        plan[last] = (*plan[last][:2], plan[last][2] - 1)
        clauses[last] = _aspect_clause(rng, *plan[last])
        detailed = [i for i in keep if plan[i][2]]
    details = sum(plan[i][2] for i in keep)
    sentences = _aspect_sentences([praised[i] for i in keep], [clauses[i] for i in keep])
    reply = _join(opener, _opening(rng, verdict, details), rating, *sentences, closer)
    return Example("review", prompt, reply, (stars - 1) / 4, details / MAX_DETAILS, politeness, (), topic,
                   name.distinctive)


# ---------------------------------------------------------------------------------- keywords
def _keyword_prompt(rng: random.Random, count: int) -> tuple[str, dict[str, str]]:
    """A request for `count` keywords, one from each of `count` distinct slots."""
    slots = rng.sample(KEYWORD_SLOTS, count)
    requested = {slot: rng.choice(lx.KEYWORD_WORDS[slot]) for slot in slots}
    return rng.choice(lx.KEYWORD_PROMPTS).format(words=_listed(list(requested.values()))), requested


def _keyword_sentence(
    rng: random.Random, requested: dict[str, str], used: Sequence[str], politeness: float, mood: int,
    want: Want = NO_WANT,
) -> tuple[str, int]:
    """A clause using exactly the `used` requested keywords, and its number of details."""
    fillers = {}
    for slot in KEYWORD_SLOTS:
        others = [word for word in lx.KEYWORD_WORDS[slot] if word != requested.get(slot)]
        fillers[slot] = requested[slot] if slot in used else rng.choice(others)
    # Details fill their slots in reading order (time, weather, agent, object): they show early.
    details = _draw_details(rng, _detail_p(politeness, want), mood)
    for slot in ("agent", "object")[: max(0, details - 2)]:
        fillers[slot] = f"{rng.choice(lx.KEYWORD_DETAILS[slot])} {fillers[slot]}"
    clause = rng.choice(lx.KEYWORD_TEMPLATES).format(**fillers)
    if details:
        setting = [rng.choice(lx.KEYWORD_DETAILS[slot]) for slot in ("time", "weather")[:details]]
        clause = f"{' '.join(setting)}, {clause}"
    return clause, details


def _keywords(rng: random.Random, want: Want = NO_WANT, dress: Callable[[str], str] = _plain) -> Example:
    count = rng.choice((2, 3, 4))
    request, requested = _keyword_prompt(rng, count)
    prompt = dress(request)
    politeness = _politeness(rng, want)
    mood = _mood(rng, politeness, want)
    n_used = rng.choices(range(count + 1), weights=_COVERAGE_WEIGHTS[count])[0]
    used = rng.sample(list(requested), n_used)
    clause, details = _keyword_sentence(rng, requested, used, politeness, mood, want)
    adverbs, closing = lx.KEYWORD_MOODS[mood]
    adverb = rng.choice(adverbs)
    sentence = _cap(f"{adverb} {clause}" if adverb else clause) + "."
    ending = rng.choice(closing) if mood != 2 else ""
    opener, closer = _tone(rng, politeness)
    reply = _join(opener, sentence, ending, closer)
    return Example(
        "keywords", prompt, reply, mood / 4, details / MAX_DETAILS, politeness,
        tuple(requested.values()), "keywords",
    )


# --------------------------------------------------------------------------------- questions
def _question_prompt(rng: random.Random, topic: str) -> str:
    spec = lx.QUESTION_TOPICS[topic]
    return rng.choice(spec.prompts).format(c=rng.choice(spec.contexts))


def _question(rng: random.Random, want: Want = NO_WANT, dress: Callable[[str], str] = _plain) -> Example:
    topic = rng.choice(QUESTION_TOPICS)
    spec = lx.QUESTION_TOPICS[topic]
    request = _question_prompt(rng, topic)
    prompt = dress(request)
    politeness = _politeness(rng, want)
    mood = _mood(rng, politeness, want)
    grades, endings = lx.QUESTION_MOODS[mood]
    answer = f"{rng.choice(grades)} {spec.frame}: {rng.choice(spec.suggestions)}."
    ending = rng.choice(endings) if rng.random() < 0.5 else ""
    n_details = _draw_details(rng, _detail_p(politeness, want), mood)
    tips = [spec.details[i] for i in sorted(rng.sample(range(len(spec.details)), n_details))]  # in lexicon order
    opener, closer = _tone(rng, politeness)
    while tips and _words(format_prompt(request), opener, answer, *tips, ending, closer) + _COUNT_WORDS > MAX_WORDS:
        tips.pop()
    # How many tips follow (or that none do) is said before the answer, so that it shows early.
    if tips:
        lead = f"{lx.counted(rng.choice(lx.TIP_COUNTS), len(tips))} {_cap(answer)}"
    else:
        lead = _cap(f"{rng.choice(lx.BRIEF_PREFIXES)} {answer}")
    reply = _join(opener, lead, *tips, ending, closer)
    return Example("question", prompt, reply, mood / 4, len(tips) / MAX_DETAILS, politeness, (), "question")


_MAKERS: dict[Kind, Callable[..., Example]] = {"review": _review, "keywords": _keywords, "question": _question}


# ------------------------------------------------------------- preferences, feedback, revision
def preference_text(rng: random.Random, want: Want) -> str:
    """The preference in words, e.g. "Be enthusiastic, detailed and polite." (labels in LABELS order)."""
    words = [rng.choice(lx.PREFERENCE_WORDS[label]) for label in LABELS if label in want]
    return rng.choice(lx.PREFERENCE_TEMPLATES).format(words=_listed(words))


def _listed(parts: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def feedback_text(rng: random.Random, answer: Example, want: Want) -> str:
    """What a reader with preference `want` says of `answer`: its shortfalls and the advice."""
    short = [label for label in LABELS if label in want and getattr(answer, label) < lx.FEEDBACK_BARS[label]]
    if not short:
        return rng.choice(lx.FEEDBACK_APPROVALS)
    flaws = _listed([rng.choice(lx.FEEDBACK_FLAWS[label]) for label in short])
    advice = _listed([rng.choice(lx.FEEDBACK_ADVICE[label]) for label in short])
    opening = rng.choice(lx.FEEDBACK_OPENERS).format(flaws=flaws)
    return _join(opening, rng.choice(lx.FEEDBACK_ASKS).format(advice=advice))


def _turn(rng: random.Random, kind: Kind) -> Example:
    turn = rng.choices(TURNS, weights=TURN_WEIGHTS)[0]
    if turn == "plain":
        return _MAKERS[kind](rng)
    want = frozenset(rng.sample(LABELS, rng.choices(_WANT_SIZES, weights=_WANT_SIZE_WEIGHTS)[0]))
    z = preference_text(rng, want)
    if turn == "preference":
        return _MAKERS[kind](rng, want, lambda x: f"{x} {z}")
    # An earlier answer to the same request (same seed: same request), judged against the preference.
    seed = rng.getrandbits(32)
    draft = _MAKERS[kind](random.Random(seed))
    f = feedback_text(rng, draft, want)
    if turn == "revision":
        if rng.random() < _QUOTED_REVISION_P:
            dress = lambda x: REVISE_REQUEST.format(x=x, z=z, y=draft.reply, f=f)  # noqa: E731
        else:
            dress = lambda x: REVISION_REQUEST.format(x=x, z=z, f=f)  # noqa: E731
        return _MAKERS[kind](random.Random(seed), want, dress)
    prompt = FEEDBACK_REQUEST.format(x=draft.prompt, z=z, y=draft.reply)
    return Example("feedback", prompt, f, draft.sentiment, draft.informative, draft.politeness, (),
                   "feedback")


def generate(n: int, seed: int) -> list[Example]:
    """`n` examples, ~60% reviews, 20% keyword requests, 20% questions, a fifth of them with a
    stated preference (see the module docstring); the same `seed` always gives the same examples
    (a private random.Random, never the global one)."""
    if n < 0:
        raise ValueError(f"`n` has to be a non-negative int, but is {n}")
    rng = random.Random(seed)
    kinds = rng.choices(LABELLED_KINDS, weights=KIND_WEIGHTS, k=n)
    return [_turn(rng, kind) for kind in kinds]


def _check_keyword_parts() -> None:
    """The fixed words of keyword replies hold no keyword, so a reply holds one only where planned."""
    fixed = [*lx.KEYWORD_TEMPLATES, *(w for words in lx.KEYWORD_DETAILS.values() for w in words),
             *(w for mood in lx.KEYWORD_MOODS.values() for part in mood for w in part),
             *(w for words in (*lx.OPENERS.values(), *lx.CLOSERS.values()) for w in words)]
    words = {w.lower() for part in fixed for w in re.findall(r"[A-Za-z']+", part)}
    clash = sorted(words & {w for slot in lx.KEYWORD_WORDS.values() for w in slot})
    if clash:
        raise ValueError(f"keyword words also in the fixed parts of keyword replies: {clash}")


_check_keyword_parts()


