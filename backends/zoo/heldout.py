"""Held-out prompts the zoo never trained on: new names, new phrasings, new keyword sets.

What it is: review prompts naming things the corpus never named -- names from the corpus's own
generator under an unused seed, and hand-written names built outside it (other shapes, real and
invented words) asked in phrasings the corpus does not use -- each with its distinctive word; and
keyword requests mixing the corpus's keywords with words it never asks for, in new phrasings.
They feed the zoo's on-topic bar (check.on_topic_rate) and the evaluator's held-out prompt files
`assets/prompts/heldout_reviews.jsonl` and `heldout_keywords.jsonl` (`--write`).
What it is not: no training data; corpus.generate never draws from here.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path

from backends.zoo import corpus, names
from backends.zoo import lexicon as lx

HELDOUT_SEED = 4_242  # names and prompts; the corpus uses 0 (train), 1 (held-out), 11 (pairs)

# (topic, prompt, distinctive word): names no pattern of names.py builds, phrasings of their own.
HANDWRITTEN_REVIEWS: tuple[tuple[str, str, str], ...] = (
    ("film", "Please write a review of the film Moonlit Parade.", "Moonlit"),
    ("film", "I want your honest opinion on the movie Harbor Lights at Dawn.", "Dawn"),
    ("film", "Could you review the film Seven Paper Boats?", "Boats"),
    ("film", "What is your verdict on the film Glasswing?", "Glasswing"),
    ("film", "Please review the movie Operation Marmalade.", "Marmalade"),
    ("film", "Share a short review of the film The Clockmaker's Daughter.", "Clockmaker's"),
    ("film", "What do you make of the film Night Train to Varnia?", "Varnia"),
    ("film", "Rate the film Tumbleweed Express for me.", "Tumbleweed"),
    ("film", "Give me a quick review of the film Saltwater Kings.", "Saltwater"),
    ("film", "Was the film Little Bonfire worth seeing?", "Bonfire"),
    ("restaurant", "Please review the restaurant Papa Joe's Pizzeria.", "Joe's"),
    ("restaurant", "What was your experience at the Blue Heron Noodle House?", "Heron"),
    ("restaurant", "Could you write a review of the restaurant Saffron Alley?", "Saffron"),
    ("restaurant", "Rate your dinner at Chez Margot.", "Margot"),
    ("restaurant", "Was the food good at The Rusty Spoon?", "Rusty"),
    ("restaurant", "Please share a review of the Golden Wok.", "Wok"),
    ("restaurant", "What do you make of the restaurant Olive and Thyme?", "Thyme"),
    ("restaurant", "I want your honest opinion on Burger Barn Express.", "Barn"),
    ("restaurant", "Could you review the Little Lisbon Cafe?", "Lisbon"),
    ("restaurant", "Give me a quick review of the restaurant Mango Tree.", "Mango"),
    ("product", "Please review the Nimbus X2 blender.", "Nimbus"),
    ("product", "What is your verdict on the AeroGlide hair dryer?", "AeroGlide"),
    ("product", "Could you write a review of the Pocketbeam flashlight?", "Pocketbeam"),
    ("product", "I want your honest opinion on the SnapCube camera.", "SnapCube"),
    ("product", "Rate the Thunderbolt Mini speaker for me.", "Thunderbolt"),
    ("product", "Share a short review of the Featherlite backpack.", "Featherlite"),
    ("product", "Was the Cobalt Z9 phone worth the money?", "Cobalt"),
    ("product", "Give me a quick review of the Quietbrew coffee maker.", "Quietbrew"),
    ("product", "What do you make of the Orbitron robot vacuum?", "Orbitron"),
    ("product", "Please review the Luma Halo reading lamp.", "Luma"),
    ("place", "Please review Whispering Pines National Park.", "Whispering"),
    ("place", "What was your trip to Port Coralline like?", "Coralline"),
    ("place", "Could you write a review of Thornbury Castle Gardens?", "Thornbury"),
    ("place", "Rate your day at Blackwater Marsh.", "Blackwater"),
    ("place", "I want your honest opinion on Sunset Point.", "Sunset"),
    ("place", "Share a short review of the Kestrel Ridge trail.", "Kestrel"),
    ("place", "Was Emerald Lagoon worth the drive?", "Lagoon"),
    ("place", "Give me a quick review of Old Harbor Market.", "Market"),
    ("place", "What do you make of Saint Elmo Bay?", "Elmo"),
    ("place", "Please review the Painted Desert Overlook.", "Overlook"),
)
# New phrasings for review requests that name a generator-made subject.
REVIEW_PHRASINGS = (
    "Please write a review of {name}.", "I want your honest opinion on {name}.", "Could you review {name}?",
    "What is your verdict on {name}?", "Share a short review of {name}.", "Give me a quick review of {name}.",
    "What do you make of {name}?", "Rate {name} for me.",
)
KEYWORD_PHRASINGS = (
    "Compose one sentence that contains {words}.", "Put {words} together in a single sentence.",
    "I need a sentence including {words}.", "Form a sentence out of {words}.",
    "Write one line that mentions {words}.",
)


def generator_reviews(n: int, seed: int = HELDOUT_SEED, phrasings: Sequence[str] | None = None) -> list[dict]:
    """`n` review prompts with fresh generator names, topics in turn; the corpus's own request
    templates unless `phrasings` are given."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        topic = corpus.REVIEW_TOPICS[i % len(corpus.REVIEW_TOPICS)]
        name = names.new_name(rng, topic)
        templates = phrasings or lx.REVIEW_TOPICS[topic].prompts
        items.append({"prompt": rng.choice(templates).format(name=name.text), "subject": name.distinctive,
                      "tags": ["review", topic, "generator-name"]})
    return items


def handwritten_reviews() -> list[dict]:
    return [{"prompt": prompt, "subject": subject, "tags": ["review", topic, "handwritten-name"]}
            for topic, prompt, subject in HANDWRITTEN_REVIEWS]


# The preference PRS states on the held-out reviews: the embedded preset's default reward in words.
REVIEW_PREFERENCE = "Be enthusiastic and detailed."


def heldout_reviews(n: int = 32) -> list[dict]:
    """Half generator names in new phrasings, half hand-written names, topics balanced; each row
    carries PRS's preference."""
    generated = generator_reviews(n // 2, HELDOUT_SEED + 1, REVIEW_PHRASINGS)
    written = handwritten_reviews()
    per_topic = (n - n // 2) // len(corpus.REVIEW_TOPICS)
    by_topic = [[item for item in written if item["tags"][1] == topic][:per_topic] for topic in corpus.REVIEW_TOPICS]
    chosen = [group[i] for i in range(per_topic) for group in by_topic]
    return [{**item, "preference": REVIEW_PREFERENCE} for pair in zip(generated, chosen, strict=True)
            for item in pair]


def heldout_keywords(n: int = 32, seed: int = HELDOUT_SEED) -> list[dict]:
    """Keyword requests in new phrasings, each with one or two words the corpus never asks for."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        count = 2 + i % 3
        slots = rng.sample(corpus.KEYWORD_SLOTS, count)
        new = set(rng.sample(slots, 1 + (count == 4)))
        words = [rng.choice(lx.HELDOUT_KEYWORD_WORDS[s] if s in new else lx.KEYWORD_WORDS[s]) for s in slots]
        prompt = rng.choice(KEYWORD_PHRASINGS).format(words=corpus._listed(words))
        items.append({"prompt": prompt, "keywords": words, "tags": ["keywords", f"{count}-keywords", "heldout"]})
    return items


def prompt_files() -> dict[str, list[dict]]:
    return {"heldout_reviews": heldout_reviews(), "heldout_keywords": heldout_keywords()}


def write(directory: Path = corpus.PROMPTS_DIR) -> list[Path]:
    paths = []
    for name, items in prompt_files().items():
        path = directory / f"{name}.jsonl"
        path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="ascii")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Held-out prompts of the zoo.")
    parser.add_argument("--write", action="store_true",
                        help=f"rewrite the held-out prompt files in {corpus.PROMPTS_DIR}")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(f"wrote {path}")
        return
    for items in prompt_files().values():
        for item in items[:6]:
            print(json.dumps(item))


if __name__ == "__main__":
    main()
