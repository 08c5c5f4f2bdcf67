"""Preference optimisation of a causal LM from (prompt, chosen, rejected) rows: the DPO loss.

The reference policy's log-probabilities are computed once, before training (an offline
reference), never per step. `dpo_loss` is the standard logistic loss on the margin
beta * ((log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l))) (Rafailov et al., 2023);
`normalize=True` divides each log ratio by the completion's length. This module trains one
model from rows; where rows come from (votes, zoo sampling) is the caller's business.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from backends.training.optim import optimizer_step, warmup_cosine


@dataclass(frozen=True)
class PreferenceRow:
    prompt: str  # exactly the text the policy is conditioned on (chat template applied)
    chosen: str
    rejected: str


@dataclass(frozen=True)
class DpoConfig:
    beta: float = field(default=0.1, metadata={"help": "DPO's beta"})
    steps: int = field(default=200, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=16, metadata={"help": "pairs per step"})
    lr: float = field(default=5e-4, metadata={"help": "peak learning rate (warmup 10 steps, cosine)"})
    normalize: bool = field(default=False, metadata={"help": "length-normalised log ratios"})
    seed: int = field(default=0, metadata={"help": "data order"})

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise ValueError(f"`beta` has to be > 0, but is {self.beta}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("`steps` and `batch_size` have to be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Encoded:
    """Token ids of prompt + completion, and where the completion starts."""

    ids: list[int]
    start: int


def encode_rows(tokenizer, rows: Sequence[PreferenceRow], eos: int, max_len: int) -> list[tuple[Encoded, Encoded]]:
    """(chosen, rejected) token ids cut to `max_len`, skipping pairs that carry no signal: an empty
    prompt, a prompt that leaves no room for a completion token, or completions equal once cut."""
    out = []
    for r in rows:
        p = tokenizer(r.prompt, add_special_tokens=False)["input_ids"]
        if not p or len(p) >= max_len:
            continue
        pair = [Encoded((p + tokenizer(c, add_special_tokens=False)["input_ids"] + [eos])[:max_len], len(p))
                for c in (r.chosen, r.rejected)]
        if pair[0].ids != pair[1].ids:
            out.append((pair[0], pair[1]))
    return out


def completion_logprobs(model, seqs: Sequence[Encoded], pad_id: int, normalize: bool) -> torch.Tensor:
    """(N,) sum (or mean) of log p(completion tokens | prompt)."""
    out = completion_pass(model, seqs, pad_id)
    return out.logp / out.count.clamp(min=1) if normalize else out.logp


@dataclass
class Pass:
    """One forward over prompt + completion rows: log-probs of the completions and, when asked,
    the hidden states that read each completion token (aligned with `keep`)."""

    logp: torch.Tensor  # (N,) summed log p(completion | prompt)
    count: torch.Tensor  # (N,) completion tokens
    keep: torch.Tensor  # (N, T-1) 1 where position j + 1 holds a completion token
    hidden: torch.Tensor | None  # (N, T-1, d) hidden state at position j + 1


def completion_pass(model, seqs: Sequence[Encoded], pad_id: int, layer: int | None = None) -> Pass:
    width = max(len(s.ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    keep = torch.zeros(len(seqs), width - 1)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s.ids)], mask[i, : len(s.ids)] = torch.tensor(s.ids), 1
        keep[i, s.start - 1: len(s.ids) - 1] = 1
    device = next(model.parameters()).device
    ids, mask, keep = ids.to(device), mask.to(device), keep.to(device)
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=layer is not None)
    logp = out.logits[:, :-1].float().log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # (N, T-1)
    hidden = out.hidden_states[layer][:, 1:] if layer is not None else None
    return Pass((logp * keep).sum(1), keep.sum(1), keep, hidden)


def fpo_margin_loss(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor,
                    nc: torch.Tensor, nr: torch.Tensor, beta: float) -> torch.Tensor:
    """FPO's preference term: -log sigmoid(beta * ((pc - rc) / nc - (pr - rr) / nr)), length-normalised."""
    return -F.logsigmoid(beta * ((pc - rc) / nc.clamp(min=1) - (pr - rr) / nr.clamp(min=1))).mean()


def feature_constraint(features: torch.Tensor, ref_index: torch.Tensor, ref_value: torch.Tensor,
                       keep: torch.Tensor) -> torch.Tensor:
    """FPO's feature term: per completion token, the mean squared difference between the policy's
    SAE features and the reference's on the reference's top-k features, averaged per sequence.
    features (N, T, d_sae); ref_index / ref_value (N, T, k); keep (N, T)."""
    diff = (features.gather(-1, ref_index) - ref_value).pow(2).mean(-1)  # (N, T)
    return ((diff * keep).sum(1) / keep.sum(1).clamp(min=1)).mean()


def dpo_loss(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean of -log sigmoid(beta * ((pc - rc) - (pr - rr))); all (B,)."""
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()


@dataclass
class Reference:
    """The offline reference per pair (chosen, rejected): summed log-probs and token counts and,
    with a sparse autoencoder (FPO), the top-k features at each completion token."""

    logp: torch.Tensor  # (N, 2)
    count: torch.Tensor  # (N, 2)
    index: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # (P, k) int per side
    value: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # (P, k) float per side


@torch.no_grad()
def reference_pass(ref, pairs: Sequence[tuple[Encoded, Encoded]], pad_id: int, sae=None, top_k: int = 0,
                   batch: int = 16) -> Reference:
    """The reference model's side of the losses, computed once before training."""
    layer = None if sae is None else sae.config.layer
    logp, count, index, value = [], [], [], []
    for start in tqdm(range(0, len(pairs), batch), desc="offline reference", leave=False):
        chunk = pairs[start:start + batch]
        sides = [completion_pass(ref, [p[side] for p in chunk], pad_id, layer) for side in (0, 1)]
        logp.append(torch.stack([s.logp.cpu() for s in sides], 1))
        count.append(torch.stack([s.count.cpu() for s in sides], 1))
        if sae is None:
            continue
        tops = [sae.encode(s.hidden).topk(top_k, dim=-1) for s in sides]  # values, indices (B, T, k)
        for r in range(len(chunk)):
            kept = [s.keep[r].bool() for s in sides]
            index.append(tuple(t.indices[r][k].int().cpu() for t, k in zip(tops, kept, strict=True)))
            value.append(tuple(t.values[r][k].half().cpu() for t, k in zip(tops, kept, strict=True)))
    features = sae is not None
    return Reference(torch.cat(logp), torch.cat(count), index if features else None, value if features else None)


def reference_logprobs(ref, pairs, pad_id: int, normalize: bool, batch: int = 32) -> torch.Tensor:
    """(N, 2) reference log-probs of (chosen, rejected), computed once."""
    out = reference_pass(ref, pairs, pad_id, batch=batch)
    return out.logp / out.count.clamp(min=1) if normalize else out.logp


def train_dpo(policy, ref, tokenizer, rows: Sequence[PreferenceRow], config: DpoConfig, max_len: int = 128,
              progress: Callable[[int, float], None] | None = None) -> dict:
    """Train `policy` in place against the frozen `ref`; returns training statistics."""
    eos = tokenizer.eos_token_id
    pairs = encode_rows(tokenizer, rows, eos, max_len)
    ref_lp = reference_logprobs(ref.eval(), pairs, eos, config.normalize)  # (N, 2)
    opt = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=0.0)
    sched = warmup_cosine(opt, 10, config.steps)
    order, losses, accs = random.Random(config.seed), [], []
    policy.train()
    for step in range(config.steps):
        idx = order.sample(range(len(pairs)), min(config.batch_size, len(pairs)))
        pc = completion_logprobs(policy, [pairs[i][0] for i in idx], eos, config.normalize)
        pr = completion_logprobs(policy, [pairs[i][1] for i in idx], eos, config.normalize)
        rc, rr = ref_lp[idx, 0].to(pc.device), ref_lp[idx, 1].to(pc.device)
        loss = dpo_loss(pc, pr, rc, rr, config.beta)
        losses.append(optimizer_step(opt, sched, loss, policy.parameters()))
        accs.append(float(((pc - rc) > (pr - rr)).float().mean()))
        if progress:
            progress(step, losses[-1])
    policy.eval()
    tail = max(1, len(losses) // 10)
    return {"pairs": len(pairs), "final_loss": sum(losses[-tail:]) / tail,
            "final_reward_accuracy": sum(accs[-tail:]) / tail, "config": config.to_dict()}
