"""ARGS: reward-guided search over the base policy's top-k (Khanov et al., ICLR 2024, arXiv 2402.01694).

score(v) = log pi_base(v | s) + w * r(s + v) for v in the top-k of the base; greedy takes the
argmax, stochastic samples softmax(score / T). The reward of each candidate comes from the
reward's token-level fast path (a cached prefix reward model: k new reward tokens a step).
Unlike the official code it stops at EOS and needs no deprecated cache API.
"""

from __future__ import annotations

import torch

from backends.decoders.base import DecodeContext, Run, Scores, TokenwiseDecoder
from backends.decoders.candidates import scatter_scores, top_candidates
from backends.decoders.configs import DECODERS


@DECODERS.register("args")
class Args(TokenwiseDecoder):
    def greedy(self) -> bool:
        return self.config.mode == "greedy"

    def scores(self, ctx: DecodeContext, run: Run, logp: torch.Tensor) -> Scores:
        c = self.config
        top = top_candidates(ctx, logp, c.k, "args.k")  # (k,)
        reward, parts = run.scorer.score_candidates(top)  # (k,)
        score = logp[top] + c.w * reward  # (k,)
        if not self.greedy():
            score = score / c.temperature
        return Scores(scatter_scores(logp, top, score), top, reward, parts)
