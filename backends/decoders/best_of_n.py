"""Best-of-N: draw N samples from the base policy in one batch and keep the highest-reward one.

One prefill, the prompt cache forked N ways, finished rows dropped from the batch. Every sample
is emitted as a `Rollout`; the kept one is then replayed as token steps (one forward per model).
Not a token-level decoder: the reward never influences a single token.
"""

from __future__ import annotations

from collections.abc import Iterator

from backends.decoders.base import DecodeContext, Decoder
from backends.decoders.configs import DECODERS
from backends.decoders.rollouts import sample_batch
from backends.decoders.sequence import Replay, score_texts, stop_reason
from backends.events import Event, Rollout


@DECODERS.register("best_of_n")
class BestOfN(Decoder):
    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        prompt = ctx.lm.start(ctx.prompt_ids, ctx.meter)
        rows = prompt.fork(self.config.n, room=ctx.max_new_tokens)  # (N rows) the samples write in place
        samples = sample_batch(rows, self.config, ctx.max_new_tokens, ctx.rng, ctx.lm.eos_token_id, ctx.cancel)
        texts = [ctx.lm.decode(s.ids) for s in samples]
        total, parts = score_texts(ctx, texts)  # the N samples' reward tokens are counted by the rewards
        best = int(total.argmax())
        for i, text in enumerate(texts):
            yield Rollout(group=0, index=i, text=text, reward=float(total[i]),
                          reward_parts={k: float(v[i]) for k, v in parts.items()}, kept=i == best,
                          length=len(samples[i].ids))
        yield from Replay(ctx, prompt, self.config).steps(samples[best].ids)
        known = (float(total[best]), {k: float(v[best]) for k, v in parts.items()})
        yield ctx.finished(samples[best].ids, stop_reason(ctx, samples[best].ids), known, config=self.describe())
