"""Training ARM's low-rank reward head: directly on labels, or distilled from a RAD-style teacher.

Both modes teacher-force texts through `ArmRewardModel`, whose output at position t-1 is
r(x<t, x_t), the reward of the prefix x<=t read from the hidden state of x<t and the embedding
of x_t. Direct: each reply position is trained with binary cross-entropy against the text's
final label, weighted by position (RAD's cumulative loss). Distilled: the target of r(x<t, x_t)
is the teacher's calibrated prefix score of x<=t. This module trains; it does not decode.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from transformers import GPT2Config

from backends.arm_model import ArmRewardModel
from backends.training.optim import optimizer_step, warmup_cosine


@dataclass(frozen=True)
class ArmTrainConfig:
    mode: str = field(default="distill", metadata={"help": "distill (from a teacher) or direct (on labels)"})
    rank: int = field(default=16, metadata={"help": "rank of W = U V^T"})
    n_layer: int = field(default=0, metadata={"help": "trunk depth: the teacher's first n blocks (0: all)"})
    steps: int = field(default=300, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=32, metadata={"help": "texts per step"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (cosine decay, 20 warmup steps)"})
    seed: int = field(default=0, metadata={"help": "init, data order"})

    def __post_init__(self) -> None:
        if self.mode not in ("distill", "direct"):
            raise ValueError(f"`mode` has to be distill or direct, but is {self.mode!r}")
        if self.rank < 1 or self.steps < 1 or self.batch_size < 1:
            raise ValueError("`rank`, `steps` and `batch_size` have to be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def init_student(teacher: torch.nn.Module, rank: int, seed: int, n_layer: int = 0) -> ArmRewardModel:
    """An ARM model whose trunk starts as the teacher's trunk (a GPT-2 sequence classifier).

    With `n_layer`, only the teacher's first blocks are kept: a shallower trunk makes the one
    reward call per token cheaper than the policy's own step, which is ARM's point.
    """
    torch.manual_seed(seed)
    depth = n_layer or teacher.config.n_layer
    config = GPT2Config.from_dict({**teacher.config.to_dict(), "arm_rank": rank, "num_labels": 1, "n_layer": depth,
                                   "architectures": ["ArmRewardModel"], "playground_output": "sigmoid"})
    student = ArmRewardModel(config)
    kept = {k: v for k, v in teacher.transformer.state_dict().items()
            if not k.startswith("h.") or int(k.split(".")[1]) < depth}
    student.transformer.load_state_dict(kept)
    return student.float()


def pad(rows: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to (B, T) ids and mask."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
    return ids, mask


def reply_weights(mask: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """(B, T-1) loss weights of the positions that predict reply tokens, growing linearly."""
    pos = torch.arange(1, mask.shape[1])[None]  # (1, T-1): index of the predicted token
    inside = (pos >= starts[:, None]) & mask[:, 1:].bool()  # (B, T-1)
    w = (pos - starts[:, None] + 1).clamp(min=0).float() * inside
    return w / w.sum(1, keepdim=True).clamp(min=1)


@torch.no_grad()
def teacher_targets(teacher: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T-1): the teacher's sigmoid prefix score of x<=t, aligned with the student's output t-1."""
    hidden = teacher.transformer(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
    return teacher.score(hidden).squeeze(-1)[:, 1:].float().sigmoid()  # (B, T-1)


def train_arm(teacher: torch.nn.Module, rows: Sequence[list[int]], starts: Sequence[int], labels: Sequence[float],
              config: ArmTrainConfig, pad_id: int, progress: Callable[[int, float], None] | None = None
              ) -> tuple[ArmRewardModel, dict]:
    """Train a student; `rows` are token ids of whole texts, `starts` the index of each reply's first token."""
    student = init_student(teacher.float().eval(), config.rank, config.seed, config.n_layer)
    opt = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=0.01)
    sched = warmup_cosine(opt, 20, config.steps)
    order = random.Random(config.seed)
    losses = []
    student.train()
    for step in range(config.steps):
        batch = order.sample(range(len(rows)), min(config.batch_size, len(rows)))
        ids, mask = pad([rows[i] for i in batch], pad_id)
        start = torch.tensor([starts[i] for i in batch])
        if config.mode == "distill":
            target = teacher_targets(teacher, ids, mask)  # (B, T-1)
        else:
            target = torch.tensor([labels[i] for i in batch])[:, None].expand(-1, ids.shape[1] - 1)
        logits = student(ids, mask)  # (B, T-1)
        loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                * reply_weights(mask, start)).sum(1).mean()
        losses.append(optimizer_step(opt, sched, loss, student.parameters()))
        if progress:
            progress(step, losses[-1])
    student.eval()
    return student, {"final_loss": sum(losses[-20:]) / len(losses[-20:]), "config": config.to_dict()}
