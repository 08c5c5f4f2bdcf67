"""Transfer Q* (Chakraborty et al., NeurIPS 2024, arXiv 2405.20495).

CD's shape, but Q*(s, z) is estimated by rolling out an aligned baseline model rho_BL from
s + z: score(z) = log p_base(z | s) + alpha * Q. Direct transfer: rho_BL is aligned to the
target reward r itself. Indirect: rho_BL is aligned to another reward r_BL, and each rollout's
r is weighted by exp((r - r_BL) / beta) (the official code's correction, with r_BL really a
different model). The baseline keeps its own prefix cache, forked k ways a step and moved to
the chosen candidate: nothing is re-encoded (the official code re-encodes every prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.config import ConfigError, param
from backends.decoders.base import DECODERS, DecodeContext, Scores
from backends.decoders.cd import CdConfig, ValueGuided
from backends.lm import LMState


@dataclass(frozen=True)
class TqConfig(CdConfig):
    lam: float = param(1.0, low=0.0, high=1000.0, step=0.1, help="alpha in log p_base + alpha * Q")
    rollout_len: int = param(20, low=1, high=256, help="L: tokens per rollout (paper: 20 direct, 5 indirect)")
    rollout_temperature: float = param(0.0, low=0.0, high=5.0, step=0.05,
                                       help="Temperature of the baseline's rollouts (0 greedy)")
    transfer: str = param("direct", choices=("direct", "indirect"),
                          help="direct: rho_BL is aligned to r; indirect: to baseline_reward, corrected")
    baseline: str = param("", help="Aligned baseline model id; empty: the preset's")
    baseline_reward: str = param("", help="Indirect transfer: the reward r_BL the baseline is aligned to")
    beta: float = param(1.0, low=0.01, high=100.0, help="Indirect transfer: weight exp((r - r_BL) / beta)")

    def check(self) -> None:
        if self.transfer == "indirect" and not self.baseline_reward:
            raise ConfigError("tqstar.baseline_reward", self.baseline_reward,
                              "indirect transfer needs the reward the baseline is aligned to, e.g. politeness")


@DECODERS.register("tqstar")
class TransferQStar(ValueGuided):
    Config = TqConfig
    needs_reward = True
    summary = "TQ*: log p_base + alpha * Q, Q from an aligned baseline's rollouts."
    paper = "Chakraborty et al., NeurIPS 2024, arXiv 2405.20495"

    def begin(self, ctx: DecodeContext) -> None:
        """Load rho_BL and prefill the prompt into its cache, once per run."""
        self._bl_reward = None
        model_id = self.config.baseline or (ctx.preset.baseline if ctx.preset else None)
        if not model_id:
            raise ConfigError("tqstar.baseline", self.config.baseline, "this preset names no aligned baseline")
        baseline = ctx.models.language_model(model_id)
        if baseline.vocab() != ctx.lm.vocab():
            raise ConfigError("tqstar.baseline", model_id, "its tokenizer differs from the policy's")
        self._bl = baseline.start(self.prompt_ids(ctx), ctx.meter)
        if self.config.transfer == "indirect":
            self._bl_reward = ctx.models.reward_for(self.config.baseline_reward, ctx.preset, ctx.lm, ctx.request)

    def rollout_state(self, ctx: DecodeContext, state: LMState) -> LMState:
        return self._bl

    def q_values(self, ctx: DecodeContext, look) -> torch.Tensor:
        r = look.total  # (k, n)
        if self._bl_reward is not None:
            ctx.meter.reward_tokens += self._bl_reward.tokens_processed(ctx.prompt_text, look.full)
            r_bl = self._bl_reward.score(ctx.prompt_text, look.full).view_as(r)  # (k, n)
            r = torch.exp((r - r_bl) / self.config.beta) * r
        return r.mean(-1)  # (k,)

    def commit(self, ctx: DecodeContext, token: int, verdict: Scores) -> None:
        cands = verdict.candidates.tolist()
        if token != ctx.lm.eos_token_id and token in cands:
            self._bl = verdict.rollout_states.select([cands.index(token)])
