"""Transfer Q* (Chakraborty et al., NeurIPS 2024, arXiv 2405.20495).

CD's shape, but Q*(s, z) is estimated by rolling out an aligned baseline model rho_BL from
s + z: score(z) = log p_base(z | s) + alpha * Q. Direct transfer: rho_BL is aligned to the
target reward r itself. Indirect: rho_BL is aligned to another reward r_BL, and each rollout's
r is weighted by exp((r - r_BL) / beta) (the official code's correction, with r_BL really a
different model; beta = 2 as in the official code, rollouts of 5 tokens). The baseline keeps its
own prefix cache, forked k ways a step and moved to the chosen candidate, and a reward model that
shares the tokenizer scores rollouts from its own cached prefix (candidate + rollout tokens only):
nothing is re-encoded (the official code re-encodes every prefix for every candidate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.config import ConfigError
from backends.decoders.base import DecodeContext, Run, Scorer, Scores
from backends.decoders.cd import ValueGuided
from backends.decoders.configs import DECODERS
from backends.decoders.rollouts import Lookahead
from backends.lm import LMState
from backends.rewards import WeightedReward


@dataclass
class TqRun(Run):
    baseline: LMState | None = None  # (1 row) rho_BL at the prefix
    bl_scorer: Scorer | None = None  # indirect transfer: r_BL, cached like the target reward


@DECODERS.register("tqstar")
class TransferQStar(ValueGuided):
    def rollout_len(self) -> int:
        c = self.config
        return c.rollout_len or (5 if c.transfer == "indirect" else 20)

    def begin(self, ctx: DecodeContext) -> TqRun:
        """Load rho_BL and prefill the prompt into its cache, once per run."""
        c = self.config
        model_id = c.baseline or (ctx.preset.baseline if ctx.preset else None)
        if not model_id:
            raise ConfigError("tqstar.baseline", c.baseline, "this preset names no aligned baseline")
        baseline = ctx.models.language_model(model_id)
        if baseline.vocab() != ctx.lm.vocab():
            raise ConfigError("tqstar.baseline", model_id, "its tokenizer differs from the policy's")
        bl_scorer = None
        if c.transfer == "indirect":
            if set(ctx.reward.weights) == {c.baseline_reward}:
                raise ConfigError("tqstar.baseline_reward", c.baseline_reward,
                                  "is the target reward itself, so the correction exp((r - r_BL) / beta) is always "
                                  "1; give the reward the baseline was aligned to, which must differ from the target")
            bl_reward = ctx.models.reward_for(c.baseline_reward, ctx.preset, ctx.lm, ctx.request)
            bl_scorer = WeightedReward({c.baseline_reward: (bl_reward, 1.0)}, ctx.meter).prefix_scorer(
                ctx.prompt_text, ctx.prompt_ids, ctx.lm)
        return self.start_run(ctx, ctx.prompt_ids, TqRun, baseline=baseline.start(ctx.prompt_ids, ctx.meter),
                              bl_scorer=bl_scorer)

    def rollout_state(self, run: TqRun) -> LMState:
        return run.baseline

    def q_values(self, ctx: DecodeContext, run: TqRun, cands: torch.Tensor, look: Lookahead) -> torch.Tensor:
        r = look.total  # (k, n)
        if run.bl_scorer is not None:
            r_bl = run.bl_scorer.score_rollouts(cands, [[s.ids for s in row] for row in look.samples]).total  # (k, n)
            r = torch.exp((r - r_bl) / self.config.beta) * r
        return r.mean(-1)  # (k,)

    def commit(self, ctx: DecodeContext, run: TqRun, token: int, verdict: Scores) -> None:
        if run.bl_scorer is not None:
            run.bl_scorer.advance(token)
        cands = verdict.candidates.tolist()
        if token != ctx.lm.eos_token_id and token in cands:
            run.baseline = verdict.rollout_states.select([cands.index(token)])
