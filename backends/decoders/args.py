"""ARGS: reward-guided search over the base policy's top-k (Khanov et al., ICLR 2024, arXiv 2402.01694).

score(v) = log pi_base(v | s) + w * r(s + v) for v in the top-k of the base; greedy takes the
argmax, stochastic samples softmax(score / T). The reward of each candidate comes from the
reward's token-level fast path (a cached prefix reward model: k new reward tokens a step).
Unlike the official code it stops at EOS and needs no deprecated cache API.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.config import Config, param
from backends.decoders.base import DECODERS, DecodeContext, Run, Scores, TokenwiseDecoder
from backends.decoders.candidates import scatter_scores, top_candidates


@dataclass(frozen=True)
class ArgsConfig(Config):
    k: int = param(10, low=1, high=1000, help="Candidates: the base policy's top-k next tokens")
    w: float = param(1.0, low=-100.0, high=100.0, step=0.1,
                     help="w in log p + w * r, r on the reward's scale: the zoo reads a sigmoid (0..1); the "
                          "paper's w = 1-1.5 multiplies the raw logit (set the reward's output=raw)")
    mode: str = param("greedy", choices=("greedy", "sample"), help="Take the best score, or sample softmax(score/T)")
    temperature: float = param(1.0, low=0.01, high=5.0, step=0.05, help="Temperature of the sample mode")


@DECODERS.register("args")
class Args(TokenwiseDecoder):
    Config = ArgsConfig
    needs_reward = True
    summary = "ARGS: log p_base + w * reward over the top-k candidates."
    paper = "Khanov et al., ICLR 2024, arXiv 2402.01694"

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
