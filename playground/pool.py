"""The arena's pool of decoder configurations, and how one battle picks its pair, sides, seed and prompt.

A pool is a JSON file (`$PLAYGROUND_ARENA_POOL`, by default `assets/arena/pool.json`):

    {"max_new_tokens": 48,                      # optional: else the preset's
     "configs": [{"decoder": "args", "config": {"w": 3}, "rewards": {"sentiment": 1},
                  "needs": ["baseline"]}, ...]}  # rewards optional (the preset's defaults); needs optional

Other top-level keys (an "about" note) are ignored. Every entry is checked when the pool is
loaded (a registered decoder, a valid config). Which entries can run depends on the preset: their
rewards must be offered by it, a decoder that needs a reward must have one, and each `needs`
names a preset field that must be set (TQ* needs a `baseline`).

A battle draws an unordered pair with weight 1 / (1 + votes the pair already has), so pairs with
few votes come up first, then a side for each at random; stored battles waiting for votes are
tried in a random order weighted the same way (`weighted_order`). Pure: the randomness is an injected
`random.Random`; no Gradio, no store (vote counts are passed in).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from backends.config import ConfigError, build_config
from backends.decoders import DECODERS
from backends.presets import Preset
from backends.registry import UnknownName
from playground.requests import rewards_for
from storage.validate import stored_label

DEFAULT_POOL = Path(__file__).resolve().parents[1] / "assets" / "arena" / "pool.json"
SEED_LIMIT = 2**31


class PoolError(ValueError):
    """A pool file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Contender:
    """One decoder configuration of the pool. `rewards` None: the preset's default rewards."""

    decoder: str
    config: Mapping[str, Any] = field(default_factory=dict)
    rewards: Mapping[str, float] | None = None
    needs: tuple[str, ...] = ()

    def resolved(self, preset: Preset) -> Contender:
        rewards = self.rewards if self.rewards is not None else preset.default_rewards
        return Contender(self.decoder, dict(self.config), {k: float(w) for k, w in rewards.items() if w}, self.needs)

    def label(self, preset: str) -> str:
        """The label storage gives this configuration's generations (the leaderboard's row name)."""
        full = build_config(DECODERS.card(self.decoder).Config, dict(self.config)).to_dict()
        return stored_label(self.decoder, full, dict(self.rewards or {}), preset)


@dataclass(frozen=True)
class Pool:
    contenders: tuple[Contender, ...]
    max_new_tokens: int | None = None
    source: str = ""


def load_pool(path: str | Path | None = None) -> Pool:
    """Read and check a pool file (None: the default one)."""
    where = Path(path) if path else DEFAULT_POOL
    try:
        data = json.loads(where.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PoolError(f"arena pool {where}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("configs"), list):
        raise PoolError(f'arena pool {where}: expected {{"configs": [...]}}')
    contenders = tuple(_contender(entry, where, i) for i, entry in enumerate(data["configs"]))
    max_new = data.get("max_new_tokens")
    if max_new is not None and (not isinstance(max_new, int) or max_new < 1):
        raise PoolError(f"arena pool {where}: max_new_tokens={max_new!r} must be a positive integer")
    return Pool(contenders, max_new, str(where))


def _contender(entry: Any, where: Path, i: int) -> Contender:
    what = f"arena pool {where}, configs[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("decoder"), str):
        raise PoolError(f'{what}: expected {{"decoder": NAME, "config": {{...}}, "rewards": {{...}}}}')
    unknown = sorted(set(entry) - {"decoder", "config", "rewards", "needs"})
    if unknown:
        raise PoolError(f"{what}: unknown keys {unknown}")
    rewards = entry.get("rewards")
    if rewards is not None and (not isinstance(rewards, dict)
                                or not all(isinstance(w, int | float) for w in rewards.values())):
        raise PoolError(f"{what}: rewards must map reward names to numbers, not {rewards!r}")
    try:
        build_config(DECODERS.card(entry["decoder"]).Config, dict(entry.get("config") or {}),
                     prefix=f"{entry['decoder']}.")
    except (UnknownName, ConfigError) as e:
        raise PoolError(f"{what}: {e}") from None
    return Contender(entry["decoder"], dict(entry.get("config") or {}), rewards, tuple(entry.get("needs") or ()))


def usable(pool: Pool, preset: Preset) -> list[Contender]:
    """The pool's entries that can run on `preset`, rewards resolved, duplicates dropped."""
    offered = set(rewards_for(preset))
    out: list[Contender] = []
    for entry in pool.contenders:
        c = entry.resolved(preset)
        if not set(c.rewards) <= offered or (DECODERS.card(c.decoder).needs_reward and not c.rewards):
            continue
        if all(getattr(preset, need, None) for need in c.needs) and c not in out:
            out.append(c)
    return out


def pair_weights(labels: Sequence[str], votes: Mapping[tuple[str, str], int]) -> list[tuple[tuple[int, int], float]]:
    """Every unordered pair (i < j) of distinct labels, weighted 1 / (1 + its votes)."""
    out = []
    for i, j in combinations(range(len(labels)), 2):
        if labels[i] != labels[j]:
            key = tuple(sorted((labels[i], labels[j])))
            out.append(((i, j), 1.0 / (1.0 + votes.get(key, 0))))
    return out


def pick_pair(labels: Sequence[str], votes: Mapping[tuple[str, str], int], rng: random.Random) -> tuple[int, int]:
    """Indices (a, b) of the next pair, in random order; pairs with few votes are likelier."""
    weighted = pair_weights(labels, votes)
    if not weighted:
        raise PoolError(f"the arena needs at least two different configurations; it has {len(set(labels))}")
    pairs, weights = zip(*weighted, strict=True)
    a, b = rng.choices(pairs, weights=weights)[0]
    return (a, b) if rng.random() < 0.5 else (b, a)


def weighted_order(weights: Sequence[float], rng: random.Random) -> list[int]:
    """Indices in a random order where heavier ones tend to come first (weighted sampling without
    replacement: sort by u ** (1 / w), Efraimidis and Spirakis)."""
    keys = [rng.random() ** (1.0 / w) if w > 0 else 0.0 for w in weights]
    return sorted(range(len(weights)), key=lambda i: -keys[i])


def pick_left(rng: random.Random) -> str:
    """Which generation ('a' or 'b') is shown on the left."""
    return rng.choice(("a", "b"))


def pick_seed(rng: random.Random) -> int:
    return rng.randrange(SEED_LIMIT)


def pick_prompt(items: Sequence[Mapping[str, Any]], judged: set[str], rng: random.Random) -> Mapping[str, Any]:
    """A prompt of the set the annotator has not judged yet (any, once they judged them all)."""
    if not items:
        raise PoolError("the prompt set is empty")
    fresh = [item for item in items if item["prompt"] not in judged]
    return rng.choice(fresh or list(items))
