"""Language models (shared, read-only weights) and their per-run KV-cache state.

`LanguageModel` owns a causal LM and its tokenizer; it is loaded once and shared by every
session. `LMState` is one run's token ids plus KV cache, with the operations decoders need:
`logits()`, `append`, `fork(n)`, `select(rows)`, `truncate(length)`. Decoders never touch
`past_key_values`, devices or dtypes. Rows of a state always share one length (they grow from a
common prefix), so no padding and no per-row positions are needed.

The same state machinery serves reward models with a per-position head (`CausalStack`): there,
`logits()` is the head's output for the last position of each row.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from backends.devices import Meter
from backends.lean_gpt2 import Lean, lean_for
from backends.prefix_attention import attention_kwargs


class CausalStack(Protocol):
    """Anything that maps new token ids + a cache to an output for the last position."""

    device: torch.device

    def run(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """ids (B, n) -> output (B, D) for the last of the n positions; updates `cache`."""


class SequenceStack(CausalStack, Protocol):
    """A stack that can also return its output at every new position (one forward of a whole text)."""

    def run_all(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """ids (B, n) -> output (B, n, D) at each of the n positions; updates `cache`."""


def _map_cache(cache: DynamicCache, fn: Callable[[torch.Tensor], torch.Tensor]) -> DynamicCache:
    """A new cache whose every key/value tensor is fn(old); the old cache is left untouched.

    Safe to share tensors between caches: `DynamicLayer.update` concatenates into new tensors (the
    new layers are always plain dynamic layers, whatever buffers the old ones wrote into).
    """
    new = copy.copy(cache)
    new.layers = [_layer(fn(layer.keys), fn(layer.values)) for layer in _checked(cache)]
    return new


def _checked(cache: DynamicCache) -> list:
    for layer in cache.layers:
        if type(layer).__name__ not in ("DynamicLayer", "_RowsLayer") or not layer.is_initialized:
            raise NotImplementedError(f"cache layer {type(layer).__name__} cannot be forked or cut")
    return cache.layers


def _layer(keys: torch.Tensor, values: torch.Tensor) -> DynamicLayer:
    layer = DynamicLayer()
    layer.lazy_initialization(keys, values)
    layer.keys, layer.values = keys, values
    return layer


def _buffered(cache: DynamicCache, n: int, room: int) -> DynamicCache:
    """Each row repeated n times into buffers with `room` free positions: appends write in place."""
    new = copy.copy(cache)
    new.layers = []
    for layer in _checked(cache):
        k, v = layer.keys, layer.values  # (B, h, T, d)
        b, t = k.shape[0] * n, k.shape[2]
        kb = k.new_empty(b, k.shape[1], t + room, k.shape[3])  # (B*n, h, T + room, d)
        vb = v.new_empty(b, v.shape[1], t + room, v.shape[3])
        kb[:, :, :t], vb[:, :, :t] = k.repeat_interleave(n, dim=0), v.repeat_interleave(n, dim=0)
        new.layers.append(_RowsLayer(kb, vb, b, t))
    return new


@dataclass
class LMState:
    """One run's token ids (B, T), KV cache and last-position output (B, D).

    `append` and `truncate` change the state in place; `fork`, `select` and `clone` return new,
    independent states (a fork's growth never changes its parent).
    """

    stack: CausalStack
    ids: torch.Tensor  # (B, T)
    cache: DynamicCache
    last: torch.Tensor  # (B, D)
    meter: Meter
    role: str | None = None  # the meter line it counts on; None: the stack's own role

    @classmethod
    def prefill(cls, stack: CausalStack, ids: Sequence[int], meter: Meter, role: str | None = None) -> LMState:
        if len(ids) == 0:
            raise ValueError("prompt: it is empty after tokenization; type some text")
        row = torch.tensor([list(ids)], dtype=torch.long, device=stack.device)  # (1, T)
        cache = DynamicCache()
        last = stack.run(row, cache, 0)
        state = cls(stack, row, cache, last, meter, role)
        state._count(row.numel())
        return state

    def _count(self, n: int) -> None:
        self.meter.count(self.role or getattr(self.stack, "role", "lm"), n)

    @property
    def batch(self) -> int:
        return self.ids.shape[0]

    @property
    def length(self) -> int:
        return self.ids.shape[1]

    def logits(self) -> torch.Tensor:
        """(B, D) float32 output at the last position. Read-only: clone before editing."""
        return self.last

    def append(self, ids: torch.Tensor | Sequence[int]) -> None:
        """Feed ids (B,) (one token per row) or (B, n)."""
        new = torch.as_tensor(ids, dtype=torch.long, device=self.stack.device)
        if new.dim() == 1:
            new = new[:, None]  # (B, 1)
        if new.shape[0] != self.batch:
            raise ValueError(f"append: got {new.shape[0]} rows for a state of {self.batch}")
        self.last = self.stack.run(new, self.cache, self.length)
        self.ids = torch.cat([self.ids, new], dim=1)  # (B, T + n)
        self._count(new.numel())

    def extend(self, ids: torch.Tensor | Sequence[Sequence[int]]) -> torch.Tensor:
        """Feed ids (B, n) in one forward and return the output at every new position (B, n, D).

        Needs a `SequenceStack`. Replaying a finished text costs one call, not one per token.
        """
        new = torch.as_tensor(ids, dtype=torch.long, device=self.stack.device)  # (B, n)
        if new.dim() != 2 or new.shape[0] != self.batch or new.shape[1] == 0:
            raise ValueError(f"extend: need ({self.batch}, n>0) ids, got {tuple(new.shape)}")
        out = self.stack.run_all(new, self.cache, self.length)  # (B, n, D)
        self.last = out[:, -1]
        self.ids = torch.cat([self.ids, new], dim=1)  # (B, T + n)
        self._count(new.numel())
        return out

    def fork(self, n: int, room: int = 0) -> LMState:
        """Each row repeated n times (row-major: rows of row 0 first). `room` > 0 preallocates that many
        positions, so the next appends (a rollout) write in place instead of re-copying the cache."""
        rep = lambda t: t.repeat_interleave(n, dim=0)  # noqa: E731  (B*n, ...)
        cache = _buffered(self.cache, n, room) if room > 0 else _map_cache(self.cache, rep)
        return LMState(self.stack, rep(self.ids), cache, rep(self.last), self.meter, self.role)

    def reserve(self, room: int) -> LMState:
        """This state with `room` positions preallocated: the next appends write in place (one copy now)."""
        return self.fork(1, room=room) if room > 0 else self

    def share(self) -> LMState:
        """A state over the same rows that grows on its own: with buffered layers (a fork with room) it
        writes past this state's end in the shared buffers, which this state never reads; else a copy."""
        if not all(type(layer).__name__ == "_RowsLayer" for layer in self.cache.layers):
            return self.clone()
        cache = copy.copy(self.cache)
        cache.layers = [_RowsLayer(layer.kbuf, layer.vbuf, layer.rows, layer.length) for layer in self.cache.layers]
        return LMState(self.stack, self.ids, cache, self.last, self.meter, self.role)

    def select(self, rows: Sequence[int] | torch.Tensor, keep_room: bool = False) -> LMState:
        """A new state keeping `rows` (in that order; repeats allowed). `keep_room`: a buffered state's
        rows go into new buffers of the same capacity, so its next appends still write in place."""
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.ids.device)
        pick = lambda t: t.index_select(0, idx.to(t.device))  # noqa: E731
        cache = _map_cache(self.cache, pick)
        if keep_room and all(type(layer).__name__ == "_RowsLayer" for layer in self.cache.layers):
            cache = _buffered(cache, 1, min(layer.kbuf.shape[2] for layer in self.cache.layers) - self.length)
        return LMState(self.stack, pick(self.ids), cache, pick(self.last), self.meter, self.role)

    def clone(self) -> LMState:
        return self.select(range(self.batch))

    def truncate(self, length: int) -> None:
        """Cut every row back to its first `length` tokens (re-feeds one token for the logits)."""
        if not 1 <= length <= self.length:
            raise ValueError(f"truncate: length={length} must be in [1, {self.length}]")
        if length == self.length:
            return
        keep = self.ids[:, :length]  # (B, length)
        self.cache = _map_cache(self.cache, lambda t: t[..., : length - 1, :])
        self.ids = keep[:, : length - 1]
        self.append(keep[:, length - 1])


class _RowsLayer(DynamicLayer):
    """A cache layer over the first `rows` rows and `length` positions of preallocated buffers
    (B, heads, capacity, d); `update` writes the new positions in place instead of concatenating."""

    def __init__(self, kbuf: torch.Tensor, vbuf: torch.Tensor, rows: int, length: int):
        super().__init__()
        self.kbuf, self.vbuf, self.rows, self.length = kbuf, vbuf, rows, length
        self.dtype, self.device, self.is_initialized = kbuf.dtype, kbuf.device, True
        self.keys, self.values = kbuf[:rows, :, :length], vbuf[:rows, :, :length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        while end > self.kbuf.shape[2]:  # out of room: a larger buffer of its own (others keep theirs)
            self.kbuf, self.vbuf = _grow(self.kbuf[: self.rows]), _grow(self.vbuf[: self.rows])
        self.kbuf[: self.rows, :, self.length:end] = key_states
        self.vbuf[: self.rows, :, self.length:end] = value_states
        self.length = end
        self.keys, self.values = self.kbuf[: self.rows, :, :end], self.vbuf[: self.rows, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length


def _grow(buf: torch.Tensor) -> torch.Tensor:
    """(B, h, cap, d) -> (B, h, 2 cap, d) holding the same values first."""
    out = buf.new_empty(buf.shape[0], buf.shape[1], 2 * buf.shape[2], buf.shape[3])
    out[:, :, : buf.shape[2]] = buf
    return out


def cached_inputs(ids: torch.Tensor, cache: DynamicCache, past: int) -> dict:
    """Keyword arguments of a transformers forward of ids (B, n) on top of `past` cached positions:
    explicit positions and an all-ones mask (rows of a state share one length), plus what a
    `SuffixCache` needs."""
    b, n = ids.shape
    return {"input_ids": ids, "position_ids": torch.arange(past, past + n, device=ids.device).expand(b, n),
            "attention_mask": torch.ones(b, past + n, dtype=torch.long, device=ids.device),
            "past_key_values": cache, "use_cache": True, **attention_kwargs(cache)}


class LanguageModel:
    """A causal LM and its tokenizer: shared by all sessions, read-only after loading."""

    role = "lm"

    def __init__(self, model: torch.nn.Module, tokenizer, name: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else model.config.eos_token_id
        if eos is None:
            raise ValueError(f"model {name!r}: its tokenizer defines no end-of-text token")
        self.eos_token_id = int(eos)
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])  # rows: may exceed the tokenizer
        self.n_tokens = min(len(tokenizer), self.vocab_size)  # ids >= n_tokens are padding rows, never drawn
        self._texts: dict[int, str] = {}  # token id -> display text (see token_text)
        cfg = model.config
        self.max_length: int | None = getattr(cfg, "n_positions", None) or getattr(
            cfg, "max_position_embeddings", None)

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, cache: DynamicCache, past: int, **kwargs):
        """The model's output for ids (B, n) on top of `past` cached positions (explicit positions,
        all-ones mask: rows of a state always have one length); logits of the last position only."""
        kwargs.setdefault("logits_to_keep", 1)
        return self.model(**cached_inputs(ids, cache, past), **kwargs)

    @torch.no_grad()
    def run(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """ids (B, n) on top of `past` cached positions -> next-token logits (B, V), float32."""
        lean = self._lean()
        if lean is not None:
            return self._head(lean.hidden(ids, cache, past)[:, -1]).float()  # (B, V)
        return self.forward(ids, cache, past).logits[:, -1].float()  # (B, V)

    @torch.no_grad()
    def run_all(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """ids (B, n) -> next-token logits after each of the n positions (B, n, V), float32."""
        lean = self._lean()
        if lean is not None:
            return self._head(lean.hidden(ids, cache, past)).float()  # (B, n, V)
        return self.forward(ids, cache, past, logits_to_keep=0).logits.float()  # (B, n, V)

    def _lean(self) -> Lean | None:
        """The lean GPT-2 forward when this model takes it (checked once against transformers')."""
        trunk = getattr(self.model, "transformer", None)
        if trunk is None or self.model.training:  # training: transformers' forward (dropout and all)
            return None
        return lean_for(self.model, trunk, self._trunk_hidden)

    def _trunk_hidden(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """transformers' own forward of the trunk: the reference the lean path is checked against."""
        return self.model.transformer(**cached_inputs(ids, cache, past)).last_hidden_state

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        head = self.model.get_output_embeddings()
        return torch.nn.functional.linear(hidden, head.weight, head.bias)

    @torch.no_grad()
    def full_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) -> logits (B, T, V) from one uncached forward (the reference in tests)."""
        ids = ids.to(self.device)
        mask = torch.ones_like(ids)
        return self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()

    def start(self, ids: Sequence[int], meter: Meter | None = None, role: str | None = None) -> LMState:
        """Prefill once; every later step reuses this cache. `role` picks the meter line ("base")."""
        return LMState.prefill(self, ids, meter if meter is not None else Meter(), role)

    def encode(self, text: str) -> list[int]:
        """Token ids of a piece of text (no special tokens: continuations, parts of prompts)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_prompt(self, text: str) -> list[int]:
        """Token ids of a whole prompt: with BOS when the tokenizer's own encoding adds one (Llama,
        Gemma), unless the text already starts with it (a chat template that writes it)."""
        ids = self.encode(text)
        bos = self.tokenizer.bos_token_id
        if bos is None or (ids and ids[0] == bos):
            return ids
        probe = list(self.tokenizer("a", add_special_tokens=True)["input_ids"])
        return [bos, *ids] if probe[:1] == [bos] else ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids if int(i) != self.eos_token_id])

    def token_text(self, token_id: int) -> str:
        """A token's text for display (candidate tables): NUL is shown as the escape `\\x00`, since a
        label cannot carry it (storage refuses NUL); the generated text itself is never changed."""
        if token_id == self.eos_token_id:
            return ""
        text = self._texts.get(int(token_id))
        if text is None:  # decoded once per id: the candidate table asks for k of them every step
            text = self._texts[int(token_id)] = self.tokenizer.decode([int(token_id)]).replace("\x00", "\\x00")
        return text

    def vocab(self) -> dict[str, int]:
        """The tokenizer's vocabulary, built once (tokenizer compatibility checks compare it)."""
        if not hasattr(self, "_vocab"):
            self._vocab = self.tokenizer.get_vocab()
        return self._vocab


@torch.no_grad()
def sequence_logprobs(lm: LanguageModel, prompt_ids: Sequence[int], continuations: Sequence[Sequence[int]],
                      meter: Meter | None = None, role: str = "reward") -> torch.Tensor:
    """(N,) sum of log p(continuation tokens | prompt) under `lm`, one uncached batched forward
    (its tokens, padding included, are counted on `meter`'s `role` line)."""
    if not continuations:
        return torch.zeros(0)
    rows = [list(prompt_ids) + list(c) for c in continuations]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), lm.eos_token_id, dtype=torch.long)  # (N, T) right-padded
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
    if meter is not None:
        meter.count(role, ids.numel())
    logp = lm.model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits.float().log_softmax(-1)
    picked = logp[:, :-1].gather(-1, ids[:, 1:, None].to(lm.device)).squeeze(-1).cpu()  # (N, T-1)
    keep = mask[:, 1:].clone()
    keep[:, : max(len(prompt_ids) - 1, 0)] = 0  # score only continuation tokens
    return (picked * keep).sum(-1)
