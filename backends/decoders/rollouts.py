"""Batched continuation of every row of a state: the engine of best-of-N, CD, TQ*, DeAL and PRS.

Rows grow from one shared, already-cached prefix; a row that emits EOS leaves the batch (its
cache rows are dropped), and the last drawn token is never fed, so a rollout of n tokens costs
exactly n LM tokens beyond its prefix. A fork made for rollouts reserves room for them, so their
tokens are written in place. `look_ahead` hands the rollouts to the run's reward scorer (which
counts what it feeds); nothing here selects.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch

from backends.decoders.configs import SamplingParams
from backends.events import Rollout
from backends.lm import LMState
from backends.sampling import draw, process


@dataclass
class Sample:
    """One row's drawn tokens (a kept one's statistics come from `sequence.Replay`)."""

    ids: list[int] = field(default_factory=list)


def sample_batch(state: LMState, params: SamplingParams, max_new: int, rng: torch.Generator, eos: int,
                 cancel: threading.Event | None = None) -> list[Sample]:
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
        keep = []
        for row, (index, tok) in enumerate(zip(active, tokens.tolist(), strict=True)):  # one read of the row
            samples[index].ids.append(tok)
            if tok != eos:
                keep.append(row)
        if not keep or step == max_new - 1:
            break
        if len(keep) < len(active):
            state = state.select(keep, keep_room=True)  # finished rows leave; the rest keep writing in place
            active = [active[r] for r in keep]
            tokens = tokens[keep]
        state.append(tokens)
    return samples


@dataclass
class Lookahead:
    """Rollouts behind each of k candidates: the candidate rows, their texts and rewards."""

    states: LMState  # (k rows) the rollout model right after each candidate
    samples: list[list[Sample]]  # [k][n]
    total: torch.Tensor  # (k, n) weighted reward of prefix + candidate + rollout
    parts: dict[str, torch.Tensor]  # name -> (k, n)
    texts: list[list[str]]  # [k][n] the rollout continuations (candidate included)
    cand_total: torch.Tensor | None = None  # (k,) reward of prefix + candidate, where it came for free
    cand_parts: dict[str, torch.Tensor] | None = None


def fit_rollout(ctx, state: LMState, length: int) -> tuple[int, str | None]:
    """Rollout length that fits the context after the candidate: (length, None), or the shorter
    length and a note saying so (a rollout past the model's positions would fail; near the end of
    the context the value estimate sees fewer tokens than asked)."""
    limits = [m for m in (getattr(state.stack, "max_length", None), ctx.lm.max_length) if m]
    if not limits:
        return length, None
    room = max(min(limits) - state.length - 1, 0)  # positions left after the candidate
    if room >= length:
        return length, None
    return room, (f"rollouts cut to fit the context: {min(limits)} positions leave no room for {length}-token "
                  f"rollouts near the end, so the last steps look ahead fewer tokens (down to 0)")


def roll_out(ctx, state: LMState, cands: torch.Tensor, n: int, length: int, params: SamplingParams
             ) -> tuple[LMState, list[list[Sample]]]:
    """Feed each candidate (k tokens), then continue it n times for up to `length` more tokens.

    `state` is the rollout model at the prefix (one row) and is not changed. A candidate that is
    EOS ends the text and gets empty rollouts. Returns the k candidate rows and the samples [k][n].
    """
    k, eos = len(cands), ctx.lm.eos_token_id
    expanded = state.fork(k, room=1 + (length if n == 1 else 0))  # buffers: the rollouts write in place
    expanded.append(cands)  # (k,)
    live = [i for i, c in enumerate(cands.tolist()) if c != eos]
    samples = [[Sample() for _ in range(n)] for _ in range(k)]
    if live and length > 0:
        if len(live) < k:
            rows = expanded.select([i for i in live for _ in range(n)])  # (len(live) * n rows)
        else:  # every candidate goes on: grow past the candidate rows without copying them
            rows = expanded.share() if n == 1 else expanded.fork(n, room=length)  # (k * n rows)
        drawn = sample_batch(rows, params, length, ctx.rng, eos, ctx.cancel)
        for j, sample in enumerate(drawn):
            samples[live[j // n]][j % n] = sample
    return expanded, samples


def look_ahead(ctx, state: LMState, scorer, cands: torch.Tensor, n: int, length: int,
               params: SamplingParams) -> Lookahead:
    """`roll_out`, then score every prefix + candidate + rollout with `scorer` (the run's reward
    scorer at the prefix: a cached reward model forks its prefix and reads only the new tokens)."""
    expanded, samples = roll_out(ctx, state, cands, n, length, params)
    scored = scorer.score_rollouts(cands, [[s.ids for s in row] for row in samples])
    texts = [[ctx.lm.decode([c, *s.ids]) for s in row] for c, row in zip(cands.tolist(), samples, strict=True)]
    return Lookahead(expanded, samples, scored.total, scored.parts, texts, scored.cand_total, scored.cand_parts)


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
