"""A lean forward for GPT-2 trunks (the embedded zoo's models): the same operations as transformers'
`GPT2Model.forward` in eval mode, written as direct tensor calls.

At the zoo's size (1.5M parameters, six blocks) a one-token step is almost all per-module Python
overhead in transformers (decorators, mask building, output records, dropout calls): about 2 ms, of
which the arithmetic is a small part. This path runs the blocks' weights directly, with the same
cache objects (`DynamicCache`, the in-place row layers of lm.py, `SuffixCache`), so every LMState
operation works unchanged. `lean_for` compares it with transformers' forward on a small input once
per model (cached on the model); any model it does not fit runs transformers' forward. The embedding
modules are called as modules (their hooks fire: the tests count tokens that way); the blocks' are not.
This module owns no weights and decides nothing about decoding.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from backends import prefix_attention
from backends.prefix_attention import SuffixCache

log = logging.getLogger(__name__)


class Lean:
    """The lean forward of one GPT-2 trunk (`model.transformer` or a classifier's `base_model`)."""

    def __init__(self, trunk: torch.nn.Module):
        self.trunk = trunk
        self.blocks = list(trunk.h)
        attn = self.blocks[0].attn
        self.heads, self.head_dim = attn.num_heads, attn.head_dim

    @staticmethod
    def fits(trunk: torch.nn.Module) -> str | None:
        """Why this trunk cannot take the lean path (None: it can)."""
        cfg = getattr(trunk, "config", None)
        if type(trunk).__name__ != "GPT2Model" or cfg is None:
            return f"{type(trunk).__name__} is not a GPT-2 trunk"
        if cfg.add_cross_attention or cfg.reorder_and_upcast_attn:  # (training mode: callers ask per call)
            return "cross-attention or upcast attention"
        return None

    def hidden(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """ids (B, n) on top of `past` cached positions -> final hidden states (B, n, D); updates `cache`."""
        n = ids.shape[1]
        pos = torch.arange(past, past + n, device=ids.device)
        h = self.trunk.wte(ids) + self.trunk.wpe(pos)  # (B, n, D); module calls: embedding hooks still fire
        mask = None if n == 1 else _causal(n, past, ids.device)
        for i, block in enumerate(self.blocks):
            h = h + self._attention(block, i, F.layer_norm(h, h.shape[-1:], block.ln_1.weight, block.ln_1.bias,
                                                           block.ln_1.eps), cache, mask)
            m = F.layer_norm(h, h.shape[-1:], block.ln_2.weight, block.ln_2.bias, block.ln_2.eps)
            h = h + _conv1d(block.mlp.c_proj, block.mlp.act(_conv1d(block.mlp.c_fc, m)))
        f = self.trunk.ln_f
        return F.layer_norm(h, h.shape[-1:], f.weight, f.bias, f.eps)

    def _attention(self, block, i: int, x: torch.Tensor, cache: DynamicCache, mask: torch.Tensor | None):
        b, n, d = x.shape
        attn = block.attn
        q, k, v = _conv1d(attn.c_attn, x).split(d, dim=2)
        q, k, v = (t.view(b, n, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, h, n, hd)
        k, v = cache.update(k, v, i)
        if isinstance(cache, SuffixCache):
            out = prefix_attention.attend(q, k, v, cache.layers[i], attn.scaling)  # (B, n, h, hd)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scaling).transpose(1, 2)
        return _conv1d(attn.c_proj, out.reshape(b, n, d))

    @torch.no_grad()
    def matches(self, full) -> str | None:
        """None when this path gives transformers' hidden states (`full(ids, cache)`) on a small input."""
        gen = torch.Generator().manual_seed(0)
        vocab = self.trunk.wte.weight.shape[0]
        device = self.trunk.wte.weight.device
        ids = torch.randint(0, vocab, (2, 7), generator=gen).to(device)
        want_cache, got_cache = DynamicCache(), DynamicCache()
        want = torch.cat([full(ids[:, :5], want_cache, 0), full(ids[:, 5:], want_cache, 5)], dim=1)
        got = torch.cat([self.hidden(ids[:, :5], got_cache, 0), self.hidden(ids[:, 5:], got_cache, 5)], dim=1)
        tol = 1e-4 if got.dtype == torch.float32 else 2e-2
        if torch.allclose(got.float(), want.float(), rtol=10 * tol, atol=tol):
            return None
        return f"the lean GPT-2 forward differs from transformers' (max {float((got - want).abs().max()):.2e})"


def _conv1d(layer, x: torch.Tensor) -> torch.Tensor:
    """GPT-2's Conv1D (a linear layer with a transposed weight (in, out)): x (..., in) -> (..., out)."""
    return torch.addmm(layer.bias, x.reshape(-1, x.shape[-1]), layer.weight).view(*x.shape[:-1], -1)


def _causal(n: int, past: int, device: torch.device) -> torch.Tensor:
    """(n, past + n) bool: new position i sees every cached position and new positions up to itself."""
    return torch.ones(n, past + n, dtype=torch.bool, device=device).tril(past)


def lean_for(model: torch.nn.Module, trunk: torch.nn.Module, full) -> Lean | None:
    """The model's lean path if it fits and matches `full` (transformers' hidden states), else None.
    Decided once per model and remembered on it."""
    verdict = getattr(model, "_playground_lean", "unchecked")
    if verdict == "unchecked":
        verdict = None
        if Lean.fits(trunk) is None:  # a GPT-2 trunk: it should match, so say when it does not
            lean = Lean(trunk)
            try:
                why = lean.matches(full)
            except Exception as e:  # an unexpected layout: transformers' forward it is
                why = f"the lean GPT-2 forward failed on it ({type(e).__name__}: {e})"
            if why is None:
                verdict = lean
            else:
                log.warning("%s: %s; it runs transformers' forward", type(model).__name__, why)
        model._playground_lean = verdict
    return verdict
