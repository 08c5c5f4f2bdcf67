"""The implicit DPO reward: beta * (log pi_aligned(y | x) - log pi_ref(y | x)).

A DPO-trained policy defines a reward through its log ratio to the reference (Rafailov et al.,
2023). Both models must share a tokenizer: the continuation is scored token for token under
each. `normalize` divides by the continuation's length (the length-normalised margin of SimPO
and FPO). Scoring re-encodes prompt + continuation in full, so it has no token-level fast path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from backends.config import ConfigError
from backends.lm import sequence_logprobs
from backends.rewards.base import Reward, RewardContext
from backends.rewards.configs import REWARDS, ImplicitConfig


@REWARDS.register("dpo_implicit")
class ImplicitDpoReward(Reward):
    uses_model = True

    def __init__(self, config: ImplicitConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        aligned = config.aligned or ctx.preset_model("baseline")
        reference = config.reference or ctx.preset_model("base")
        if not aligned:
            raise ConfigError("dpo_implicit.aligned", config.aligned, "this preset names no aligned baseline; give one")
        self.aligned, self.reference = ctx.causal_lm(aligned), ctx.causal_lm(reference)
        if self.aligned.vocab() != self.reference.vocab():
            raise ConfigError("dpo_implicit.aligned", aligned,
                              f"its tokenizer differs from the reference {reference}'s")

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        prompt_ids = self.aligned.encode(prompt)
        conts = [self.aligned.encode(c) for c in continuations]
        ratio = (sequence_logprobs(self.aligned, prompt_ids, conts, self.meter)
                 - sequence_logprobs(self.reference, prompt_ids, conts, self.meter))
        if self.config.normalize:
            ratio = ratio / torch.tensor([max(len(c), 1) for c in conts], dtype=ratio.dtype)
        return self.config.beta * ratio
