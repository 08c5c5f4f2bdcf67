"""Rewards: the contract, the weighted mixture, the registry, and every reward.

Importing this package imports no torch: it declares every reward with its card
(`backends.rewards.configs`), which is all the UI needs to build its page. A reward's module is
imported by `REWARDS.get(name)`; the contract (`Reward`, `WeightedReward`, ...) by its first use
here. The rewards of installed plugins (entry-point group `decoder_playground.rewards`,
docs/PLUGINS.md) join on the first look-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backends.rewards.configs import DEFAULT_EMBEDDER, REWARDS, RewardCard, RewardModelRef, packaged_minilm

if TYPE_CHECKING:
    from backends.rewards.base import PrefixScorer, Reward, RewardContext, WeightedReward, check_weight

_CONTRACT = ("PrefixScorer", "Reward", "RewardContext", "WeightedReward", "check_weight")  # rewards.base (torch)


def __getattr__(name: str) -> Any:
    if name in _CONTRACT:
        return getattr(importlib.import_module("backends.rewards.base"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_EMBEDDER", "REWARDS", "PrefixScorer", "Reward", "RewardCard", "RewardContext", "RewardModelRef",
           "WeightedReward", "check_weight", "packaged_minilm"]
