"""Batched continuation of every row of a state: the engine of best-of-N, CD, TQ*, DeAL and PRS.

Rows grow from one shared, already-cached prefix; a row that emits EOS leaves the batch (its
cache rows are dropped), and the last drawn token is never fed, so a rollout of n tokens costs
exactly n LM tokens beyond its prefix. Nothing here scores or selects.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch

from backends.events import Rollout
from backends.lm import LMState
from backends.sampling import SamplingParams, draw, process, step_stats


@dataclass
class Sample:
    """One row's drawn tokens and (optionally) per-token statistics."""

    ids: list[int] = field(default_factory=list)
    stats: list[tuple[float, float, float, float]] = field(default_factory=list)  # logp_base, logp_dec, kl, H


def sample_batch(state: LMState, params: SamplingParams, max_new: int, rng: torch.Generator, eos: int,
                 cancel: threading.Event | None = None, with_stats: bool = False) -> list[Sample]:
    """Continue each row of `state` (consumed: it is advanced in place) until EOS or `max_new` tokens."""
    samples = [Sample() for _ in range(state.batch)]
    active = list(range(state.batch))  # sample index of each row of `state`
    greedy = params.temperature == 0
    for step in range(max_new):
        if cancel is not None and cancel.is_set():
            break
        logits = state.logits()  # (A, V)
        scores = process(logits, state.ids, params)  # (A, V)
        tokens = draw(scores, rng, greedy)  # (A,)
        base_logp = logits.log_softmax(-1) if with_stats else None
        keep = []
        for row, index in enumerate(active):
            tok = int(tokens[row])
            samples[index].ids.append(tok)
            if with_stats:
                logp_dec, kl, ent = step_stats(base_logp[row], scores[row], greedy, tok)
                samples[index].stats.append((float(base_logp[row, tok]), logp_dec, kl, ent))
            if tok != eos:
                keep.append(row)
        if not keep or step == max_new - 1:
            break
        if len(keep) < len(active):
            state = state.select(keep)
            active = [active[r] for r in keep]
        state.append(tokens[keep])
    return samples


@dataclass
class Lookahead:
    """Rollouts behind each of k candidates: the candidate rows, their texts and rewards."""

    states: LMState  # (k rows) the rollout model right after each candidate
    samples: list[list[Sample]]  # [k][n]
    total: torch.Tensor  # (k, n) weighted reward of prefix + candidate + rollout
    parts: dict[str, torch.Tensor]  # name -> (k, n)
    texts: list[list[str]]  # [k][n] the rollout continuations (candidate included)
    full: list[str]  # k * n whole continuations (prefix + candidate + rollout), row-major


def look_ahead(ctx, state: LMState, prefix: list[int], cands: torch.Tensor, n: int, length: int,
               params: SamplingParams) -> Lookahead:
    """Feed each candidate (k tokens), then continue it n times for up to `length` more tokens.

    `state` is the rollout model at the prefix (one row) and is not changed. A candidate that is
    EOS ends the text and gets empty rollouts. Every text is scored under the weighted reward.
    """
    k, eos = len(cands), ctx.lm.eos_token_id
    expanded = state.fork(k)
    expanded.append(cands)  # (k,)
    live = [i for i, c in enumerate(cands.tolist()) if c != eos]
    samples = [[Sample() for _ in range(n)] for _ in range(k)]
    if live and length > 0:
        rows = expanded.select([i for i in live for _ in range(n)])  # (len(live) * n rows)
        drawn = sample_batch(rows, params, length, ctx.rng, eos, ctx.cancel)
        for j, sample in enumerate(drawn):
            samples[live[j // n]][j % n] = sample
    texts = [[ctx.lm.decode([c, *s.ids]) for s in row] for c, row in zip(cands.tolist(), samples, strict=True)]
    full = [ctx.lm.decode(prefix) + t for row in texts for t in row]
    ctx.meter.reward_tokens += ctx.reward.tokens_processed(ctx.prompt_text, full)
    total, parts = ctx.reward.score_parts(ctx.prompt_text, full)
    shape = (k, n)
    return Lookahead(expanded, samples, total.view(shape), {m: p.view(shape) for m, p in parts.items()}, texts, full)


def rollout_events(step: int, cands: torch.Tensor, look: Lookahead, values: torch.Tensor | None = None) -> list:
    """One `Rollout` per rollout, tied to its step and candidate (kept is set once one is chosen)."""
    out = []
    for i, cand in enumerate(cands.tolist()):
        for j, text in enumerate(look.texts[i]):
            out.append(Rollout(group=step, index=i * len(look.texts[i]) + j, text=text,
                               length=1 + len(look.samples[i][j].ids),
                               reward=float(look.total[i, j]),
                               reward_parts={m: float(p[i, j]) for m, p in look.parts.items()},
                               step=step, candidate=cand))
    return out
