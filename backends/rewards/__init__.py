"""Rewards: the contract, the weighted mixture, and every registered reward.

Importing this package registers all rewards: every module of the package is imported (the
decorators run in their modules); the rewards of installed plugins (entry-point group
`decoder_playground.rewards`, docs/PLUGINS.md) join on the first look-up.
"""

from backends.registry import import_modules
from backends.rewards.base import (
    REWARDS,
    PrefixScorer,
    Reward,
    RewardContext,
    RewardModelRef,
    WeightedReward,
    check_weight,
)
from backends.rewards.embedding import DEFAULT_EMBEDDER, packaged_minilm

import_modules(__name__, __path__)

__all__ = ["DEFAULT_EMBEDDER", "REWARDS", "PrefixScorer", "Reward", "RewardContext", "RewardModelRef",
           "WeightedReward", "check_weight", "packaged_minilm"]
