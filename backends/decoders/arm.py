"""ARM decoding: RAD's rule with a low-rank autoregressive reward model (arXiv 2407.04615).

The steering reward comes from the preset's ARM head for each weighted reward: one reward-model
call per generated token scores all k candidates (RAD needs k). The final text is still judged
by the full reward models. ARM scores the policy's token ids directly, so it refuses a head
whose tokenizer differs from the policy's.
"""

from __future__ import annotations

from backends.config import ConfigError
from backends.decoders.base import DecodeContext
from backends.decoders.configs import DECODERS
from backends.decoders.rad import Rad
from backends.rewards.arm import ArmPrefixScorer
from backends.rewards.base import WeightedPrefixScorer


@DECODERS.register("arm")
class Arm(Rad):
    def make_scorer(self, ctx: DecodeContext) -> WeightedPrefixScorer:
        heads = dict(ctx.preset.arm_models) if ctx.preset is not None else {}
        scorers = {}
        for name in ctx.reward.weights:
            if name not in heads:
                raise ConfigError(f"reward {name}", ctx.reward.weights[name],
                                  f"preset {getattr(ctx.preset, 'name', '?')!r} has no ARM head for it; "
                                  f"ARM heads: {', '.join(heads) or 'none'}")
            stack = ctx.models.arm(heads[name])
            if not stack.shares_tokenizer(ctx.lm.vocab()):
                raise ConfigError(f"arm head {name}", heads[name],
                                  "its tokenizer differs from the policy's; ARM scores the policy's token ids")
            scorers[name] = ArmPrefixScorer(stack, ctx.prompt_ids, ctx.meter)
        return WeightedPrefixScorer(ctx.reward, scorers)
