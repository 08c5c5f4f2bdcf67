"""Pure functions on next-token scores: penalties, truncation, drawing, and step statistics.

Every function returns new tensors and never edits its inputs. Scores are (B, V) with -inf for
tokens outside the support. Nothing here knows about models, caches or decoders (the settings it reads,
`SamplingParams`, are declared with the decoders' cards, in `backends/decoders/configs.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from backends.decoders.configs import SamplingParams

NEG_INF = float("-inf")


def repetition_penalty(logits: torch.Tensor, history: torch.Tensor, penalty: float) -> torch.Tensor:
    """logits (B, V), history (B, T) -> (B, V) with seen tokens made less likely."""
    if penalty == 1.0 or history.numel() == 0:
        return logits
    seen = torch.gather(logits, 1, history)  # (B, T)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(1, history, seen)


def ban_repeated_ngrams(logits: torch.Tensor, history: torch.Tensor, n: int) -> torch.Tensor:
    """-inf for every token that would complete an n-gram already in `history` (B, T)."""
    if n <= 0 or history.shape[1] < n:
        return logits
    out = logits.clone()
    for row, ids in enumerate(history.tolist()):
        prefix = tuple(ids[len(ids) - n + 1:]) if n > 1 else ()
        banned = [ids[i + n - 1] for i in range(len(ids) - n + 1) if tuple(ids[i:i + n - 1]) == prefix]
        if banned:
            out[row, banned] = NEG_INF
    return out


def top_k_filter(scores: torch.Tensor, k: int) -> torch.Tensor:
    if k <= 0 or k >= scores.shape[-1]:
        return scores
    kth = scores.topk(k, dim=-1).values[:, -1:]  # (B, 1)
    return scores.masked_fill(scores < kth, NEG_INF)


def top_p_filter(scores: torch.Tensor, p: float) -> torch.Tensor:
    if p >= 1.0:
        return scores
    sorted_scores, order = scores.sort(dim=-1, descending=True)  # (B, V)
    probs = sorted_scores.softmax(-1)
    drop = probs.cumsum(-1) - probs > p  # keep the smallest prefix reaching mass p
    drop = drop.scatter(1, order, drop)
    return scores.masked_fill(drop, NEG_INF)


def process(logits: torch.Tensor, history: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Base logits (B, V) -> the decoder's scores (B, V): penalties, temperature, top-k, top-p."""
    scores = repetition_penalty(logits, history, params.repetition_penalty)
    scores = ban_repeated_ngrams(scores, history, params.no_repeat_ngram)
    if params.temperature > 0:
        scores = scores / params.temperature
    scores = top_k_filter(scores, params.top_k)
    return top_p_filter(scores, params.top_p)


def draw(scores: torch.Tensor, rng: torch.Generator, greedy: bool) -> torch.Tensor:
    """scores (B, V) -> token ids (B,): argmax when greedy, else a sample of softmax(scores)."""
    if greedy:
        return scores.argmax(-1)
    probs = scores.float().softmax(-1)  # (B, V)
    return torch.multinomial(probs.cpu(), 1, generator=rng).squeeze(1).to(scores.device)


def step_stats(base_logp: torch.Tensor, scores: torch.Tensor, greedy: bool, token: int
               ) -> tuple[float, float, float]:
    """(log p_decoder(token), KL(decoder || base), entropy of base) for one row.

    base_logp (V,) is the base policy's log-softmax; scores (V,) the decoder's. Greedy decoding
    is a point mass on the argmax, so its KL is -log p_base(token).
    """
    entropy = float(-(base_logp.exp() * base_logp).nan_to_num().sum())
    if greedy:
        return 0.0, float(-base_logp[token]), entropy
    dec_logp = scores.float().log_softmax(-1)  # (V,)
    support = torch.isfinite(dec_logp)
    p = dec_logp[support].exp()
    kl = float((p * (dec_logp[support] - base_logp[support])).sum())
    return float(dec_logp[token]), max(kl, 0.0), entropy
