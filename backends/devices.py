"""Device and dtype choice, and the per-run meter of tokens processed.

Not a model registry and not a scheduler: the Engine serialises access to the accelerator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """`auto` prefers CUDA, then Apple's MPS, then the CPU; `PLAYGROUND_DEVICE` overrides."""
    preference = os.environ.get("PLAYGROUND_DEVICE", preference)
    if preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device={preference!r}: CUDA is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA cards that support it, fp16 on other accelerators, fp32 on the CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


@dataclass
class Meter:
    """Tokens fed through language models and reward models during one run.

    Shared by every state forked from one run, so rollouts and lookaheads are counted too.
    A stack reports its role through an attribute `role` ("lm" or "reward").
    """

    lm_tokens: int = 0
    reward_tokens: int = 0
    base_tokens: int = 0  # the preset's base (reference) model, when it is not the policy

    def add(self, stack: object, n: int) -> None:
        self.count(getattr(stack, "role", "lm"), n)

    def count(self, role: str, n: int) -> None:
        """Add n tokens to the line of `role`: "reward", "base", anything else is an LM token."""
        if role == "reward":
            self.reward_tokens += n
        elif role == "base":
            self.base_tokens += n
        else:
            self.lm_tokens += n


def set_cpu_threads(setting: str | int, device: torch.device) -> int:
    """Apply a torch CPU thread count; `auto` uses one thread on the CPU.

    The zoo's models are so small that intra-op parallelism only adds synchronisation: one
    thread decoded about 6x faster than two on a loaded 2-core machine (158 vs 25 tokens/s).
    Set `PLAYGROUND_TORCH_THREADS` to a number for large models on many cores.
    """
    if setting == "auto":
        if device.type == "cpu":
            torch.set_num_threads(1)
    else:
        torch.set_num_threads(max(1, int(setting)))
    return torch.get_num_threads()
