"""PRS: preference-guided reflective sampling (Ye & Ng, EMNLP 2024, arXiv 2408.12163).

Given a preference z in words: draw N0 answers from pi(. | x + z), take the best y0 by the
reward; the policy writes feedback on y0 with respect to z; draw N1 revisions conditioned on
x, z, y0 and the feedback; return the best of all (optionally refining again, `depth`). Streams a
`Rollout` per sample, a `Note` with each feedback, then the answer's token steps, whose
log-probs and KL compare the conditioned sampler with the base policy given x alone. Unlike
the official code a failing reward model fails the run instead of scoring 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch

from backends.config import ConfigError, param
from backends.decoders.base import DECODERS, DecodeContext, Decoder, token_piece
from backends.decoders.rollouts import sample_batch
from backends.events import Event, Note, Rollout, TokenStep
from backends.presets import format_prompt
from backends.sampling import SamplingParams

# PRS's requests. The zoo policy learnt FEEDBACK and REVISE_SHORT (backends/zoo/corpus.py holds the
# same strings); REVISE, which also quotes the answer, is for models with room for it and is tried
# first, so on the zoo's 128-token context it only fits short answers.
FEEDBACK = "Give feedback on this answer to '{x}' with respect to '{z}': {y}"
REVISE = "{x} {z} Improve this answer: {y} Feedback: {f}"
REVISE_SHORT = "{x} {z} Feedback: {f}"  # when the answer does not fit the context beside the new one


@dataclass(frozen=True)
class PrsConfig(SamplingParams):
    preference: str = param("", help="The preference z in words, e.g. 'Be enthusiastic and polite.'")
    n0: int = param(4, low=1, high=256, help="First-round samples from pi(. | x + z)")
    n1: int = param(4, low=0, high=256, help="Revisions per refinement round")
    depth: int = param(1, low=1, high=4, help="Refinement rounds (feedback + revisions)")
    feedback_tokens: int = param(24, low=1, high=256, help="Longest feedback the policy writes")

    def check(self) -> None:
        if not self.preference.strip():
            raise ConfigError("prs.preference", self.preference, "is empty; state the preference in words")
        if len(self.preference) > 1000:
            raise ConfigError("prs.preference", self.preference[:30] + "...", "at most 1000 characters")


@DECODERS.register("prs")
class Prs(Decoder):
    Config = PrsConfig
    needs_reward = True
    summary = "PRS: sample with the preference, reflect on the best, revise, keep the best of all."
    paper = "Ye & Ng, EMNLP 2024, arXiv 2408.12163"
    example_config: ClassVar[dict] = {"preference": "Be enthusiastic, detailed and polite."}

    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        c, x, z = self.config, ctx.request.prompt, self.config.preference.strip()
        pool: list[tuple] = []  # (reward, answer ids, conditioning ids, round, index)
        cond = self._fit(ctx, [x + " " + z])
        yield from self._round(ctx, 0, cond, c.n0, pool)
        for depth in range(1, c.depth + 1):
            if c.n1 == 0 or ctx.cancel.is_set():
                break
            best = ctx.lm.decode(max(pool, key=lambda p: p[0])[1])
            feedback = self._feedback(ctx, x, z, best)
            yield Note(f"feedback (round {depth}): {feedback}")
            cond = self._fit(ctx, [REVISE.format(x=x, z=z, y=best, f=feedback),
                                   REVISE_SHORT.format(x=x, z=z, f=feedback), x + " " + z])
            yield from self._round(ctx, depth, cond, c.n1, pool)
        reward, answer, cond, group, index = max(pool, key=lambda p: p[0])
        yield Note(f"kept round {group} sample {index} (reward {reward:.3f}), the best of {len(pool)}")
        yield from self._replay(ctx, cond, answer)
        stop = "cancelled" if ctx.cancel.is_set() else (
            "eos" if answer[-1:] == [ctx.lm.eos_token_id] else "max_new_tokens")
        yield ctx.finished(answer, stop, config=self.describe())

    def _fit(self, ctx: DecodeContext, texts: list[str]) -> list[int]:
        """The first conditioning text whose prompt leaves room for the answer (long y0 and feedback drop out)."""
        for text in texts:
            ids = ctx.lm.encode(format_prompt(ctx.preset, text, ctx.lm.tokenizer))
            if not ctx.lm.max_length or len(ids) + ctx.max_new_tokens <= ctx.lm.max_length:
                return ids
        raise ConfigError("prs.preference", self.config.preference,
                          f"prompt + preference leave no room for {ctx.max_new_tokens} new tokens in {ctx.lm.name}")

    def _round(self, ctx: DecodeContext, group: int, cond: list[int], n: int, pool: list) -> Iterator[Rollout]:
        state = ctx.lm.start(cond, ctx.meter).fork(n)
        samples = sample_batch(state, self.config, ctx.max_new_tokens, ctx.rng, ctx.lm.eos_token_id, ctx.cancel)
        texts = [ctx.lm.decode(s.ids) for s in samples]
        ctx.meter.reward_tokens += ctx.reward.tokens_processed(ctx.prompt_text, texts)
        total, parts = ctx.reward.score_parts(ctx.prompt_text, texts)
        for i, (s, text) in enumerate(zip(samples, texts, strict=True)):
            pool.append((float(total[i]), s.ids, cond, group, i))
            yield Rollout(group=group, index=i, text=text, reward=float(total[i]),
                          reward_parts={k: float(v[i]) for k, v in parts.items()}, length=len(s.ids))

    def _feedback(self, ctx: DecodeContext, x: str, z: str, answer: str) -> str:
        room = ctx.lm.max_length or 10**9
        ask = self._fit_feedback(ctx, x, z, answer, room)
        params = SamplingParams(temperature=self.config.temperature)
        (sample,) = sample_batch(ctx.lm.start(ask, ctx.meter), params, min(self.config.feedback_tokens,
                                 room - len(ask)), ctx.rng, ctx.lm.eos_token_id, ctx.cancel)
        return ctx.lm.decode(sample.ids).strip()

    def _fit_feedback(self, ctx: DecodeContext, x: str, z: str, answer: str, room: int) -> list[int]:
        """The feedback request, quoting as much of the answer as the context allows; the feedback
        gets at most half the context, and a request still too long keeps its end (the answer)."""
        words, feedback = answer.split(), min(self.config.feedback_tokens, room // 2)
        while True:
            quoted = FEEDBACK.format(x=x, z=z, y=" ".join(words))
            ids = ctx.lm.encode(format_prompt(ctx.preset, quoted, ctx.lm.tokenizer))
            if len(ids) + feedback <= room or not words:
                return ids[-(room - feedback):]
            words = words[: len(words) // 2]

    def _replay(self, ctx: DecodeContext, cond: list[int], answer: list[int]) -> Iterator[TokenStep]:
        """Token steps of the answer: the sampler (given cond) against the base given x alone."""
        scorer = ctx.reward.prefix_scorer(ctx.prompt_text, ctx.prompt_ids, ctx.lm, ctx.meter)
        base = _teacher_forced(ctx, ctx.prompt_ids, answer)  # (T, V)
        dec = (_teacher_forced(ctx, cond, answer) / max(self.config.temperature, 1e-6)).log_softmax(-1)
        prefix: list[int] = []
        for t, tok in enumerate(answer):
            total, parts = scorer.score_candidates(torch.tensor([tok]))
            scorer.advance(tok)
            p = dec[t].exp()
            kl = float((p * (dec[t] - base[t])).sum())
            entropy = float(-(base[t].exp() * base[t]).sum())
            yield TokenStep(index=t, token_id=tok, text=token_piece(ctx.lm, prefix, tok),
                            logprob_base=float(base[t, tok]), logprob_decoder=float(dec[t, tok]),
                            reward=float(total[0]), reward_parts={k: float(v[0]) for k, v in parts.items()},
                            kl=max(kl, 0.0), entropy=entropy)
            prefix.append(tok)


def _teacher_forced(ctx: DecodeContext, cond: list[int], answer: list[int]) -> torch.Tensor:
    """(T, V) log-probs of the answer's positions given `cond`, one forward (counted)."""
    ids = torch.tensor([cond + answer])  # (1, C + T)
    ctx.meter.lm_tokens += ids.shape[1]
    logits = ctx.lm.full_logits(ids)[0, len(cond) - 1: len(cond) - 1 + len(answer)]  # (T, V)
    return logits.log_softmax(-1)
