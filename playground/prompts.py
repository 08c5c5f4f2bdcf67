"""Example prompt sets shipped under assets/prompts (JSONL: {"prompt", "keywords"?, "tags"?})."""

from __future__ import annotations

import json
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "assets" / "prompts"


def load_prompt_set(name: str, folder: Path = PROMPTS_DIR) -> list[dict]:
    path = folder / f"{name}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def examples(names: tuple[str, ...], per_set: int = 8) -> list[tuple[str, str]]:
    """(label, prompt) pairs for a dropdown: the first few prompts of each set."""
    out = []
    for name in names:
        for item in load_prompt_set(name)[:per_set]:
            out.append((f"[{name}] {item['prompt']}", json.dumps(item)))
    return out


def prompt_sets(first: tuple[str, ...] = (), folder: Path = PROMPTS_DIR) -> list[str]:
    """Names of the prompt sets under `folder`, those in `first` (a preset's) leading."""
    found = sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []
    return [n for n in first if n in found] + [n for n in found if n not in first]
