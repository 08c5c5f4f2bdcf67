"""Plain decoding from the base policy: greedy, temperature, top-k, top-p, with penalties.

The baseline every guided decoder must reduce to when its guidance weight is 0. Where a reward
is given it is only traced (the reward of each prefix is shown), never used to choose.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.decoders.base import DECODERS, DecodeContext, Run, Scores, TokenwiseDecoder
from backends.sampling import SamplingParams, process


@dataclass(frozen=True)
class SamplingConfig(SamplingParams):
    pass


@DECODERS.register("sampling")
class Sampling(TokenwiseDecoder):
    Config = SamplingConfig
    summary = "Ancestral sampling from the base policy (temperature 0 = greedy)."
    paper = "baseline"

    def greedy(self) -> bool:
        return self.config.temperature == 0

    def scores(self, ctx: DecodeContext, run: Run, logp: torch.Tensor) -> Scores:
        scores = process(run.policy.logits(), run.policy.ids, self.config)[0]  # (V,)
        support = torch.isfinite(scores).nonzero().squeeze(1)  # (k,)
        return Scores(scores=scores, candidates=support)
