"""Pure rendering of panel views: token HTML, the totals table and the plotly trace figure.

Every piece of user or model text is escaped here, once, before it reaches the page. These
functions take views and return strings or figures; they hold no state and know no Gradio.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.runner import PanelView

PANEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
TRACES = (
    ("reward", "reward of the prefix (an outcome reward on a prefix, not a value)"),
    ("value", "decoder's selection estimate (rollout / lookahead)"),
    ("kl", "KL(decoder || base) at the step"),
    ("entropy", "entropy of the base distribution"),
)


def reward_range(views: Sequence[PanelView]) -> tuple[float, float]:
    values = [t.reward for v in views for t in v.tokens if t.reward is not None and math.isfinite(t.reward)]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-9 else (lo, hi)


def reward_color(reward: float | None, lo: float, hi: float) -> str:
    """Diverging red -> white -> green over [lo, hi]; transparent when there is no reward."""
    if reward is None or not math.isfinite(reward):
        return "transparent"
    x = 2 * (reward - lo) / (hi - lo) - 1  # in [-1, 1]
    x = max(-1.0, min(1.0, x))
    alpha = 0.15 + 0.55 * abs(x)
    return f"rgba(26,152,80,{alpha:.2f})" if x >= 0 else f"rgba(215,48,39,{alpha:.2f})"


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def token_html(view: PanelView, lo: float, hi: float, panel: int = 0) -> str:
    """The continuation as coloured spans; the tooltip holds the exact numbers of each token."""
    spans = []
    for t in view.tokens:
        parts = " ".join(f"{k}={_fmt(v)}" for k, v in t.reward_parts.items())
        tip = (f"step {t.index} | token {t.text!r} (id {t.token_id}) | reward {_fmt(t.reward)} {parts} | "
               f"value {_fmt(t.value)} | log p base {_fmt(t.logprob_base)} | KL {_fmt(t.kl)}")
        spans.append(f'<span class="tok" data-panel="{panel}" data-step="{t.index}" '
                     f'style="background:{reward_color(t.reward, lo, hi)}" title="{html.escape(tip)}">'
                     f"{html.escape(t.text)}</span>")
    status = ""
    if view.finished is not None:
        f = view.finished
        status = (f'<div class="status error">{html.escape(f.error or "error")}</div>' if f.stop_reason == "error"
                  else f'<div class="status">{html.escape(f.stop_reason)}</div>')
    elif not view.tokens:
        status = '<div class="status">waiting...</div>'
    notes = "".join(f'<div class="note">{html.escape(n)}</div>' for n in view.notes)
    return f'{notes}<div class="tokens">{"".join(spans)}</div>{status}'


def legend_html(lo: float, hi: float) -> str:
    return (f'<div class="legend">token colour: reward of the prefix after the token, '
            f'<span style="background:{reward_color(lo, lo, hi)}">{lo:.2f}</span> to '
            f'<span style="background:{reward_color(hi, lo, hi)}">{hi:.2f}</span>; '
            f"hover a token for its numbers</div>")


def totals_rows(view: PanelView) -> list[tuple[str, str]]:
    """(name, value) rows for one finished (or running) panel."""
    steps = view.tokens
    rows = [("tokens", str(len(steps))), ("KL to base (sum)", _fmt(sum(t.kl for t in steps)))]
    f = view.finished
    if f is not None:
        rows.insert(0, ("final reward", _fmt(f.reward)))
        rows[1:1] = [(f"  {k}", _fmt(v)) for k, v in f.reward_parts.items()]
        n = max(f.new_tokens, 1)
        rows += [("stop", f.stop_reason), ("tokens/s", _fmt(f.new_tokens / max(f.elapsed_s, 1e-9), 1)),
                 ("LM tokens / token", _fmt(f.cost.lm_tokens / n, 2)),
                 ("reward-model tokens / token", _fmt(f.cost.reward_tokens / n, 2)), ("seed", str(f.seed))]
    return rows


def totals_markdown(view: PanelView) -> str:
    body = "\n".join(f"| {html.escape(k)} | {html.escape(v)} |" for k, v in totals_rows(view))
    return "| metric | value |\n|---|---|\n" + body


def trace_figure(views: Sequence[PanelView], labels: Sequence[str]) -> go.Figure:
    """Reward, value, KL and entropy per step, one line per panel on shared step axes."""
    fig = make_subplots(rows=len(TRACES), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[title for _, title in TRACES])
    for p, (view, label) in enumerate(zip(views, labels, strict=True)):
        x = [t.index for t in view.tokens]
        for row, (name, _) in enumerate(TRACES, start=1):
            y = [getattr(t, name) for t in view.tokens]
            if all(v is None for v in y):
                continue
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=label, legendgroup=label,
                                     showlegend=row == 1, line={"color": PANEL_COLORS[p % len(PANEL_COLORS)]},
                                     marker={"size": 4}), row=row, col=1)
    fig.update_layout(height=560, margin={"l": 40, "r": 10, "t": 40, "b": 30}, legend={"orientation": "h"})
    fig.update_xaxes(title_text="step", row=len(TRACES), col=1)
    return fig
