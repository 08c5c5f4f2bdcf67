"""The top-k toolkit of the token-level decoders (ARGS, RAD, CD, TQ*, DeAL): pick the policy's top-k
next tokens (never a padding row of the embedding matrix) and spread k scores over the vocabulary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from backends.config import ConfigError

if TYPE_CHECKING:
    from backends.decoders.base import DecodeContext


def check_k(name: str, k: int, vocab: int) -> int:
    """A candidate count must fit the vocabulary; the message names the field."""
    if k > vocab:
        raise ConfigError(name, k, f"larger than the vocabulary ({vocab} tokens)")
    return k


def top_candidates(ctx: DecodeContext, logits: torch.Tensor, k: int, name: str) -> torch.Tensor:
    """The top-k ids (k,) of logits (V,), never a padding row of an embedding matrix larger than the
    tokenizer (Qwen2.5: 151,936 rows for 151,665 tokens)."""
    check_k(name, k, ctx.lm.n_tokens)
    if logits.shape[-1] > ctx.lm.n_tokens:
        logits = logits[: ctx.lm.n_tokens]  # (n_tokens,)
    return logits.topk(k).indices  # (k,)


def scatter_scores(like: torch.Tensor, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(V,) of -inf with `values` (k,) at `ids` (k,): the support of a top-k decoder."""
    out = torch.full_like(like, float("-inf"))
    return out.scatter(0, ids, values.to(out.dtype).to(out.device))
