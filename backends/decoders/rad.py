"""RAD: reward-augmented decoding (Deng & Raffel, EMNLP 2023, arXiv 2310.09520).

Over the base's top-k logits: logit(v) + beta * clamp(r(s + v), 0, 1), every other token
masked, sampled at temperature T (1 in the paper). `inverse` steers away (1 - r). The reward
is read from a unidirectional reward model whose cache follows the chosen token, so a step
feeds it exactly k new tokens. With beta = 0 it is top-k sampling.
"""

from __future__ import annotations

import torch

from backends.decoders.base import DecodeContext, Run, Scores, TokenwiseDecoder
from backends.decoders.candidates import scatter_scores, top_candidates
from backends.decoders.configs import DECODERS


@DECODERS.register("rad")
class Rad(TokenwiseDecoder):
    def scores(self, ctx: DecodeContext, run: Run, logp: torch.Tensor) -> Scores:
        c = self.config
        logits = run.policy.logits()[0]  # (V,)
        top = top_candidates(ctx, logits, c.k, f"{self.name}.k")  # (k,)
        reward, parts = run.scorer.score_candidates(top)  # (k,)
        r = reward.clamp(0.0, 1.0)
        if c.inverse:
            r = 1.0 - r
        score = (logits[top] + c.beta * r.to(logits.device)) / c.temperature  # (k,)
        return Scores(scatter_scores(logits, top, score), top, reward, parts)
