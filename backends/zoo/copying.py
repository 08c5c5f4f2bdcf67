"""Review turns whose names and requests come in many more shapes: the data of tiny-sft's copy phase.

What it is: a seeded generator of review examples (corpus.Example, replies built by the corpus's own
review writer) whose names are not limited to names.py's syllable words and title patterns --
random letter strings, real words and their compounds ("Stonebrook", "BrightPath"), possessives,
numbers and model tags, one to five words with "and" / "of" / "to" / "at" inside -- asked in
requests composed from parts (an opening, a verb or question, a type word, the name anywhere in
the sentence, a trailing remark). The reply repeats the whole name, so training on these rewards
copying whatever the request names, token by token, wherever it stands.
What it is not: no held-out data. The on-topic bar's hand-written names and phrasings
(heldout.py) are the test: a name holding one of their distinctive words or equal to one of their
names is drawn again, and a request template that matches one of their prompts (or heldout's
REVIEW_PHRASINGS) is composed again.
"""

from __future__ import annotations

import functools
import random
import re
import string

from backends.zoo import corpus, heldout, names
from backends.zoo import lexicon as lx
from backends.zoo.names import Name


# ------------------------------------------------------------------------------------- words
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


REAL_WORDS = _split(
    "apple amber arrow autumn badger bamboo banner basil beacon bear bell berry birch bishop blossom "
    "bolt bottle brass brick brook buffalo butter button cabin cactus candle canvas canyon caramel "
    "cedar chalk cherry chess cinder citrus cliff cloud clover cobble coconut coffee coral cotton "
    "cricket crystal cypress daisy dancer delta denim diamond dolphin dove dragon drift eagle echo "
    "elder falcon fern fig fire flame flint forge fountain fox frost garnet ginger glass globe "
    "granite grape hammer hazel hearth hickory honey hopper horizon ivory ivy jade jasmine juniper "
    "kettle kite lace lark laurel lava lemon lily linen lotus magnet maple marsh meadow melon "
    "mint mist mocha moss nectar needle nickel nutmeg oak oat onyx opal otter owl paddle panda "
    "pebble pepper petal pine pixel plum pony poppy prairie quartz quill rabbit raven reed ribbon "
    "ridge robin rocket rose ruby rye sable sage sail sand satin scout shell silver slate smoke "
    "snow sorrel spark spice spruce star stone straw sugar summit swan sycamore tango thistle "
    "timber toffee topaz trout tulip turtle valley vanilla vine walnut wave wheat willow wind wolf "
    "wren yarrow zephyr zinc bright swift bold calm clever cozy crisp dusty eager fancy fuzzy "
    "grand happy humble jolly lucky mellow merry noble plucky proud quick rapid shiny snappy sunny "
    "tiny urban vivid warm zesty red green blue yellow purple orange black white grey pink "
    "north south east west upper lower big little new old royal prime true pure"
)
FIRST_NAMES = _split(
    "Ada Alba Ben Bea Cal Cora Dev Dina Eli Ezra Fay Finn Gus Gia Hal Ida Jack Jade Kai Kim Lou Lara "
    "Max Mae Ned Noor Otto Pia Quinn Ravi Rex Sara Ted Tova Uma Vic Wes Xena Yara Zed Abe Lulu Moe "
    "Nico Pip Rudy Stan Tony Vera"
)
NUMBER_WORDS = _split("One Two Three Four Five Six Eight Nine Ten Twelve Forty Hundred Thousand")
TITLES = _split("Uncle Auntie Mama Don Casa Villa Fort San Santa Le La El Big Old New Upper North")
CONNECTORS = ("and", "of", "to", "at", "in", "on", "for", "with", "of the", "in the", "under the")
CONSONANTS = "bcdfghjklmnpqrstvwxz"
CLUSTERS = _split("bl br ch ck cr dr fl gh gr kn ph pl qu sc sh sk sl sn sp st sw th tr tw wh wr")
VOWEL_GROUPS = _split("a e i o u y ae ai au ea ee ei ie io oa oo ou ua")
TAGS = _split("X2 Z9 S3 V8 GT RS 360 500 2000 II III Pro Max Mini Ultra Go One Neo Air Lite Plus XL")
# Things a name may be followed by, by topic (written lowercase after the name, like a product type).
KIND_WORDS = {
    "film": ("", "", "", ""),
    "restaurant": ("", "", "Pizzeria", "Ramen", "Deli", "Bar and Grill", "Smokehouse", "Bistro", "Creamery"),
    "product": ("rice cooker", "desk fan", "power bank", "e-reader", "air fryer", "water bottle", "tent",
                "bike light", "smart plug", "sound bar", "stand mixer", "heater", "earbuds", "charger",
                "tripod", "juicer", "thermostat", "doorbell", "microwave", "fitness band"),
    "place": ("trail", "beach", "park", "viewpoint", "harbor", "reserve", "gardens", "pier", "waterfall",
              "campground", "old town", "boardwalk"),
}


def letter_word(rng: random.Random) -> str:
    """A capitalised string of letters outside names.py's syllable scheme, 2 to 12 letters."""
    if rng.random() < 0.25:  # plain random letters, vowels now and then
        letters = [rng.choice("aeiou" if rng.random() < 0.4 else string.ascii_lowercase)
                   for _ in range(rng.randint(2, 9))]
        return "".join(letters).capitalize()
    parts, vowel = [], rng.random() < 0.3
    for _ in range(rng.randint(2, 6)):
        if vowel:
            parts.append(rng.choice(VOWEL_GROUPS))
        else:
            parts.append(rng.choice(CLUSTERS) if rng.random() < 0.3 else rng.choice(CONSONANTS))
        vowel = not vowel
    return "".join(parts)[:12].capitalize()


def real_word(rng: random.Random) -> str:
    return rng.choice(REAL_WORDS).capitalize()


def compound(rng: random.Random) -> str:
    """Two words run together: "Stonebrook", "BrightPath", "Zentrail"."""
    first = rng.choice((real_word, letter_word, names.made_up_word))(rng)
    second = rng.choice((real_word, real_word, letter_word))(rng)
    return first + (second if rng.random() < 0.5 else second.lower())


def _lexicon_words() -> tuple[str, ...]:
    """Every word of three or more letters in the corpus's word lists (lexicon.py), capitalised and
    sorted: words whose tokens the policy reads in replies but never copied as a name."""
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            found.update(word.lower() for word in re.findall(r"[A-Za-z]{3,}", value))
        elif isinstance(value, (tuple, list)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in (*value, *value.values()):
                walk(item)
        elif hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
            for name in value.__dataclass_fields__:
                walk(getattr(value, name))

    for key, value in vars(lx).items():
        if key.isupper():
            walk(value)
    return tuple(sorted(word.capitalize() for word in found))


LEXICON_WORDS = _lexicon_words()


def core_word(rng: random.Random, lexicon_p: float = 0.0) -> str:
    """One distinctive word of any kind; with chance `lexicon_p` one of the corpus's own words."""
    if lexicon_p and rng.random() < lexicon_p:
        return rng.choice(LEXICON_WORDS)
    draw = rng.choices((real_word, letter_word, names.made_up_word, compound), weights=(3, 3, 2, 3))[0]
    return draw(rng)


def _tagged(rng: random.Random, word: str) -> str:
    tag = rng.choice(TAGS)
    return f"{word}{tag}" if rng.random() < 0.2 and tag[0].isdigit() else f"{word} {tag}"


def _shape(rng: random.Random, lexicon_p: float = 0.0) -> tuple[str, list[str]]:
    """A name of one to five words and the words in it that a reply could be judged by."""
    a, b, c = (core_word(rng, lexicon_p) for _ in range(3))
    pattern = rng.randrange(12)
    if pattern == 0:
        return a, [a]
    if pattern == 1:
        return f"{a} {b}", [a, b]
    if pattern == 2:
        return (f"The {a} {b}", [a, b]) if rng.random() < 0.6 else (f"The {a}", [a])
    if pattern == 3:
        joint = rng.choice(CONNECTORS)
        return f"{a} {joint} {b}", [a, b]
    if pattern == 4:
        joint = rng.choice(CONNECTORS)
        return f"{a} {b} {joint} {c}", [a, b, c]
    if pattern == 5:
        owner = rng.choice((*FIRST_NAMES, a))
        return f"{rng.choice((*TITLES, *[''] * 6))} {owner}'s {b}".strip(), [f"{owner}'s", b]
    if pattern == 6:
        return f"{rng.choice(NUMBER_WORDS)} {a} {b}", [a, b]
    if pattern == 7:
        return f"{rng.choice(TITLES)} {a}", [a]
    if pattern == 8:
        return _tagged(rng, a), [a]
    if pattern == 9:
        return f"{a} {b} {c}", [a, b, c]
    if pattern == 10:
        words = [core_word(rng, lexicon_p) for _ in range(rng.randint(4, 5))]
        return " ".join(words), words
    return f"{a} {b} {rng.choice(('Express', 'House', 'Club', 'Works', 'Co', 'Lab', 'Point', 'Station'))}", [a, b]


def _blocked_words() -> frozenset[str]:
    return frozenset(subject.lower() for _, _, subject in heldout.HANDWRITTEN_REVIEWS)


BLOCKED_WORDS = _blocked_words()


def _clean(word: str) -> str:
    return word.strip(".,?!:;\"").lower()


def broad_name(rng: random.Random, topic: str, lexicon_p: float = 0.0) -> Name:
    """A fresh name for a review `topic` in one of many shapes; never one holding a word that the
    hand-written held-out names are judged by."""
    while True:
        text, words = _shape(rng, lexicon_p)
        kind = rng.choice(KIND_WORDS[topic])
        if kind:
            text = f"{text} {kind}"
        if topic == "product" and not text.startswith("The ") and rng.random() < 0.6:
            text = f"the {text}"
        if not any(_clean(w) in BLOCKED_WORDS for w in text.split()):
            return Name(text, rng.choice(words))


# -------------------------------------------------------------------------------- requests
TYPE_WORDS = {
    "film": ("the film ", "the movie ", "the new film ", "the picture ", "", ""),
    "restaurant": ("the restaurant ", "the diner ", "the place called ", "", ""),
    "product": ("",),
    "place": ("", "", "the place called ", "a spot called "),
}
VERBS = (
    "review {x}", "write a review of {x}", "write a short review of {x}", "give a review of {x}",
    "tell me about {x}", "describe {x}", "sum up {x}", "rate {x}", "judge {x}", "assess {x}",
    "give your take on {x}", "give me your thoughts on {x}", "share your thoughts on {x}",
    "say what you think of {x}", "write a few lines about {x}", "critique {x}", "evaluate {x}",
    "talk about {x}", "tell me how {x} was", "let me know what you thought of {x}", "post a review of {x}",
    "give me the lowdown on {x}", "offer an opinion on {x}", "score {x} out of five", "size up {x}",
)
WRAPPERS = (
    "{C}.", "Please {c}.", "Could you {c}?", "Can you {c}?", "Would you {c}?", "I'd like you to {c}.",
    "Kindly {c}.", "{C}, please.", "{C} for me.", "Please {c} for me.", "Hey, {c}.", "Quick favor: {c}.",
    "Go ahead and {c}.", "Now {c}.", "I need you to {c}.", "Okay, {c}.", "Time to {c}.", "Will you {c}?",
    "Could you please {c}?", "Try to {c}.", "Mind if I ask you to {c}?", "Help me out and {c}.",
)
QUESTIONS = (
    "What's your take on {x}?", "How good is {x}?", "Thoughts on {x}?", "Any opinion about {x}?",
    "Is {x} any good?", "Did you like {x}?", "Would you recommend {x}?", "How would you rate {x}?",
    "{X}: good or bad?", "Was {x} good?", "Have you tried {x}?", "What about {x}?", "So, {x}. Worth it?",
    "{X} - what did you think?", "I keep hearing about {x}. Is it good?", "My friend loves {x}. What do you think?",
    "How did {x} turn out?", "Tell me honestly, is {x} worth it?", "Do you recommend {x}?",
    "What are your thoughts on {x}?", "{X}. Yes or no?", "Who would enjoy {x}?", "How does {x} hold up?",
    "Everyone talks about {x}. Is the hype real?", "I tried {x} yesterday. How was it for you?",
    "Heard of {x}? What did you make of it?", "Is {x} overrated?", "Good or bad: {x}?",
    "Was {x} a good choice?", "{X} - worth my time?", "How was {x}, honestly?",
)
LEADS = ("Hi! ", "Hello. ", "Quick question: ", "One more thing: ", "Okay. ", "Hey there. ")
TAILS = (" Thanks!", " I'm curious.", " Be honest.", " Just wondering.", " Thank you.")


def _template_clashes(template: str) -> bool:
    """Whether a request template (one "{name}") could have written a held-out prompt."""
    prefix, suffix = template.split("{name}")
    prompts = [prompt for _, prompt, _ in heldout.HANDWRITTEN_REVIEWS]
    if any(p.startswith(prefix) and p.endswith(suffix) and len(prefix) + len(suffix) < len(p) for p in prompts):
        return True
    return any(phrasing.replace("{name}", "{x}") == template.replace("{name}", "{x}")
               for phrasing in heldout.REVIEW_PHRASINGS) or template in heldout.REVIEW_PHRASINGS


def request_template(rng: random.Random, topic: str) -> str:
    """A review request with "{name}" where the name goes, composed from parts; never one that
    matches a held-out prompt's phrasing."""
    while True:
        x = rng.choice(TYPE_WORDS[topic]) + "{name}"
        if rng.random() < 0.5:
            core = rng.choice(VERBS).format(x=x)
            template = rng.choice(WRAPPERS).format(c=core, C=corpus._cap(core))
        else:
            template = rng.choice(QUESTIONS).format(x=x, X=corpus._cap(x) if x != "{name}" else x)
        if _template_clashes(template):
            continue
        lead = rng.choice(LEADS) if rng.random() < 0.15 else ""
        tail = rng.choice(TAILS) if rng.random() < 0.15 else ""
        return lead + template + tail


def broad_request(rng: random.Random, topic: str, lexicon_p: float = 0.0) -> tuple[str, Name]:
    """A review request and its name, both drawn broadly; the corpus's `_review` writes the reply."""
    name = broad_name(rng, topic, lexicon_p) if rng.random() < 0.8 else names.new_name(rng, topic)
    template = request_template(rng, topic) if rng.random() < 0.85 else rng.choice(
        corpus.lx.REVIEW_TOPICS[topic].prompts)
    text = name.text
    if template.startswith("{name}") and text.startswith("the "):
        text = "The " + text[4:]
    return template.format(name=text), name


def generate(n: int, seed: int, lexicon_p: float = 0.0) -> list[corpus.Example]:
    """`n` review examples with broad names and requests (a sixth of them with a stated
    preference); the same `seed` always gives the same examples. lexicon_p: the chance that a
    word of a name is one of the corpus's own words (0 draws exactly what earlier phases drew)."""
    if n < 0:
        raise ValueError(f"`n` has to be a non-negative int, but is {n}")
    if not 0 <= lexicon_p <= 1:
        raise ValueError(f"`lexicon_p` has to be in [0, 1], but is {lexicon_p}")
    ask = functools.partial(broad_request, lexicon_p=lexicon_p)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 1 / 6:
            want = frozenset(rng.sample(corpus.LABELS, rng.choice((1, 2, 3))))
            z = corpus.preference_text(rng, want)
            out.append(corpus._review(rng, want, lambda x, z=z: f"{x} {z}", ask=ask))
        else:
            out.append(corpus._review(rng, ask=ask))
    return out


def copied_whole(example: corpus.Example) -> bool:
    """Whether the reply holds the name's distinctive word (always, by construction)."""
    return re.search(rf"(?<![A-Za-z']){re.escape(example.subject)}(?![A-Za-z])", example.reply) is not None
