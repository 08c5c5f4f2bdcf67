"""DeAL: decoding-time alignment as heuristic search (Huang et al., arXiv 2402.06147).

For each of the base's top-k candidates z, look ahead greedily l tokens and score
c(z) = log P(y<=t | x) + lambda * h(lookahead), h the weighted reward (keyword coverage and
length are the natural programmatic heuristics; reward models work too); keep the best. An
optional alignment instruction is prepended to the prompt the policy sees (start-state
adaptation); rewards still judge the answer to the user's prompt. Lookaheads are forked from
the prefix cache and the chosen candidate's row is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.config import ConfigError
from backends.decoders.base import DecodeContext, Run, Scores, TokenwiseDecoder
from backends.decoders.candidates import scatter_scores, top_candidates
from backends.decoders.configs import DECODERS, SamplingParams
from backends.decoders.rollouts import fit_rollout, look_ahead, rollout_events
from backends.presets import format_prompt

GREEDY = SamplingParams(temperature=0.0)


@dataclass
class DealRun(Run):
    logp_prefix: float = 0.0  # log P(y<=t | x) of the committed prefix


@DECODERS.register("deal")
class Deal(TokenwiseDecoder):
    def greedy(self) -> bool:
        return True

    def begin(self, ctx: DecodeContext) -> DealRun:
        ids = self._instructed_ids(ctx) if self.config.instruction.strip() else ctx.prompt_ids
        return self.start_run(ctx, ids, DealRun)

    def _instructed_ids(self, ctx: DecodeContext) -> list[int]:
        text = f"{self.config.instruction.strip()} {ctx.request.prompt}"
        ids = ctx.lm.encode_prompt(format_prompt(ctx.preset, text, ctx.lm.tokenizer) if ctx.preset else text)
        if ctx.lm.max_length and len(ids) + ctx.max_new_tokens > ctx.lm.max_length:
            raise ConfigError("deal.instruction", self.config.instruction,
                              f"with it the prompt takes {len(ids)} of {ctx.lm.max_length} tokens, too few remain")
        return ids

    def scores(self, ctx: DecodeContext, run: DealRun, logp: torch.Tensor) -> Scores:
        c = self.config
        top = top_candidates(ctx, logp, c.k, "deal.k")  # (k,)
        length, note = fit_rollout(ctx, run.policy, c.lookahead)
        look = look_ahead(ctx, run.policy, run.scorer, top, 1, length, GREEDY)
        h = look.total[:, 0]  # (k,)
        score = run.logp_prefix + logp[top] + c.lam * h
        return Scores(scatter_scores(logp, top, score), top, reward=look.cand_total, parts=look.cand_parts or {},
                      value=h, states=look.states, rollouts=rollout_events(len(run.ids), top, look), note=note)

    def commit(self, ctx: DecodeContext, run: DealRun, token: int, verdict: Scores) -> None:
        """log P(y<=t | x) of the chosen prefix: its score less the heuristic term."""
        row = verdict.candidates.tolist().index(token)
        run.logp_prefix = float(verdict.scores[token] - self.config.lam * verdict.value[row])
