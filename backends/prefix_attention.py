"""Shared-prefix attention: k candidate rows read one copy of their common prefix's KV cache.

ARGS, RAD and CD score k next-token candidates on one prefix every step. With a plain cache the
prefix sits in every row, so the step reads (and first copies) k copies of it: time and memory grow
with k x position. Here the prefix is one row, shared, and each candidate row keeps only its own
suffix: attention over [prefix | own suffix] is one softmax of two score blocks, the prefix block
computed for all rows' queries in one batched product (the prefix read once).

It plugs into transformers' `AttentionInterface`: `enable(model)` registers `playground+<impl>`
for the model's implementation (calls without a `SuffixCache` go straight to the original) and
`check(stack)` compares it with the plain path on a small input once per model, so a model whose
attention differs (soft-capping, sliding windows, its own attention code) keeps the k-row path,
and `CandidateRows` says so. This module owns no weights and runs no decoder.
"""

from __future__ import annotations

import sys

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

PREFIX = "playground+"
# Config keys whose attention this module does not model (GPT-2's upcast path runs only under "eager").
UNSUPPORTED = ("attn_logit_softcapping", "sliding_window", "attention_chunk_size", "reorder_and_upcast_attn")


class _SuffixLayer(DynamicLayer):
    """One layer: the shared prefix (1, hk, T, d) and each row's own suffix buffer (B, hk, cap, d)."""

    def __init__(self, prefix_k: torch.Tensor, prefix_v: torch.Tensor, kbuf: torch.Tensor, vbuf: torch.Tensor):
        super().__init__()
        self.prefix_k, self.prefix_v, self.kbuf, self.vbuf, self.own = prefix_k, prefix_v, kbuf, vbuf, 0
        self.dtype, self.device, self.is_initialized = kbuf.dtype, kbuf.device, True
        self.keys, self.values = kbuf[:, :, :0], vbuf[:, :, :0]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.own + key_states.shape[-2]
        if end > self.kbuf.shape[2]:
            raise ValueError(f"suffix cache: {end} own positions for a buffer of {self.kbuf.shape[2]}")
        self.kbuf[:, :, self.own:end], self.vbuf[:, :, self.own:end] = key_states, value_states
        self.own = end
        self.keys, self.values = self.kbuf[:, :, :end], self.vbuf[:, :, :end]
        return self.keys, self.values  # the own suffix only: the attention below adds the prefix

    def get_seq_length(self) -> int:
        return self.prefix_k.shape[2] + self.own


class SuffixCache(DynamicCache):
    """A cache of B rows over one shared prefix; only valid with a model `enable`d here."""

    def __init__(self, layers: list[_SuffixLayer]):
        super().__init__()
        self.layers = layers

    @classmethod
    def over(cls, prefix: list[tuple[torch.Tensor, torch.Tensor]], bufs: list[tuple[torch.Tensor, torch.Tensor]]):
        return cls([_SuffixLayer(pk, pv, kb, vb) for (pk, pv), (kb, vb) in zip(prefix, bufs, strict=True)])


def attention_kwargs(cache: DynamicCache) -> dict:
    """The extra keyword a model call needs for this cache (none for a plain cache)."""
    return {"suffix_cache": cache} if isinstance(cache, SuffixCache) else {}


def attend(query: torch.Tensor, own_k: torch.Tensor, own_v: torch.Tensor, layer: _SuffixLayer,
           scaling: float | None) -> torch.Tensor:
    """query (B, h, n, d), own keys/values (B, hk, m, d) -> output (B, n, h, d)."""
    b, h, n, d = query.shape
    hk, m, t = own_k.shape[1], own_k.shape[2], layer.prefix_k.shape[2]
    g = h // hk
    scale = scaling if scaling is not None else d ** -0.5
    q = query.reshape(b, hk, g * n, d)  # heads of one kv head together (h = hk * g)
    flat = q.transpose(0, 1).reshape(hk, b * g * n, d)  # (hk, B*g*n, d): every row's queries at once
    pre = torch.bmm(flat, layer.prefix_k[0].transpose(1, 2)).view(hk, b, g * n, t).transpose(0, 1)  # (B,hk,gn,T)
    own = torch.matmul(q, own_k.transpose(2, 3))  # (B, hk, g*n, m)
    if n > 1:  # query i is own position m - n + i: it sees own positions up to itself
        seen = torch.arange(m, device=q.device)[None, :] <= torch.arange(m - n, m, device=q.device)[:, None]
        own = own.masked_fill(~seen.repeat(g, 1), float("-inf"))
    w = (torch.cat([pre, own], dim=-1).float() * scale).softmax(-1).to(q.dtype)  # (B, hk, g*n, T + m)
    w_pre = w[..., :t].transpose(0, 1).reshape(hk, b * g * n, t)
    out = torch.bmm(w_pre, layer.prefix_v[0]).view(hk, b, g * n, d).transpose(0, 1)  # (B, hk, g*n, d)
    out = out + torch.matmul(w[..., t:], own_v)
    return out.reshape(b, h, n, d).transpose(1, 2).contiguous()  # (B, n, h, d)


def _dispatcher(original: str):
    """The attention function registered as `playground+<original>`: the original (resolved once; "eager"
    is each model file's own function) unless the call carries a SuffixCache."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    fixed = None if original == "eager" else ALL_ATTENTION_FUNCTIONS[original]

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, suffix_cache=None, **kw):
        if suffix_cache is None:
            base = fixed or sys.modules[type(module).__module__].eager_attention_forward
            return base(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kw)
        return attend(query, key, value, suffix_cache.layers[module.layer_idx], scaling), None

    return attention


def unsupported(model: torch.nn.Module) -> str | None:
    """Why `model`'s attention cannot be routed here (None: it can)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS  # here: importing it costs ~2 s

    cfg = model.config
    current = cfg._attn_implementation
    if current.startswith(PREFIX):
        return None
    for key in UNSUPPORTED:
        if getattr(cfg, key, None) and (key != "sliding_window" or getattr(cfg, "use_sliding_window", True)):
            return f"its config sets {key}={getattr(cfg, key)}, which shared-prefix attention does not model"
    if current != "eager" and current not in ALL_ATTENTION_FUNCTIONS:
        return f"its attention implementation {current!r} is not a registered one"
    if not getattr(model, "_can_set_attn_implementation", lambda: False)():
        return "its attention is not routed through transformers' AttentionInterface"
    return None


def enable(model: torch.nn.Module) -> str | None:
    """Route `model`'s attention through here (unchanged without a SuffixCache); else why not."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, AttentionInterface

    why = unsupported(model)
    current = model.config._attn_implementation
    if why is not None or current.startswith(PREFIX):
        return why
    name = PREFIX + current
    if name not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(name, _dispatcher(current))
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[current])  # eager's is registered
    model.set_attn_implementation(name)
    return None


@torch.no_grad()
def check(stack) -> str | None:
    """None when `stack` (a CausalStack with `.model`) gives the same outputs through a SuffixCache as
    through a plain k-row cache on a small input; else why not. Cached on the model (stacks are per request)."""
    verdict = getattr(stack.model, "_playground_shared_prefix", "unchecked")
    if verdict != "unchecked":
        return verdict
    original = stack.model.config._attn_implementation
    try:
        verdict = enable(stack.model) or _compare(stack)
    except Exception as e:  # an architecture this does not fit (no layer_idx, another cache type, ...)
        verdict = f"shared-prefix attention failed on it ({type(e).__name__}: {e})"
    if verdict is not None and stack.model.config._attn_implementation != original:
        stack.model.set_attn_implementation(original)  # back to exactly what it was
    stack.model._playground_shared_prefix = verdict
    return verdict


def _compare(stack) -> str | None:
    gen = torch.Generator().manual_seed(0)
    vocab = int(stack.model.get_input_embeddings().weight.shape[0])
    prefix = torch.randint(0, vocab, (1, 6), generator=gen).to(stack.device)
    cands = torch.randint(0, vocab, (3, 2), generator=gen).to(stack.device)
    plain = DynamicCache()
    stack.run(prefix, plain, 0)
    rows = DynamicCache()
    stack.run(prefix.expand(3, -1), rows, 0)
    want = stack.run(cands, rows, 6)  # (3, D)
    pre = [(layer.keys, layer.values) for layer in plain.layers]
    bufs = [(k.new_empty(3, k.shape[1], 2, k.shape[3]), v.new_empty(3, v.shape[1], 2, v.shape[3])) for k, v in pre]
    got = stack.run(cands, SuffixCache.over(pre, bufs), 6)
    tol = 1e-4 if got.dtype == torch.float32 else 2e-2  # half precision: a few ulps of its outputs
    if got.shape == want.shape and torch.allclose(got.float(), want.float(), rtol=tol * 10, atol=tol):
        return None
    return f"shared-prefix attention differs from the plain path (max {float((got - want).abs().max()):.2e})"
