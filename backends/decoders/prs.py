"""PRS: preference-guided reflective sampling (Ye & Ng, EMNLP 2024, arXiv 2408.12163).

Given a preference z in words: draw N0 answers from pi(. | x + z), take the best y0 by the
reward; the policy writes feedback on y0 with respect to z; draw N1 revisions conditioned on
x, z, y0 and the feedback; return the best of all (optionally refining again, `depth`). Streams a
`Rollout` per sample, a `Note` with each feedback, then the answer's token steps, whose
log-probs and KL compare the conditioned sampler with the preset's base given x alone. Prompts
are never changed silently: one too long for the context is cut from the front with a Note, or
refused. Unlike the official code a failing reward model fails the run instead of scoring 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from backends.config import ConfigError
from backends.decoders.base import DecodeContext, Decoder
from backends.decoders.configs import DECODERS, SamplingParams
from backends.decoders.rollouts import sample_batch
from backends.decoders.sequence import Replay, score_texts, stop_reason
from backends.events import Event, Note, Rollout
from backends.presets import format_prompt

# PRS's requests. REVISE is the paper's revision prompt (x, z, y0 and the feedback); the zoo policy
# learnt FEEDBACK and REVISE_SHORT (backends/zoo/corpus.py holds the same strings), which `revision`
# selects. Neither is ever swapped silently: a prompt too long is cut from the front, with a Note.
FEEDBACK = "Give feedback on this answer to '{x}' with respect to '{z}': {y}"
REVISE = "{x} {z} Improve this answer: {y} Feedback: {f}"
REVISE_SHORT = "{x} {z} Feedback: {f}"
REVISIONS = {"answer": REVISE, "feedback": REVISE_SHORT}  # by PrsConfig.revision


@DECODERS.register("prs")
class Prs(Decoder):
    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        c, x, z = self.config, ctx.request.prompt, self.config.preference.strip()
        pool: list[tuple] = []  # (reward, parts, answer ids, conditioning ids, round, index)
        cond, note = self._fit(ctx, x + " " + z, "the preference prompt", ctx.max_new_tokens, must_keep=0)
        yield from ([note] if note else [])
        yield from self._round(ctx, 0, cond, c.n0, pool)
        for depth in range(1, c.depth + 1):
            if c.n1 == 0 or ctx.cancel.is_set():
                break
            best = ctx.lm.decode(max(pool, key=lambda p: p[0])[2])
            feedback, notes = self._feedback(ctx, x, z, best)
            yield from notes
            yield Note(f"feedback (round {depth}): {feedback}")
            text = REVISIONS[c.revision].format(x=x, z=z, y=best, f=feedback)
            tail = REVISIONS[c.revision].split("{x} {z}")[1].format(y=best, f=feedback)
            cond, note = self._fit(ctx, text, f"the revision prompt of round {depth}", ctx.max_new_tokens,
                                   must_keep=len(ctx.lm.encode(tail)))
            yield from ([note] if note else [])
            yield from self._round(ctx, depth, cond, c.n1, pool)
        reward, parts, answer, cond, group, index = max(pool, key=lambda p: p[0])
        yield Note(f"kept round {group} sample {index} (reward {reward:.3f}), the best of {len(pool)}")
        yield from Replay(ctx, ctx.lm.start(cond, ctx.meter), c).steps(answer)
        yield ctx.finished(answer, stop_reason(ctx, answer), (reward, parts), config=self.describe())

    def _fit(self, ctx: DecodeContext, text: str, what: str, room_after: int, must_keep: int
             ) -> tuple[list[int], Note | None]:
        """The prompt for `text`, leaving `room_after` tokens; one too long is cut from the front (a Note
        says so), and refused when the cut would reach its last `must_keep` tokens of content."""
        ids = ctx.lm.encode_prompt(format_prompt(ctx.preset, text, ctx.lm.tokenizer))
        limit = ctx.lm.max_length
        if not limit or len(ids) + room_after <= limit:
            return ids, None
        keep = limit - room_after
        if keep <= must_keep or keep < 1:
            raise ConfigError("prs.preference", self.config.preference,
                              f"{what} takes {len(ids)} tokens and {room_after} must follow in {ctx.lm.name}'s "
                              f"{limit}; cutting it would drop the answer or feedback it quotes")
        return ids[-keep:], Note(f"PRS: {what} was cut from the front to fit the context: {len(ids) - keep} of "
                                 f"{len(ids)} tokens dropped (its end, with the answer and feedback, is kept)")

    def _round(self, ctx: DecodeContext, group: int, cond: list[int], n: int, pool: list) -> Iterator[Rollout]:
        state = ctx.lm.start(cond, ctx.meter).fork(n, room=ctx.max_new_tokens)
        samples = sample_batch(state, self.config, ctx.max_new_tokens, ctx.rng, ctx.lm.eos_token_id, ctx.cancel)
        texts = [ctx.lm.decode(s.ids) for s in samples]
        total, parts = score_texts(ctx, texts)
        for i, (s, text) in enumerate(zip(samples, texts, strict=True)):
            own = {k: float(v[i]) for k, v in parts.items()}
            pool.append((float(total[i]), own, s.ids, cond, group, i))
            yield Rollout(group=group, index=i, text=text, reward=float(total[i]), reward_parts=own, length=len(s.ids))

    def _feedback(self, ctx: DecodeContext, x: str, z: str, answer: str) -> tuple[str, list[Note]]:
        """The policy's feedback on `answer`: at most half the context, the request cut from the front."""
        room = ctx.lm.max_length or 10**9
        budget = min(self.config.feedback_tokens, room // 2)
        notes = [] if budget == self.config.feedback_tokens else [
            Note(f"PRS: feedback limited to {budget} tokens (half of {ctx.lm.name}'s context), not "
                 f"{self.config.feedback_tokens}")]
        ask, note = self._fit(ctx, FEEDBACK.format(x=x, z=z, y=answer), "the feedback request", budget,
                              must_keep=len(ctx.lm.encode(answer)))
        notes += [note] if note else []
        params = SamplingParams(temperature=self.config.temperature)
        (sample,) = sample_batch(ctx.lm.start(ask, ctx.meter), params, budget, ctx.rng, ctx.lm.eos_token_id,
                                 ctx.cancel)
        return ctx.lm.decode(sample.ids).strip(), notes
