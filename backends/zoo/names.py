"""Names of the corpus's films, restaurants, products and places, built fresh for every review.

What it is: a seeded generator of new words (syllables joined into 1-3 syllable words such as
"Brinolt" or "Quesa") and of random combinations of real words ("The Velvet Compass"), in
patterns of one to four words, so that a policy trained on the corpus has to copy the name from
the request rather than recall a short list. Each name comes with its distinctive word: the word
a reply about it has to repeat (a made-up word when there is one, else the name's noun).
What it is not: no labels and no sentences; corpus.py puts the names into requests and replies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def _w(entries: str) -> tuple[str, ...]:
    return tuple(entry.strip() for entry in entries.split("|"))


ONSETS = _w("b|br|c|ch|cl|d|dr|f|fl|g|gl|gr|h|j|k|kr|l|m|n|p|pl|pr|qu|r|s|sh|sk|sl|st|t|th|tr|v|w|z")
VOWELS = _w("a|e|i|o|u|a|e|i|o|ai|ea|ee|ia|io|oa|ou|y")
CODAS = _w("n|r|l|s|m|x|nd|rt|sk|th|ng|ck|ll|nt|v|z")
ADJECTIVES = _w(
    "Silent|Last|Hidden|Broken|Golden|Lost|Distant|Burning|Frozen|Secret|Crimson|Endless|Quiet|Wild"
    "|Final|Hollow|Velvet|Iron|Paper|Electric|Midnight|Scarlet|Ancient|Little|Northern|Sleeping|Falling"
    "|Rising|Twisted|Bright|Empty|Stolen|Bitter|Lonely|Gentle|Painted|Copper|Faded|Restless|Forgotten"
    "|Shattered|Wandering|Sunken|Tender|Hungry|Crooked|Emerald|Frosted|Burnt|Marble"
)
NOUNS = _w(
    "Harbor|Summer|Garden|Kingdom|River|Promise|Signal|Mirror|Letter|Voyage|Horizon|Winter|Shadow"
    "|Station|Orchard|Crown|Engine|Lantern|Circus|Compass|Anchor|Tower|Meadow|Storm|Feather|Machine"
    "|Empire|Orbit|Thunder|Moon|Desert|Ocean|Castle|Bridge|Dream|Window|Clock|Tide|Ember|Echo|Frontier"
    "|Labyrinth|Carnival|Parade|Monsoon|Avalanche|Cathedral|Galaxy|Pilgrim|Mariner|Harvest|Puzzle"
    "|Ghost|Violin|Glacier|Comet|Sparrow|Tiger|Whisper"
)
FIRST_NAMES = _w(
    "Rosa|Marco|Anna|Luigi|Nina|Omar|Hana|Pedro|Elena|Sam|Mia|Leo|Greta|Ivan|Chloe|Tariq|Yuki|Bruno"
    "|Fatima|Oscar|Lena|Rafael|Ingrid|Kofi|Sofia|Emil|Priya|Hugo|Carmen|Felix|Aiko|Dario"
)
EATERIES = _w(
    "Kitchen|Grill|Bistro|Diner|Cafe|Table|Tavern|Noodle Bar|Trattoria|Bakery|Steakhouse|Brasserie"
    "|Taqueria|Canteen|Eatery|Dumpling House|Oyster Bar|Pantry"
)
DEVICES = _w(
    "speaker|camera|phone|tablet|watch|keyboard|drone|headset|blender|kettle|laptop|monitor|router"
    "|scooter|toaster|vacuum|printer|mouse|projector|smart lamp"
)
LANDFORMS = _w("Lake|Beach|Valley|Forest|Bay|Falls|Island|Canyon|Ridge|Peak|Gorge|Cove|Springs|Bluffs|Hills|Dunes")
MODEL_TAGS = _w("2|3|5|7|9|X|Pro|Mini|Max|Air|One|Plus|Lite|Neo")
# Words a name may hold that are not distinctive (they say what kind of thing it is).
GENERIC = frozenset({"The", "the", "of", "Mount", "Cafe", "Lake", *EATERIES, *DEVICES, *LANDFORMS, *MODEL_TAGS})


def made_up_word(rng: random.Random, syllables: int | None = None) -> str:
    """A new capitalised word of 1-3 syllables, 3 to 11 letters."""
    while True:
        count = syllables or rng.choices((1, 2, 3), weights=(2, 5, 3))[0]
        parts = []
        for i in range(count):
            onset = rng.choice(ONSETS) if (i == 0 and rng.random() < 0.85) or i > 0 else ""
            coda = rng.choice(CODAS) if rng.random() < (0.45 if i == count - 1 else 0.2) else ""
            parts.append(onset + rng.choice(VOWELS) + coda)
        word = "".join(parts)
        if 3 <= len(word) <= 11 and word.capitalize() not in GENERIC:
            return word.capitalize()


@dataclass(frozen=True)
class Name:
    text: str
    distinctive: str


def _film(rng: random.Random) -> Name:
    new, adjective, noun = made_up_word(rng), rng.choice(ADJECTIVES), rng.choice(NOUNS)
    pattern = rng.randrange(7)
    if pattern == 0:
        return Name(f"The {adjective} {noun}", noun)
    if pattern == 1:
        return Name(f"The {new} {noun}", new)
    if pattern == 2:
        return Name(new, new)
    if pattern == 3:
        return Name(f"{noun} of {new}", new)
    if pattern == 4:
        return Name(f"The {adjective} {new}", new)
    if pattern == 5:
        return Name(f"{new} {made_up_word(rng, 1)}", new)
    return Name(f"The {noun}", noun)


def _restaurant(rng: random.Random) -> Name:
    new, eatery = made_up_word(rng), rng.choice(EATERIES)
    pattern = rng.randrange(5)
    if pattern == 0:
        first = rng.choice(FIRST_NAMES)
        return Name(f"{first}'s {eatery}", first)
    if pattern == 1:
        return Name(f"{new}'s {eatery}", new)
    if pattern == 2:
        return Name(f"{new} {eatery}", new)
    if pattern == 3:
        return Name(f"Cafe {new}", new)
    return Name(f"The {rng.choice(ADJECTIVES)} {new}", new)


def _product(rng: random.Random) -> Name:
    new, device = made_up_word(rng), rng.choice(DEVICES)
    pattern = rng.randrange(4)
    if pattern == 0:
        return Name(f"the {new} {device}", new)
    if pattern == 1:
        return Name(f"the {new} {rng.choice(MODEL_TAGS)} {device}", new)
    if pattern == 2:
        return Name(f"the {new} {made_up_word(rng, 1)} {device}", new)
    return Name(f"the {device} from {new}", new)


def _place(rng: random.Random) -> Name:
    new, land = made_up_word(rng), rng.choice(LANDFORMS)
    pattern = rng.randrange(5)
    if pattern == 0:
        return Name(f"{new} {land}", new)
    if pattern == 1:
        return Name(f"Lake {new}", new)
    if pattern == 2:
        return Name(f"Mount {new}", new)
    if pattern == 3:
        return Name(f"{rng.choice(ADJECTIVES)} {land}", "")  # adjective + landform: fixed below
    return Name(f"{new} {rng.choice(NOUNS)} {land}", new)


def new_name(rng: random.Random, topic: str) -> Name:
    """A fresh name for a review `topic` (film, restaurant, product or place) and its distinctive word."""
    name = {"film": _film, "restaurant": _restaurant, "product": _product, "place": _place}[topic](rng)
    if not name.distinctive:
        name = Name(name.text, name.text.split()[0])
    return name
