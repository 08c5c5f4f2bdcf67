"""Best-of-N: draw N samples from the base policy in one batch and keep the highest-reward one.

One prefill, the prompt cache forked N ways, finished rows dropped from the batch. Every sample
is emitted as a `Rollout`; the kept one is then replayed as token steps with its prefix rewards.
Not a token-level decoder: the reward never influences a single token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from backends.config import param
from backends.decoders.base import DECODERS, DecodeContext, Decoder, token_piece
from backends.events import Event, Rollout, TokenStep
from backends.lm import LMState
from backends.sampling import SamplingParams, draw, process, step_stats


@dataclass(frozen=True)
class BestOfNConfig(SamplingParams):
    n: int = param(4, low=1, high=256, help="Number of samples drawn; the best by reward is kept")


@dataclass
class Sample:
    """One row's tokens and per-token statistics while it is drawn."""

    ids: list[int]
    stats: list[tuple[float, float, float, float]]  # (logp_base, logp_decoder, kl, entropy)


def sample_batch(ctx: DecodeContext, state: LMState, params: SamplingParams, max_new: int) -> list[Sample]:
    """Continue every row of `state` until EOS or `max_new` tokens; rows that finish leave the batch."""
    samples = [Sample([], []) for _ in range(state.batch)]
    active = list(range(state.batch))  # sample index of each row of `state`
    greedy = params.temperature == 0
    for _ in range(max_new):
        if ctx.cancel.is_set():
            break
        logits = state.logits()  # (A, V)
        base_logp = logits.log_softmax(-1)
        scores = process(logits, state.ids, params)  # (A, V)
        tokens = draw(scores, ctx.rng, greedy)  # (A,)
        keep = []
        for row, sample_index in enumerate(active):
            tok = int(tokens[row])
            logp_dec, kl, ent = step_stats(base_logp[row], scores[row], greedy, tok)
            samples[sample_index].ids.append(tok)
            samples[sample_index].stats.append((float(base_logp[row, tok]), logp_dec, kl, ent))
            if tok != ctx.lm.eos_token_id:
                keep.append(row)
        if not keep:
            break
        if len(keep) < len(active):
            state = state.select(keep)
            active = [active[r] for r in keep]
        state.append(tokens[keep])
    return samples


@DECODERS.register("best_of_n")
class BestOfN(Decoder):
    Config = BestOfNConfig
    needs_reward = True
    summary = "N samples from the base policy, keep the one the reward scores highest."
    paper = "best-of-N (e.g. Gao et al. 2023, arXiv 2210.10760)"

    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        state = ctx.lm.start(ctx.prompt_ids, ctx.meter).fork(self.config.n)
        samples = sample_batch(ctx, state, self.config, ctx.max_new_tokens)
        texts = [ctx.lm.decode(s.ids) for s in samples]
        total, parts = ctx.reward.score_parts(ctx.prompt_text, texts)
        best = int(total.argmax())
        for i, text in enumerate(texts):
            yield Rollout(group=0, index=i, text=text, reward=float(total[i]),
                          reward_parts={k: float(v[i]) for k, v in parts.items()}, kept=i == best)
        yield from replay(ctx, samples[best])
        stop = "cancelled" if ctx.cancel.is_set() else (
            "eos" if samples[best].ids[-1:] == [ctx.lm.eos_token_id] else "max_new_tokens")
        yield ctx.finished(samples[best].ids, stop, config=self.describe())


def replay(ctx: DecodeContext, sample: Sample) -> Iterator[TokenStep]:
    """Token steps for a finished sample, with the reward of each prefix (one reward token each)."""
    scorer = ctx.reward.prefix_scorer(ctx.prompt_text, ctx.prompt_ids, ctx.lm, ctx.meter)
    prefix: list[int] = []
    for index, (tok, (lp_base, lp_dec, kl, ent)) in enumerate(zip(sample.ids, sample.stats, strict=True)):
        total, parts = scorer.score_candidates(torch.tensor([tok]))
        scorer.advance(tok)
        text = token_piece(ctx.lm, prefix, tok)
        prefix.append(tok)
        yield TokenStep(index=index, token_id=tok, text=text, logprob_base=lp_base, logprob_decoder=lp_dec,
                        reward=float(total[0]), reward_parts={k: float(v[0]) for k, v in parts.items()},
                        kl=kl, entropy=ent)
