"""Ports of the official decoding loops, for timing side by side in bench/peers.py (not used by the app).

Written for this project from the public code's design, on transformers 5 caches (facts carried
over, code our own); each function says where it departs from the original and why.

- `args_greedy`: deeplearning-wisc/args `argsearch.py`, `ARGS.generate(method="greedy")`: raw LM
  logits + w * raw reward-model logit over the top-k; the k rows go through the reward model on
  top of its cache, which is then re-ordered to k copies of the chosen row. Never stops at EOS.
- `RewardAugmentedProcessor`: r-three/RAD `utils/logits_processor.py` for one device (their
  thread-per-GPU fan-out dropped: with one device it only adds thread start-up): candidates go
  through text, k rows of the reward model's cache are overwritten in place by the chosen row,
  positions are `cumsum(mask)` (`fix_positions` adds the `- 1` GPT-2 generation uses).
- `tq_direct`: Transfer-Q `direct.py` `TQ_direct.generate(method="greedy")`: k candidate rows,
  each continued by `generate(max_new_tokens=L)` from the full prefix every token (no reuse),
  decoded, re-tokenized and scored by the reward model. The original uses the aligned model for
  both the logits and the rollouts; here the policy gives the logits and the baseline rolls out
  (what our TQ* does), which costs the same.
- `best_of_n`: `generate(num_return_sequences=N)` + one batched reward-model pass over the N texts.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList


def _ones(rows: int, length: int) -> torch.Tensor:
    return torch.ones((rows, length), dtype=torch.long)


def _policy_top_k(lm, tokens: torch.Tensor, cached, k: int):
    """The step both official loops open with: the policy's top-k logits (1, k), the k rows of the
    prefix + one candidate each (k, T + 1), and the policy's cache (the whole prompt on the first step)."""
    feed = tokens if cached is None else tokens[:, -1:]
    mout = lm(input_ids=feed, attention_mask=_ones(1, tokens.shape[1]), past_key_values=cached, use_cache=True)
    logits, cands = torch.topk(mout.logits[:, -1], k=k, dim=-1)  # (1, k)
    flat = torch.dstack((tokens.unsqueeze(1).repeat(1, k, 1), cands)).view(k, -1)  # (k, T + 1)
    return logits, flat, mout.past_key_values


@torch.no_grad()
def args_greedy(lm, rm, prompt_ids: list[int], k: int, w: float, max_new: int, squash: bool = False) -> list[int]:
    """ARGS's greedy loop: new token ids (max_new of them; the original never stops at EOS)."""
    tokens = torch.tensor([prompt_ids])  # (1, T)
    cached, rm_cached = None, None
    for _ in range(max_new):
        logits, flat, cached = _policy_top_k(lm, tokens, cached, k)
        rm_feed = flat if rm_cached is None else flat[:, -1:]  # first step: k whole rows, as the original
        rm_out = rm(input_ids=rm_feed, attention_mask=_ones(k, flat.shape[1]), past_key_values=rm_cached,
                    use_cache=True)
        rewards = rm_out.logits.flatten()  # (k,) raw head
        if squash:
            rewards = rewards.sigmoid()
        best = torch.topk(rewards * w + logits.flatten(), k=1).indices  # (1,)
        rm_cached = rm_out.past_key_values
        rm_cached.reorder_cache(best.repeat(k))  # k copies of the chosen row (fresh tensors, as _reorder_cache)
        tokens = flat[best]  # (1, T + 1)
    return tokens[0, len(prompt_ids):].tolist()


class _RadRewardModel:
    """The zoo classifier read like r-three's GPT2RewardModel: the head at the last non-pad token
    (`ne(ids, pad).sum(-1) - 1`), squashed by a sigmoid (r-three's head is a [0, 1] regression)."""

    def __init__(self, clf, pad_id: int):
        self.clf, self.pad_id = clf, pad_id

    def __call__(self, input_ids, attention_mask, position_ids=None, past_key_values=None):
        out = self.clf.base_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                  past_key_values=past_key_values, use_cache=True)
        head = self.clf.score(out.last_hidden_state)  # (B, n, 1)
        last = torch.ne(input_ids, self.pad_id).sum(-1) - 1  # (B,)  -1 for an all-pad row: its last slot
        return None, head[torch.arange(input_ids.shape[0]), last, 0].sigmoid(), out.past_key_values  # (B,)


class RewardAugmentedProcessor(LogitsProcessor):
    """r-three/RAD's RewardAugmentedLogitsProcessor (one device, method "linear")."""

    def __init__(self, lm_tokenizer, rm_tokenizer, reward_model: _RadRewardModel, topk: int = 20, beta: float = 30,
                 inverse: bool = False, fix_positions: bool = True):
        self.lm_tok, self.rm_tok, self.rm = lm_tokenizer, rm_tokenizer, reward_model
        self.topk, self.beta, self.inverse, self.fix = topk, beta, inverse, int(fix_positions)
        self.past, self.mask, self.previous, self.step = None, None, [], 0

    @torch.inference_mode()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        k = self.topk
        _, topk_ids = torch.topk(scores, k, dim=-1)  # (B, k)
        if self.step == 0:
            prompts = self.lm_tok.batch_decode(input_ids, skip_special_tokens=True)
            longest = self.rm_tok(prompts, return_tensors="pt", padding=True).input_ids.shape[1]
            prompts = [p for p in prompts for _ in range(k)]  # (B * k,)
            enc = self.rm_tok(prompts, return_tensors="pt", padding="max_length", truncation=True, max_length=longest)
            _, _, self.past = self.rm(enc.input_ids, enc.attention_mask)
            self.mask = enc.attention_mask  # (B * k, T)
        else:
            self._broadcast_chosen(input_ids)
        texts = self.lm_tok.batch_decode(topk_ids.reshape(-1, 1), skip_special_tokens=True)  # B * k texts
        longest = self.rm_tok(texts, return_tensors="pt", padding=True).input_ids.shape[1]
        enc = self.rm_tok(texts, return_tensors="pt", padding="max_length", truncation=True, max_length=longest)
        mask = torch.cat((self.mask, enc.attention_mask), dim=-1)  # (B * k, T + n)
        positions = torch.cumsum(mask, dim=-1)[:, self.mask.shape[-1]:] - self.fix  # the original: no "- 1"
        _, reward, self.past = self.rm(enc.input_ids, mask, positions, self.past)
        self.mask = mask
        reward = reward.reshape(-1, k)  # (B, k)
        for score, ids, r in zip(scores, topk_ids, reward, strict=True):
            r = torch.clamp(r, min=0, max=1)  # (k,)
            r = 1 - r if self.inverse else r
            score[ids] = score[ids] + (r * self.beta).to(score.dtype)
            others = torch.tensor(np.setdiff1d(range(len(score.cpu().numpy())), ids.cpu().numpy()))
            score[others] = -float("inf")
        self.step += 1
        self.previous = [{int(t): pos for pos, t in enumerate(row)} for row in topk_ids]
        return scores

    def _broadcast_chosen(self, input_ids: torch.Tensor) -> None:
        """Overwrite every row of an example's k cache rows (and mask rows) with the chosen one, in place."""
        k = self.topk
        for i, (row, chosen) in enumerate(zip(input_ids, self.previous, strict=True)):
            if row[-1] == self.lm_tok.eos_token_id:
                continue
            start, sel = i * k, i * k + chosen[int(row[-1])]
            self.mask[start:start + k, :] = self.mask[sel, :].repeat(k, 1)
            for layer in self.past.layers:
                for e in (layer.keys, layer.values):
                    e[start:start + k] = e[sel].unsqueeze(0).repeat(k, 1, 1, 1)


def rad_generate(lm, lm_tok, clf, rm_tok, prompt_ids: list[int], k: int, beta: float, max_new: int, seed: int,
                 fix_positions: bool = True) -> list[int]:
    """RAD's `RewardAugmentedDecoder.sample`: `generate(do_sample=True)` with the processor."""
    proc = RewardAugmentedProcessor(lm_tok, rm_tok, _RadRewardModel(clf, rm_tok.pad_token_id), topk=k, beta=beta,
                                    fix_positions=fix_positions)
    ids = torch.tensor([prompt_ids])  # (1, T)
    torch.manual_seed(seed)
    out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), logits_processor=LogitsProcessorList([proc]),
                      max_new_tokens=max_new, do_sample=True, num_return_sequences=1)  # (1, T + n)
    return out[0, len(prompt_ids):].tolist()


@torch.no_grad()
def tq_direct(lm, baseline, rm, lm_tok, rm_tok, prompt_ids: list[int], k: int, w: float, rollout_len: int,
              max_new: int) -> list[int]:
    """Transfer-Q's direct loop: k greedy rollouts of rollout_len tokens from the full prefix, every token."""
    tokens = torch.tensor([prompt_ids])  # (1, T)
    cached = None
    for _ in range(max_new):
        logits, flat, cached = _policy_top_k(lm, tokens, cached, k)
        ext = baseline.generate(flat, attention_mask=torch.ones_like(flat), max_new_tokens=rollout_len,
                                do_sample=False)  # (k, T + 1 + L), prefix re-encoded
        texts = [lm_tok.decode(r.squeeze()) for r in ext]
        enc = rm_tok(texts, return_tensors="pt", padding=True)
        rewards = rm(**enc).logits.flatten()  # (k,) raw
        best = torch.topk(rewards * w + logits.flatten(), k=1).indices
        tokens = flat[best]  # (1, T + 1)
    return tokens[0, len(prompt_ids):].tolist()


@torch.no_grad()
def best_of_n(lm, lm_tok, rm, rm_tok, prompt_ids: list[int], n: int, max_new: int, seed: int,
              temperature: float, top_k: int, top_p: float) -> tuple[list[int], int]:
    """N samples in one `generate`, scored as prompt + text; (kept ids, decoding steps run)."""
    ids = torch.tensor([prompt_ids])  # (1, T)
    torch.manual_seed(seed)
    out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, num_return_sequences=n,
                      max_new_tokens=max_new, temperature=temperature, top_k=top_k, top_p=top_p)  # (N, T + n)
    new = out[:, len(prompt_ids):]  # (N, steps)
    prompt = lm_tok.decode(prompt_ids)
    enc = rm_tok([prompt + t for t in lm_tok.batch_decode(new, skip_special_tokens=True)], return_tensors="pt",
                 padding=True)
    best = int(rm(**enc).logits[:, 0].argmax())
    kept = new[best].tolist()
    eos = lm_tok.eos_token_id
    return (kept[: kept.index(eos) + 1] if eos in kept else kept), new.shape[1]
