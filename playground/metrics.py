"""Numbers derived from panel views: divergence across panels, running KL, reward vs KL, feature
distance to the base, totals.

Pure functions of `PanelView`s (lists of events), shared by the renderers and the plots. This
module draws nothing and knows neither Gradio nor plotly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate

from playground.runner import PanelView


def first_difference(a: Sequence[int], b: Sequence[int], complete: bool = True) -> int | None:
    """First index where two token-id sequences differ.

    A sequence that ended while the other goes on differs at its length, but only when both are
    `complete` (finished): a panel still streaming may yet produce the same token.
    """
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    if complete and len(a) != len(b):
        return min(len(a), len(b))
    return None


def divergence_step(views: Sequence[PanelView]) -> int | None:
    """The first step at which the panels' token ids are not all the same (None: not yet / never)."""
    if len(views) < 2:
        return None
    ids = [[t.token_id for t in v.tokens] for v in views]
    complete = all(v.done for v in views)
    steps = [first_difference(ids[0], other, complete) for other in ids[1:]]
    found = [s for s in steps if s is not None]
    return min(found) if found else None


def cumulative_kl(view: PanelView) -> list[float]:
    """Running sum of the per-step KL(decoder || base): the sequence-level deviation so far."""
    return list(accumulate(t.kl for t in view.tokens))


def reward_vs_kl(view: PanelView) -> tuple[list[float], list[float]]:
    """(cumulative KL, reward of the prefix) at each step that has a reward.

    The reward of a prefix is already an outcome score of everything generated so far, so it is
    plotted as is (summing it over steps would count each token many times); the running KL is
    the price paid for it.
    """
    xs, ys = [], []
    for kl, t in zip(cumulative_kl(view), view.tokens, strict=True):
        if t.reward is not None and math.isfinite(t.reward):
            xs.append(kl)
            ys.append(t.reward)
    return xs, ys


def tokens_per_second(view: PanelView) -> float | None:
    """Throughput over the stream's own compute time (time inside its steps, not time spent waiting
    for neighbouring panels); without that, from the final record or the steps' wall time."""
    if view.compute_s > 0 and view.tokens:
        return len(view.tokens) / view.compute_s
    if view.finished is not None and view.finished.elapsed_s > 0:
        return view.finished.new_tokens / view.finished.elapsed_s
    wall_ms = sum(t.cost.wall_ms for t in view.tokens)
    return len(view.tokens) / (wall_ms / 1e3) if wall_ms > 0 else None


def cost_per_token(view: PanelView) -> tuple[float | None, float | None]:
    """(LM tokens, reward-model tokens) processed per generated token."""
    f = view.finished
    if f is not None and f.stop_reason != "error":
        n = max(f.new_tokens, 1)
        return f.cost.lm_tokens / n, f.cost.reward_tokens / n
    if not view.tokens:
        return None, None
    n = len(view.tokens)
    return sum(t.cost.lm_tokens for t in view.tokens) / n, sum(t.cost.reward_tokens for t in view.tokens) / n


def feature_summary(view: PanelView) -> tuple[float, int, int] | None:
    """(mean SAE feature distance to base, tokens that were not the base's greedy token, tokens traced)."""
    steps = view.feature_steps()
    if not steps:
        return None
    by_index = {t.index: t.token_id for t in view.tokens}
    off = sum(f.base_token != by_index[f.index] for f in steps)
    return sum(f.distance for f in steps) / len(steps), off, len(steps)


SPEED_LABEL = "tokens/s (own compute time)"


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def totals_rows(view: PanelView, diverges_at: int | None = None) -> list[tuple[str, str]]:
    """(metric, value) rows for one panel, running or finished."""
    f = view.finished
    final = f is not None and f.stop_reason != "error"
    reward = f.reward if final else (view.tokens[-1].reward if view.tokens else None)
    parts = f.reward_parts if final else (view.tokens[-1].reward_parts if view.tokens else {})
    lm, rm = cost_per_token(view)
    rows = [("final reward" if final else "reward so far", fmt(reward))]
    rows += [(f"· {name}", fmt(value)) for name, value in parts.items()]
    rows += [("KL to base (sum)", fmt(sum(t.kl for t in view.tokens))),
             ("tokens", str(f.new_tokens if final else len(view.tokens))),
             (SPEED_LABEL, fmt(tokens_per_second(view), 1)),
             ("LM tokens / token", fmt(lm, 2)),
             ("reward-model tokens / token", fmt(rm, 2)),
             ("diverges at step", "-" if diverges_at is None else str(diverges_at))]
    features = feature_summary(view)
    if features is not None:
        mean, off, n = features
        rows += [("feature distance to base (mean)", fmt(mean, 4)), ("tokens off the base's greedy", f"{off} of {n}")]
    if f is not None:
        rows += [("stop", f.stop_reason), ("seed", str(f.seed))]
    return rows
