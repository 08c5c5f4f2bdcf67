"""The small optimisation loop shared by the project's fine-tuning code (ARM heads, DPO policies).

A linear warm-up times a cosine decay to a floor, and one clipped AdamW step. The zoo's base
training keeps its own schedule (backends.zoo.train); this module holds no model or data logic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup: int, steps: int,
                  floor: float = 0.1) -> torch.optim.lr_scheduler.LambdaLR:
    """lr factor min(1, (s + 1) / warmup) * (floor + (1 - floor) * (1 + cos(pi * s / steps)) / 2)."""
    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / steps)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_step(optimizer: torch.optim.Optimizer, scheduler, loss: torch.Tensor,
                   params: Iterable[torch.nn.Parameter], clip: float = 1.0) -> float:
    """Backpropagate `loss`, clip the gradient norm, step optimiser and schedule; returns the loss."""
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(params), clip)
    optimizer.step()
    scheduler.step()
    return loss.item()
