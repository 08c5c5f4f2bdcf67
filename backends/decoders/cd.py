"""Controlled decoding (Mudgal et al., ICML 2024, arXiv 2310.17022), token-level and blockwise.

Token-level (`cd`): for each of the base's top-k candidates z, estimate Q(s, z) by rolling out
the base policy from s + z (n rollouts of up to L tokens, stopping at EOS) and scoring each
text with the weighted reward; score = log p_base(z) + lambda * Q. The candidate rows are
forked from the prefix cache and the chosen one is kept, so a step costs k * L LM tokens.
Blockwise (`cd_block`): draw K blocks of M tokens from the base, keep the best by reward,
repeat; M = the whole answer is best-of-K.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from backends.decoders.base import DecodeContext, Decoder, Run, Scores, TokenwiseDecoder
from backends.decoders.candidates import scatter_scores, top_candidates
from backends.decoders.configs import DECODERS, SamplingParams
from backends.decoders.rollouts import Lookahead, fit_rollout, look_ahead, rollout_events, sample_batch
from backends.decoders.sequence import Replay, score_texts
from backends.events import Event, Rollout
from backends.lm import LMState


class ValueGuided(TokenwiseDecoder):
    """Shared by CD and TQ*: Q from rollouts of a model kept at the prefix, greedy or sampled selection."""

    def greedy(self) -> bool:
        return self.config.mode == "greedy"

    def rollout_len(self) -> int:
        return self.config.rollout_len

    def rollout_state(self, run: Run) -> LMState:
        return run.policy

    def q_values(self, ctx: DecodeContext, run: Run, cands: torch.Tensor, look: Lookahead) -> torch.Tensor:
        return look.total.mean(-1)  # (k,)

    def scores(self, ctx: DecodeContext, run: Run, logp: torch.Tensor) -> Scores:
        c = self.config
        top = top_candidates(ctx, logp, c.k, f"{self.name}.k")  # (k,)
        roller = self.rollout_state(run)
        length, note = fit_rollout(ctx, roller, self.rollout_len())
        look = look_ahead(ctx, roller, run.scorer, top, c.rollouts, length,
                          SamplingParams(temperature=c.rollout_temperature))
        q = self.q_values(ctx, run, top, look)  # (k,)
        score = logp[top] + c.lam * q
        if not self.greedy():
            score = score / c.temperature
        return Scores(scatter_scores(logp, top, score), top, reward=look.cand_total, parts=look.cand_parts or {},
                      value=q, states=look.states if roller is run.policy else None, rollout_states=look.states,
                      rollouts=rollout_events(len(run.ids), top, look), note=note)


@DECODERS.register("cd")
class ControlledDecoding(ValueGuided):
    """Q from the base policy's own rollouts: ValueGuided as it stands (settings: configs.CdConfig)."""


@DECODERS.register("cd_block")
class BlockwiseCD(Decoder):
    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        c, eos = self.config, ctx.lm.eos_token_id
        replay = Replay(ctx, ctx.lm.start(ctx.prompt_ids, ctx.meter), c)  # follows the kept blocks
        ids, stop, block = replay.ids, "max_new_tokens", 0
        while len(ids) < ctx.max_new_tokens and stop == "max_new_tokens":
            if ctx.cancel.is_set():
                stop = "cancelled"
                break
            m = min(c.block_len, ctx.max_new_tokens - len(ids))
            samples = sample_batch(replay.policy.fork(c.blocks, room=m), c, m, ctx.rng, eos, ctx.cancel)
            total, parts = score_texts(ctx, [ctx.lm.decode(ids + s.ids) for s in samples])
            best = int(total.argmax())
            for j, s in enumerate(samples):
                yield Rollout(group=block, index=j, text=ctx.lm.decode(s.ids), reward=float(total[j]),
                              reward_parts={n: float(p[j]) for n, p in parts.items()}, kept=j == best,
                              step=len(ids), length=len(s.ids))
            chosen = samples[best].ids
            last = chosen[-1:] == [eos] or len(ids) + len(chosen) >= ctx.max_new_tokens
            yield from replay.steps(chosen, value=float(total[best]), final=last)
            stop = "eos" if chosen[-1:] == [eos] else ("cancelled" if not chosen else stop)
            block += 1
        yield ctx.finished(list(ids), stop, config=self.describe())
