"""Plotly figures of the per-token traces: reward, value, KL, entropy, and reward against running KL.

One line per panel, in the panel's colour, on shared step axes. The titles say what each trace
is (an outcome reward applied to a prefix is not a value function). When a panel streamed
sparse-autoencoder feature traces, a last row shows each token's feature distance to the base
policy's greedy token (where a decoder leaves the base's features). Pure: views in, figures
out; nothing here knows Gradio.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

from playground.metrics import reward_vs_kl
from playground.runner import PanelView

PANEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
TRACES = (  # short titles: they must fit a phone's plot width
    ("reward", "reward of the prefix (not a value function)"),
    ("value", "value: the decoder's selection estimate"),
    ("kl", "KL(decoder ‖ base) at the step"),
    ("entropy", "entropy of the base distribution"),
)
FEATURE_TRACE = ("distance", "SAE feature distance to the base")
NOTES = ("*reward*: an outcome reward applied to each prefix, not a value function · *value*: the decoder's "
         "rollout return or lookahead score · *feature distance*: to the base's greedy token (FPO; 0 = the "
         "base's token)")
ROW_HEIGHT = 155  # px per subplot


def color(panel: int) -> str:
    return PANEL_COLORS[panel % len(PANEL_COLORS)]


def _line(label: str, p: int, row: int, name: str, **kw) -> go.Scatter:
    # Lines without markers: a marker per token and panel made drawing the figure a long task.
    return go.Scatter(mode="lines", name=label, legendgroup=label, showlegend=row == 1,
                      line={"color": color(p), "width": 1.5}, marker={"size": 4}, connectgaps=False,
                      hovertemplate=f"{label}<br>step %{{x}}<br>{name} %{{y:.4f}}<extra></extra>", **kw)


def _feature_line(view: PanelView, label: str, p: int, row: int) -> go.Scatter | None:
    """Feature distance per token; the hover adds the overlap and the base's greedy token."""
    steps = view.feature_steps()
    if not steps:
        return None
    line = _line(label, p, row, "feature distance", x=[f.index for f in steps], y=[f.distance for f in steps],
                 customdata=[[f.overlap, html.escape(repr(f.base_text), quote=False)] for f in steps])
    line.hovertemplate = (f"{label}<br>step %{{x}}<br>feature distance %{{y:.4f}}<br>"
                          "overlap %{customdata[0]:.0%} · base greedy %{customdata[1]}<extra></extra>")
    return line


def trace_figure(views: Sequence[PanelView], labels: Sequence[str]) -> go.Figure:
    """Reward, value, KL and entropy per step, one line per panel on shared step axes; plus the
    feature distance to the base when any panel has feature traces."""
    from plotly.subplots import make_subplots  # 0.15 s (its validators), at the first run, not with the page

    rows = (*TRACES, FEATURE_TRACE) if any(v.features for v in views) else TRACES
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.28 / len(rows),
                        subplot_titles=[title for _, title in rows])
    for p, (view, label) in enumerate(zip(views, labels, strict=True)):
        x = [t.index for t in view.tokens]
        for row, (name, _) in enumerate(TRACES, start=1):
            y = [getattr(t, name) for t in view.tokens]
            if y and any(v is not None for v in y):
                fig.add_trace(_line(label, p, row, name, x=x, y=y), row=row, col=1)
        features = _feature_line(view, label, p, len(rows)) if len(rows) > len(TRACES) else None
        if features is not None:
            fig.add_trace(features, row=len(rows), col=1)
    fig.update_layout(height=ROW_HEIGHT * len(rows), margin={"l": 45, "r": 10, "t": 40, "b": 35},
                      legend={"orientation": "h", "y": -0.08}, uirevision="traces")
    fig.update_annotations(font_size=11)
    fig.update_xaxes(title_text="step", row=len(rows), col=1)
    return fig


def reward_kl_figure(views: Sequence[PanelView], labels: Sequence[str]) -> go.Figure:
    """Reward of the prefix against the running sum of KL: what each panel paid for its reward.

    The final record's reward (the whole continuation) is marked with a star at the total KL.
    """
    fig = go.Figure()
    for p, (view, label) in enumerate(zip(views, labels, strict=True)):
        xs, ys = reward_vs_kl(view)
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, legendgroup=label,
                                     line={"color": color(p), "width": 1.5}, marker={"size": 4},
                                     hovertemplate=f"{label}<br>KL so far %{{x:.3f}}<br>reward %{{y:.4f}}"
                                                   "<extra></extra>"))
        f = view.finished
        if f is not None and f.reward is not None and view.tokens:
            total_kl = sum(t.kl for t in view.tokens)
            fig.add_trace(go.Scatter(x=[total_kl], y=[f.reward], mode="markers", name=f"{label} final",
                                     legendgroup=label, showlegend=False,
                                     marker={"symbol": "star", "size": 13, "color": color(p)},
                                     hovertemplate=f"{label} final<br>KL %{{x:.3f}}<br>reward %{{y:.4f}}"
                                                   "<extra></extra>"))
    fig.update_layout(height=320, margin={"l": 45, "r": 10, "t": 40, "b": 40}, uirevision="reward-kl",
                      title={"text": "reward of the prefix vs cumulative KL to base (★ final)", "font": {"size": 12}},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text="cumulative KL(decoder ‖ base)")
    fig.update_yaxes(title_text="reward")
    return fig
