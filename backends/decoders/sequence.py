"""The toolkit of sequence-level decoders (best-of-N, blockwise CD, PRS): score texts, replay a kept
sample as token steps, and name the stop reason.

A sequence-level decoder draws whole samples with `sample_batch` and keeps some by reward.
`Replay` turns the kept tokens into `TokenStep`s with one forward per model, not one call per
token: the policy at its conditioning (the decoder's log-probs), the preset's base at the user's
prompt (log p base, KL, entropy; free when the base is the policy reading the same prompt) and the
reward scorer (the reward of every prefix). Not a decoder and not a sampler.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from backends.decoders.base import DecodeContext, token_piece
from backends.decoders.configs import SamplingParams
from backends.events import TokenStep
from backends.lm import LMState
from backends.sampling import process, step_stats


def score_texts(ctx: DecodeContext, texts: Sequence[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(total (N,), {name: (N,)}) of prompt + each text under the run's reward (counted by the rewards)."""
    return ctx.reward.score_parts(ctx.prompt_text, list(texts))


def stop_reason(ctx: DecodeContext, ids: Sequence[int]) -> str:
    if ctx.cancel.is_set():
        return "cancelled"
    return "eos" if list(ids[-1:]) == [ctx.lm.eos_token_id] else "max_new_tokens"


class Replay:
    """Follows a kept text and emits its token steps; `policy` (1 row) is advanced in place."""

    def __init__(self, ctx: DecodeContext, policy: LMState, params: SamplingParams):
        self.ctx, self.policy, self.params = ctx, policy, params
        self.base = ctx.base_state(policy.ids[0].tolist())  # None: the policy's own log-probs are the base's
        self.scorer = ctx.scorer()
        self.ids: list[int] = []

    def steps(self, tokens: Sequence[int], value: float | None = None, final: bool = True) -> list[TokenStep]:
        """Steps for `tokens` (m,) continuing the text. `final`: nothing follows, so the last token is
        not fed (the models stop one short); else every model moves past all of them."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            return []
        history = self.policy.ids[0].tolist()
        policy = self._logits(self.policy, tokens, final)  # (m, V)
        base = policy if self.base is None else self._logits(self.base, tokens, final)  # (m, V)
        base_logp = base.log_softmax(-1)  # (m, V)
        dec = self._decoder_scores(policy, history, tokens)  # (m, V)
        rewards, parts = self.scorer.score_sequence(tokens) if self.scorer is not None else (None, {})
        greedy = self.params.temperature == 0
        out = []
        for t, tok in enumerate(tokens):
            logp_dec, kl, entropy = step_stats(base_logp[t], dec[t], greedy, tok)
            out.append(TokenStep(
                index=len(self.ids), token_id=tok, text=token_piece(self.ctx.lm, self.ids, tok),
                logprob_base=float(base_logp[t, tok]), logprob_decoder=logp_dec,
                reward=None if rewards is None else float(rewards[t]),
                reward_parts={k: float(v[t]) for k, v in parts.items()}, value=value, kl=kl, entropy=entropy))
            self.ids.append(tok)
        return out

    def _logits(self, state: LMState, tokens: list[int], final: bool) -> torch.Tensor:
        """(m, V) the state's output before each token, from one forward of the tokens it is fed."""
        eos = self.ctx.lm.eos_token_id
        fed = tokens[:-1] if final else [t for t in tokens if t != eos]
        rows = [state.logits()]  # (1, V)
        if fed:
            rows.append(state.extend([fed])[0])  # (len(fed), V)
        return torch.cat(rows)[: len(tokens)]  # (m, V)

    def _decoder_scores(self, logits: torch.Tensor, history: list[int], tokens: list[int]) -> torch.Tensor:
        """(m, V) the sampler's scores at each position (penalties read the history up to there)."""
        p = self.params
        if p.repetition_penalty == 1.0 and p.no_repeat_ngram == 0:
            return process(logits, torch.zeros(len(tokens), 0, dtype=torch.long), p)
        rows = [process(logits[t: t + 1], torch.tensor([history + tokens[:t]]), p) for t in range(len(tokens))]
        return torch.cat(rows)  # (m, V)
