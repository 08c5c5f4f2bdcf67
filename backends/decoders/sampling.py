"""Plain decoding from the base policy: greedy, temperature, top-k, top-p, with penalties.

The baseline every guided decoder must reduce to when its guidance weight is 0. Where a reward
is given it is only traced (the reward of each prefix is shown), never used to choose.
"""

from __future__ import annotations

import torch

from backends.decoders.base import DecodeContext, Run, Scores, TokenwiseDecoder
from backends.decoders.configs import DECODERS
from backends.sampling import process


@DECODERS.register("sampling")
class Sampling(TokenwiseDecoder):
    def greedy(self) -> bool:
        return self.config.temperature == 0

    def scores(self, ctx: DecodeContext, run: Run, logp: torch.Tensor) -> Scores:
        scores = process(run.policy.logits(), run.policy.ids, self.config)[0]  # (V,)
        support = torch.isfinite(scores).nonzero().squeeze(1)  # (k,)
        return Scores(scores=scores, candidates=support)
