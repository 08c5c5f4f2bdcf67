"""The evaluation prompt sets (assets/prompts/{reviews,keywords,questions}.jsonl), drawn from the
corpus's templates, and a small command line that prints corpus samples or rewrites the sets.

    python -m backends.zoo.prompt_sets --n 5          # five corpus examples with their labels
    python -m backends.zoo.prompt_sets --write-prompts

The held-out sets (names and keywords the corpus never uses) live in heldout.py.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from backends.zoo.corpus import (
    PROMPTS_DIR,
    QUESTION_TOPICS,
    REVIEW_TOPICS,
    _keyword_prompt,
    _question_prompt,
    _review_prompt,
    generate,
)


def _distinct(draw: Callable[[int], dict], n: int) -> list[dict]:
    """`n` items with distinct prompts; `draw` gets the number of items accepted so far."""
    items: dict[str, dict] = {}
    for _ in range(100 * n):
        item = draw(len(items))
        items.setdefault(item["prompt"], item)
        if len(items) == n:
            return list(items.values())
    raise RuntimeError(f"could not draw {n} distinct prompts")


def prompt_sets(seed: int = 1234) -> dict[str, list[dict]]:
    """Evaluation prompts from the corpus templates, balanced over topics / keyword counts:
    48 reviews, 48 keyword requests, 40 questions, each {"prompt", "tags"} (+ "keywords")."""
    rng = random.Random(seed)

    def review(i: int) -> dict:
        topic = REVIEW_TOPICS[i % len(REVIEW_TOPICS)]
        prompt, name = _review_prompt(rng, topic)
        return {"prompt": prompt, "tags": ["review", topic], "subject": name.distinctive}

    def keywords(i: int) -> dict:
        count = 2 + i % 3
        prompt, requested = _keyword_prompt(rng, count)
        tags = ["keywords", f"{count}-keywords"]
        return {"prompt": prompt, "tags": tags, "keywords": list(requested.values())}

    def question(i: int) -> dict:
        topic = QUESTION_TOPICS[i % len(QUESTION_TOPICS)]
        return {"prompt": _question_prompt(rng, topic), "tags": ["question", topic]}

    return {"reviews": _distinct(review, 48), "keywords": _distinct(keywords, 48), "questions": _distinct(question, 40)}


def write_prompts(directory: Path = PROMPTS_DIR) -> list[Path]:
    """(Re)write `{reviews,keywords,questions}.jsonl` from prompt_sets(), one object per line."""
    directory.mkdir(parents=True, exist_ok=True)
    return [_write_jsonl(directory / f"{name}.jsonl", items) for name, items in prompt_sets().items()]


def _write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="ascii")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print sample texts of the zoo corpus, or rewrite its prompt sets.")
    parser.add_argument("--n", type=int, default=5, help="number of examples to print")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--write-prompts", action="store_true", help=f"rewrite the prompt sets in {PROMPTS_DIR}")
    args = parser.parse_args(argv)
    if args.write_prompts:
        for path in write_prompts():
            print(f"wrote {path}")
        return
    for e in generate(args.n, args.seed):
        labels = f"sentiment={e.sentiment:.2f} informative={e.informative:.2f} politeness={e.politeness:.2f}"
        print(f"# {e.kind}/{e.topic} {labels}\n{e.text}\n")


if __name__ == "__main__":
    main()
