"""k next-token candidates scored on one prefix every step, with no per-step copy of the prefix.

`CandidateRows` keeps a one-row prefix state's cache in buffers allocated once (grown by doubling).
`score(cands)` feeds one candidate per row at position T; `commit(row)` makes that row's token part
of the prefix. Two layouts:

- shared (where `prefix_attention.check` passes, once k x prefix length reaches SHARE_AT): the
  prefix is stored once and the rows hold only their candidate's keys and values; attention reads
  the prefix once for all rows (memory and time per step do not grow with k x position).
- k-row (short prefixes, and any model the check refuses): the prefix is repeated in every row of
  the buffers. For a refused model `why_not_shared` says why, and the reward announces it in a Note.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache

from backends import prefix_attention
from backends.lm import LMState, _checked, _layer, _RowsLayer
from backends.prefix_attention import SuffixCache

SHARE_AT = 1024  # k rows x prefix positions from which the prefix is stored once


class CandidateRows:
    """Candidate rows on one shared prefix, in buffers allocated once (grown by doubling)."""

    def __init__(self, prefix: LMState, rows: int, room: int = 256):
        if prefix.batch != 1:
            raise NotImplementedError(f"candidate rows grow from a one-row state, not {prefix.batch} rows")
        layers = _checked(prefix.cache)
        self.stack, self.meter, self.role = prefix.stack, prefix.meter, prefix.role
        self.ids, self.last, self.length, self.rows = prefix.ids.clone(), prefix.last, prefix.length, rows
        model = getattr(self.stack, "model", None)
        self.why_not_shared = "no model to route" if model is None else prefix_attention.check(self.stack)
        old = [(la.keys, la.values) for la in layers]
        self.one = len({(k.shape, v.shape, k.dtype, v.dtype, k.device) for k, v in old}) == 1
        self._layout(old, prefix.length + room, shared=self._worth_sharing())

    def _worth_sharing(self) -> bool:
        """Shared once k rows x prefix length reach SHARE_AT: below it, k copies of a short prefix cost
        less than the extra operations of the two-block attention (measured: bench/decoders.py --profile)."""
        return self.why_not_shared is None and self.rows * self.length >= SHARE_AT

    def _layout(self, old: list[tuple[torch.Tensor, torch.Tensor]], cap: int, shared: bool) -> None:
        """(Re)build the buffers and the reused cache for the shared or the k-row layout."""
        self.shared = shared
        self.bufs, self.all = self._alloc(old, cap)
        if shared:  # each row's own candidate position, written by every `score`
            k = old[0][0]
            self.own_all = k.new_empty(len(old), 2, self.rows, k.shape[1], 1, k.shape[3]) if self.one else None
            self._own = ([(self.own_all[i, 0], self.own_all[i, 1]) for i in range(len(old))] if self.one else
                         [(k.new_empty(self.rows, k.shape[1], 1, k.shape[3]),
                           v.new_empty(self.rows, v.shape[1], 1, v.shape[3])) for k, v in old])
            self._cache = SuffixCache.over([(kb, vb) for kb, vb in self.bufs], self._own)
        else:
            self._cache = DynamicCache()  # reused by every `score` (its layers re-pointed, not rebuilt)
            self._cache.layers = [_RowsLayer(kb, vb, self.rows, self.length) for kb, vb in self.bufs]

    def _alloc(self, old: list[tuple[torch.Tensor, torch.Tensor]], cap: int) -> tuple[list, torch.Tensor | None]:
        """Buffers (R, h, cap, d) per layer holding `old`'s first `length` positions, R = 1 (shared) or
        rows (broadcast). Layers of one shape share one tensor (L, 2, R, h, cap, d): a commit is one copy."""
        n, t = (1 if self.shared else self.rows), self.length
        if self.one:
            k = old[0][0]
            every = k.new_empty(len(old), 2, n, k.shape[1], cap, k.shape[3])
            bufs = [(every[i, 0], every[i, 1]) for i in range(len(old))]
        else:
            every, bufs = None, [(k.new_empty(n, k.shape[1], cap, k.shape[3]),
                                  v.new_empty(n, v.shape[1], cap, v.shape[3])) for k, v in old]
        for (kb, vb), (k, v) in zip(bufs, old, strict=True):
            kb[:, :, :t], vb[:, :, :t] = k[:1 if self.shared else None, :, :t], v[:1 if self.shared else None, :, :t]
        return bufs, every

    def _point(self, k: int) -> None:
        """Re-point the reused cache's layers at the buffers for k rows over the current prefix."""
        for layer, (kb, vb), i in zip(self._cache.layers, self.bufs, range(len(self.bufs)), strict=True):
            if self.shared:
                layer.prefix_k, layer.prefix_v, layer.own = kb[:, :, : self.length], vb[:, :, : self.length], 0
                layer.kbuf, layer.vbuf = self._own[i][0][:k], self._own[i][1][:k]
            else:
                layer.kbuf, layer.vbuf, layer.rows, layer.length = kb, vb, k, self.length
                layer.keys, layer.values = kb[:k, :, : self.length], vb[:k, :, : self.length]

    def score(self, cands: torch.Tensor) -> torch.Tensor:
        """cands (k,) -> the stack's output (k, D) after prefix + each candidate (k tokens fed)."""
        k = cands.shape[0]
        if k > self.rows:
            raise ValueError(f"candidate rows: {k} candidates for {self.rows} rows")
        self._point(k)
        out = self.stack.run(cands.to(self.stack.device)[:, None], self._cache, self.length)  # (k, D)
        self.meter.count(self.role or getattr(self.stack, "role", "lm"), k)
        return out

    def commit(self, row: int, token: int, last: torch.Tensor) -> None:
        """The candidate in `row` (output `last` (1, D)) becomes part of the prefix of every row."""
        t = self.length
        if self.shared and self.all is not None:  # (L, 2, h, d) in one copy
            self.all[:, :, 0, :, t] = self.own_all[:, :, row, :, 0]
        elif self.shared:
            for (kb, vb), (ok, ov) in zip(self.bufs, self._own, strict=True):
                kb[0, :, t], vb[0, :, t] = ok[row, :, 0], ov[row, :, 0]
        elif self.all is not None:  # every layer's keys and values in one copy (L, 2, rows, h, d)
            self.all[:, :, :, :, t] = self.all[:, :, row, :, t].clone()[:, :, None]
        else:
            for buf in (b for pair in self.bufs for b in pair):
                buf[:, :, t] = buf[row, :, t].clone()  # (rows, h, d) <- (h, d)
        self.length, self.last = t + 1, last
        self.ids = torch.cat([self.ids, self.ids.new_tensor([[token]])], dim=1)  # (1, T + 1)
        cap = self.bufs[0][0].shape[2]
        if not self.shared and self._worth_sharing():  # the prefix outgrew the k-row layout
            self._layout([(kb[:1], vb[:1]) for kb, vb in self.bufs], cap, shared=True)
        if self.length == cap:
            self.bufs, self.all = self._alloc(self.bufs, 2 * self.length)

    def state(self) -> LMState:
        """The prefix as a one-row state of its own (a copy of row 0)."""
        cache = DynamicCache()
        n = self.length
        cache.layers = [_layer(kb[:1, :, :n].clone(), vb[:1, :, :n].clone()) for kb, vb in self.bufs]
        return LMState(self.stack, self.ids, cache, self.last, self.meter, self.role)
