"""Rewards: the contract, the weighted mixture, and every registered reward.

Importing this package registers all rewards (the decorators run in their modules).
"""

from backends.rewards import classifier, embedding, implicit, programmatic  # noqa: F401  (registration)
from backends.rewards.base import (
    REWARDS,
    PrefixScorer,
    Reward,
    RewardContext,
    RewardModelRef,
    WeightedReward,
    check_weight,
)

__all__ = ["REWARDS", "PrefixScorer", "Reward", "RewardContext", "RewardModelRef", "WeightedReward",
           "check_weight"]
