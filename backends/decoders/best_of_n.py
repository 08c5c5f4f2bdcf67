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
from backends.decoders.rollouts import Sample, sample_batch
from backends.events import Event, Rollout, TokenStep
from backends.sampling import SamplingParams


@dataclass(frozen=True)
class BestOfNConfig(SamplingParams):
    n: int = param(4, low=1, high=256, help="Number of samples drawn; the best by reward is kept")


@DECODERS.register("best_of_n")
class BestOfN(Decoder):
    Config = BestOfNConfig
    needs_reward = True
    summary = "N samples from the base policy, keep the one the reward scores highest."
    paper = "best-of-N (e.g. Gao et al. 2023, arXiv 2210.10760)"

    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        state = ctx.lm.start(ctx.prompt_ids, ctx.meter).fork(self.config.n)
        samples = sample_batch(state, self.config, ctx.max_new_tokens, ctx.rng, ctx.lm.eos_token_id, ctx.cancel,
                               with_stats=True)
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
