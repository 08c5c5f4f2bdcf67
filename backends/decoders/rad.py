"""RAD: reward-augmented decoding (Deng & Raffel, EMNLP 2023, arXiv 2310.09520).

Over the base's top-k logits: logit(v) + beta * clamp(r(s + v), 0, 1), every other token
masked, sampled at temperature T (1 in the paper). `inverse` steers away (1 - r). The reward
is read from a unidirectional reward model whose cache follows the chosen token, so a step
feeds it exactly k new tokens. With beta = 0 it is top-k sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.config import Config, param
from backends.decoders.base import DECODERS, DecodeContext, Run, Scores, TokenwiseDecoder
from backends.decoders.candidates import scatter_scores, top_candidates


@dataclass(frozen=True)
class RadConfig(Config):
    k: int = param(20, low=1, high=1000, help="Candidates: the base policy's top-k logits")
    beta: float = param(10.0, low=0.0, high=1000.0, step=0.5,
                        help="beta on clamp(r, 0, 1): needs a squashed reward (sigmoid/softmax; a raw logit is "
                             "clamped); paper: 10 to 50; 0 is plain top-k sampling")
    inverse: bool = param(False, help="Steer away from the reward (use 1 - r)")
    temperature: float = param(1.0, low=0.01, high=5.0, step=0.05, help="Sampling temperature")


@DECODERS.register("rad")
class Rad(TokenwiseDecoder):
    Config = RadConfig
    needs_reward = True
    summary = "RAD: top-k logits + beta * clamp(reward, 0, 1), sampled."
    paper = "Deng & Raffel, EMNLP 2023, arXiv 2310.09520"

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
