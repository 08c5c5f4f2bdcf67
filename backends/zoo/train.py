"""Training loops for the zoo's tiny models: next-token SFT and RAD's per-prefix reward loss.

One optimiser loop (AdamW, linear warmup then cosine decay, gradient clipping, tqdm with the
running loss) drives two losses: causal-LM cross-entropy with padding masked out, and the
unidirectional reward model's loss, where the score head is read at every reply position and each
prefix is trained with binary cross-entropy against the example's final label, weighted by
position. This module knows nothing about stages, files or the corpus generator.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass(frozen=True)
class ModelShape:
    n_layer: int = field(default=4, metadata={"help": "transformer blocks"})
    n_embd: int = field(default=128, metadata={"help": "hidden size"})
    n_head: int = field(default=4, metadata={"help": "attention heads"})
    n_positions: int = field(default=512, metadata={"help": "context: the packed training rows' length"})

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"`n_embd` has to be divisible by `n_head`, but is {self.n_embd}")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = field(default=1000, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=32, metadata={"help": "sequences per step"})
    lr: float = field(default=3e-3, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=50, metadata={"help": "linear warmup steps"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "final lr as a fraction of the peak"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW decay on matrices only"})
    grad_clip: float = field(default=1.0, metadata={"help": "max global gradient norm"})
    seed: int = field(default=0, metadata={"help": "seeds init, data order and head init"})
    amp: Literal["auto", "bf16", "fp32"] = field(
        default="auto", metadata={"help": "bf16 autocast; auto = where the CPU or GPU supports it"}
    )

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` has to be >= 1, but is {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise ValueError(f"`lr` has to be in (0, 1), but is {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"`min_lr_ratio` has to be in [0, 1], but is {self.min_lr_ratio}")
        if self.amp not in ("auto", "bf16", "fp32"):
            raise ValueError(f"`amp` has to be one of auto, bf16, fp32, but is {self.amp!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_bf16(device: torch.device, amp: str) -> bool:
    if amp != "auto":
        return amp == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def reply_starts(tokenizer, prompts: Sequence[str], seqs: Sequence[list[int]]) -> list[int]:
    """Index of the first reply token of each sequence, given its formatted prompt."""
    starts = []
    for prompt_ids, seq in zip(encode(tokenizer, prompts), seqs, strict=True):
        if seq[: len(prompt_ids)] != prompt_ids or len(seq) <= len(prompt_ids):
            raise ValueError(f"prompt tokens are not a prefix of the text's tokens: {prompt_ids[:8]}...")
        starts.append(len(prompt_ids))
    return starts


def pad_batch(seqs: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask, both (B, T)."""
    width = max(len(seq) for seq in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)  # (B, T)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


def batch_order(lengths: Sequence[int], batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """`steps` batches of indices: seeded epochs, length-bucketed within pools to cut padding."""
    rng = random.Random(seed)
    batches: list[list[int]] = []
    pool = batch_size * 32
    while len(batches) < steps:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        epoch = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
            epoch += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(epoch)
        batches += [batch for batch in epoch if len(batch) == batch_size] or epoch
    return batches[:steps]


def pack_rows(lengths: Sequence[int], width: int, rows: int, seed: int) -> list[list[int]]:
    """`rows` rows of sequence indices, each row's sequences together at most `width` tokens long:
    seeded epochs in shuffled order, each sequence joining the current row while it fits."""
    rng = random.Random(seed)
    packed: list[list[int]] = []
    while len(packed) < rows:
        order = [i for i in range(len(lengths)) if lengths[i] <= width]
        if not order:
            raise ValueError(f"no sequence fits in a row of {width} tokens")
        rng.shuffle(order)
        row, used = [], 0
        for i in order:
            if used + lengths[i] > width:
                packed.append(row)
                row, used = [], 0
            row.append(i)
            used += lengths[i]
        packed.append(row)
    return packed[:rows]


def lm_loss(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token nats over real tokens; ids and mask (B, T), padding is not a target."""
    labels = ids.masked_fill(mask == 0, -100)  # (B, T)
    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)


def position_weights(mask: torch.Tensor, starts: torch.Tensor, weighting: str) -> torch.Tensor:
    """(B, T) weights over reply positions, each row summing to 1; mask (B, T), starts (B,)."""
    offset = torch.arange(mask.shape[1], device=mask.device)[None, :] - starts[:, None] + 1  # (B, T)
    inside = (offset > 0) & (mask > 0)  # (B, T)
    raw = offset.float() if weighting == "linear" else torch.ones_like(offset, dtype=torch.float)
    weights = raw * inside  # (B, T)
    return weights / weights.sum(dim=1, keepdim=True)


def prefix_logits(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Score-head logit after every prefix, (B, T), for a GPT2ForSequenceClassification."""
    hidden = model.transformer(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
    return model.score(hidden).squeeze(-1).float()  # (B, T)


def prefix_reward_loss(model, ids, mask, starts, labels, weighting: str = "linear") -> torch.Tensor:
    """RAD's cumulative loss with soft BCE: every reply prefix predicts the final label.

    ids, mask: (B, T); starts: (B,) first reply position; labels: (B,) in [0, 1].
    """
    logits = prefix_logits(model, ids, mask)  # (B, T)
    targets = labels[:, None].expand_as(logits)  # (B, T)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # (B, T)
    return (bce * position_weights(mask, starts, weighting)).sum(dim=1).mean()


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine

    return factor


def make_optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))


class ThreadPicker:
    """Keeps the faster CPU thread count, 1 or all, re-timing the other one now and then.

    On a CPU that other processes share, threads that wait on each other at every small kernel can
    be ten times slower than one thread; on an idle CPU, all cores are faster. Which holds changes
    while a build runs, so a few steps now and then try the other count; a probe that loses waits
    twice as long for the next one (up to `max_interval` steps), a probe that wins switches.
    """

    def __init__(self, first_probe: int = 4, interval: int = 40, probe: int = 2, max_interval: int = 320):
        self.choices = sorted({1, os.cpu_count() or 1})
        self.best = self.choices[0]
        self.next_probe, self.base, self.interval = first_probe, interval, interval
        self.probe, self.max_interval = probe, max_interval
        self.recent: dict[int, list[float]] = {n: [] for n in self.choices}

    def other(self) -> int:
        return self.choices[-1] if self.best == self.choices[0] else self.choices[0]

    def threads_for(self, step: int) -> int:
        probing = len(self.choices) > 1 and self.next_probe <= step < self.next_probe + self.probe
        threads = self.other() if probing else self.best
        torch.set_num_threads(threads)
        return threads

    def record(self, step: int, threads: int, seconds: float) -> None:
        """Seconds per token of `step`, run with `threads`; decides a probe on its last step."""
        self.recent[threads] = (self.recent[threads] + [seconds])[-4:]
        if step != self.next_probe + self.probe - 1 or len(self.choices) == 1:
            return
        probe, current = self.recent[self.other()][-self.probe :], self.recent[self.best]
        if not current or sum(probe) / len(probe) < sum(current) / len(current):
            self.best, self.interval = self.other(), self.base
        else:
            self.interval = min(2 * self.interval, self.max_interval)
        self.next_probe = step + 1 + self.interval


def train(model, step_loss: Callable, batches: Sequence[list[int]], collate: Callable, config: TrainConfig,
          desc: str, threads: int | None = None) -> dict:
    """Run `step_loss(model, *collate(indices))` for each batch of indices; returns run statistics.

    threads: CPU threads to use; None lets a `ThreadPicker` choose between 1 and all as it goes.
    """
    device = next(model.parameters()).device
    bf16 = use_bf16(device, config.amp)
    picker = ThreadPicker() if device.type == "cpu" and threads is None else None
    if device.type == "cpu" and threads is not None:
        torch.set_num_threads(threads)
    optimizer = make_optimizer(model, config)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    model.train()
    smoothed, started = None, time.perf_counter()
    bar = tqdm(batches, desc=desc, unit="step", mininterval=1.0, dynamic_ncols=True)
    used: Counter[int] = Counter()
    for step, indices in enumerate(bar):
        batch = [tensor.to(device) for tensor in collate(indices)]
        step_started = time.perf_counter()
        if picker is not None:
            threads = picker.threads_for(step)
            used[threads] += 1
        with autocast(device, bf16):
            loss = step_loss(model, *batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        value = loss.item()
        if picker is not None and step > 0:  # step 0 pays one-off warm-up costs
            picker.record(step, threads, (time.perf_counter() - step_started) / batch[0].numel())
        smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
        bar.set_postfix(loss=f"{smoothed:.4f}", lr=f"{schedule.get_last_lr()[0]:.1e}")
    model.eval()
    return {"final_loss_ema": round(smoothed, 5), "train_s": round(time.perf_counter() - started, 2),
            "bf16_autocast": bf16, "device": device.type,
            "steps_by_threads": dict(sorted(used.items())) if picker else {threads: config.steps}}


def train_policy(tokenizer, texts: Sequence[str], shape: ModelShape, config: TrainConfig, folder,
                 threads: int | None = None, init=None, grow: bool = False) -> dict:
    """Train tiny-sft on packed rows (`text + eos` after `text + eos`, up to the context) and save
    it to `folder`, so that every position of the context is trained; returns statistics.

    init: a saved policy folder to start from (its shape must be `shape`); None: fresh weights.
    grow: `init` may have fewer blocks than `shape`; it is deepened first (modeling.grow_policy)."""
    from backends.zoo import modeling

    eos = tokenizer.eos_token_id
    seqs = [[*seq, eos] for seq in encode(tokenizer, texts)]
    lengths = [len(seq) for seq in seqs]
    packed = pack_rows(lengths, shape.n_positions, config.steps * config.batch_size, config.seed)
    torch.manual_seed(config.seed)
    if init is None:
        model = modeling.new_policy(shape, len(tokenizer), eos).to(pick_device())
    else:
        model = modeling.load_policy(init, pick_device().type)
        got = ModelShape(model.config.n_layer, model.config.n_embd, model.config.n_head, model.config.n_positions)
        if grow and got.n_layer < shape.n_layer and got == ModelShape(got.n_layer, *astuple(shape)[1:]):
            model = modeling.grow_policy(model, shape.n_layer)
            got = shape
        if got != shape:
            raise ValueError(f"`init` {init} has shape {got}, but the stage asks for {shape}")
    order = [list(range(start, start + config.batch_size)) for start in range(0, len(packed), config.batch_size)]

    def collate(batch: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch([[token for i in packed[row] for token in seqs[i]] for row in batch], eos)

    stats = train(model, lm_loss, order, collate, config, desc="tiny-sft", threads=threads)
    modeling.save(model, tokenizer, folder)
    tokens_seen = sum(lengths[i] for row in packed for i in row)
    return {**stats, "n_params": sum(p.numel() for p in model.parameters()), "n_train_texts": len(seqs),
            "n_dropped_too_long": sum(n > shape.n_positions for n in lengths), "tokens_seen": tokens_seen,
            "texts_per_row": round(sum(len(row) for row in packed) / len(packed), 2),
            "row_fill": round(tokens_seen / (len(packed) * shape.n_positions), 4),
            "epochs": round(sum(len(row) for row in packed) / len(seqs), 3)}


def train_reward_model(tokenizer, prompts: Sequence[str], texts: Sequence[str], labels: Sequence[float],
                       attribute: str, config: TrainConfig, weighting: str, policy_dir, folder,
                       threads: int | None = None) -> dict:
    """Train a prefix reward model for `attribute` from the policy's weights and save it to `folder`.

    prompts: the formatted prompt of each text (its reply starts after it); labels in [0, 1].
    """
    from backends.zoo import modeling

    # One pass over a seeded sample is all the steps use; encoding the rest would be wasted time.
    size = min(len(texts), config.steps * config.batch_size)
    sample = sorted(random.Random(config.seed).sample(range(len(texts)), size))
    prompts, texts, labels = ([values[i] for i in sample] for values in (prompts, texts, labels))
    seqs = encode(tokenizer, texts)
    starts = reply_starts(tokenizer, prompts, seqs)
    torch.manual_seed(config.seed)
    model = modeling.reward_model_from_policy(policy_dir, attribute, tokenizer.eos_token_id).to(pick_device())
    rows = [i for i, seq in enumerate(seqs) if len(seq) <= model.config.n_positions]

    def collate(batch: list[int]) -> tuple[torch.Tensor, ...]:
        ids, mask = pad_batch([seqs[rows[i]] for i in batch], tokenizer.pad_token_id)  # (B, T)
        start = torch.tensor([starts[rows[i]] for i in batch])  # (B,)
        target = torch.tensor([float(labels[rows[i]]) for i in batch])  # (B,)
        return ids, mask, start, target

    def step_loss(model, ids, mask, start, target):
        return prefix_reward_loss(model, ids, mask, start, target, weighting)

    order = batch_order([len(seqs[i]) for i in rows], config.batch_size, config.steps, config.seed)
    stats = train(model, step_loss, order, collate, config, desc=f"tiny-{attribute}-rm", threads=threads)
    modeling.save(model, tokenizer, folder)
    return {**stats, "n_train_texts": len(rows), "epochs": round(config.steps * config.batch_size / len(rows), 3)}
