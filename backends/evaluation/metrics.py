"""The papers' evaluation metrics and their statistics, as pure functions on plain values.

Diversity (ARGS / TQ* evaluation code), KL to base and the sequence log ratio read from a trace
of `to_dict` events, coherence as a cosine of unit embeddings, percentile bootstrap intervals
over prompts (for means and for ratios of sums), and the paired win rate with ties counted half.
It loads no model and knows nothing about decoders, files or processes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

BOOTSTRAP_SAMPLES = 2000
TIE_TOLERANCE = 1e-9  # judge scores closer than this are a tie


def rep_n(text: str, n: int) -> float:
    """Percent of repeated whitespace-token n-grams: 100 * (1 - unique / (count + 1))."""
    tokens = text.split()
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return 100.0 * (1.0 - len(set(grams)) / (len(grams) + 1))


def diversity(text: str) -> float:
    """prod over n = 2, 3, 4 of (1 - rep_n / 100); 0 for texts too short to have n-grams."""
    out = 1.0
    for n in (2, 3, 4):
        out *= 1.0 - rep_n(text, n) / 100.0
    return out


def sequence_kl(trace: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Sum of per-step KL(decoder || base) and sum(logprob_decoder - logprob_base) over kept tokens.

    `trace` is a list of `events.to_dict` records. A non-finite log-prob (stored as None) makes the
    log ratio None.
    """
    steps = [event for event in trace if event.get("type") == "token"]
    kl = sum(float(s.get("kl") or 0.0) for s in steps)
    pairs = [(s.get("logprob_decoder"), s.get("logprob_base")) for s in steps]
    ratio = None if any(d is None or b is None for d, b in pairs) else sum(d - b for d, b in pairs)
    return {"kl": kl, "log_ratio": ratio}


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Row-wise cosine similarity of (N, D) and (N, D) -> N floats."""
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1).tolist()


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95% percentile-bootstrap interval over `n` prompts."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n}


EMPTY = Interval(None, None, None, 0)


def bootstrap_ratio(nums: Sequence[float], dens: Sequence[float], *, samples: int = BOOTSTRAP_SAMPLES,
                    seed: int = 0, level: float = 0.95) -> Interval:
    """sum(nums) / sum(dens) with a percentile interval from resampling the (num, den) pairs.

    One pair per prompt (e.g. tokens generated and seconds spent on it); resampling whole prompts
    keeps a prompt's samples together. Resamples whose denominator is 0 are dropped.
    """
    num, den = np.asarray(nums, dtype=float), np.asarray(dens, dtype=float)  # (P,), (P,)
    if num.size == 0 or den.sum() == 0:
        return Interval(None, None, None, int(num.size))
    idx = np.random.default_rng(seed).integers(0, num.size, size=(samples, num.size))  # (S, P)
    top, bottom = num[idx].sum(1), den[idx].sum(1)  # (S,), (S,)
    stats = top[bottom != 0] / bottom[bottom != 0]
    tail = (1.0 - level) / 2
    lo, hi = np.quantile(stats, [tail, 1.0 - tail])
    return Interval(float(num.sum() / den.sum()), float(lo), float(hi), int(num.size))


def bootstrap_mean(values: Sequence[float | None], **kwargs: Any) -> Interval:
    """Mean of the finite values (one per prompt) with a 95% percentile-bootstrap interval."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return bootstrap_ratio(finite, [1.0] * len(finite), **kwargs)


def outcome(a: float, b: float, tolerance: float = TIE_TOLERANCE) -> float:
    """1 if a beats b, 0.5 for a tie, 0 if b wins."""
    if abs(a - b) <= tolerance:
        return 0.5
    return 1.0 if a > b else 0.0


@dataclass(frozen=True)
class WinRate:
    """A's win rate over B on paired outputs (ties half), with a paired bootstrap interval."""

    rate: Interval
    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, Any]:
        return {"win_rate": self.rate.mean, "lo": self.rate.lo, "hi": self.rate.hi, "prompts": self.rate.n,
                "wins": self.wins, "ties": self.ties, "losses": self.losses}


def win_rate(pairs: Mapping[Any, Sequence[tuple[float, float]]], **kwargs: Any) -> WinRate:
    """`pairs`: prompt -> [(score of A, score of B) for each paired sample of that prompt].

    Each prompt contributes the mean outcome of its pairs; the interval resamples prompts, so
    the pairing (same prompt, same seed) is kept inside every resample.
    """
    per_prompt, counts = [], [0, 0, 0]
    for scores in pairs.values():
        outcomes = [outcome(a, b) for a, b in scores]
        if not outcomes:
            continue
        per_prompt.append(sum(outcomes) / len(outcomes))
        for o in outcomes:
            counts[0 if o == 1.0 else 1 if o == 0.5 else 2] += 1
    return WinRate(bootstrap_mean(per_prompt, **kwargs), *counts)
