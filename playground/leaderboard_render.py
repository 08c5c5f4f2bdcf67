"""The leaderboard as escaped HTML and plotly figures: ratings, win-fraction and battle-count heatmaps,
side bias and annotator agreement.

Input is a `backends.ranking.Leaderboard` (scores, intervals, ranks, matrices, diagnostics); this
module computes nothing. Configurations are named by their readable label
(`playground.labels.short_labels`: `tqstar k=5 rollout_len=8`), the full stored label in a
tooltip (the table's `title`, the heatmaps' hover). Provisional configurations (fewer votes than
the leaderboard's minimum) are marked. Tables sit in a box that scrolls sideways on a narrow
screen. Configuration labels and annotator ids can carry user-typed text, so every one is
escaped: with `playground.escape.html_text` in HTML, and as the entities plotly decodes in the
figures (plotly renders a few tags, links included, in its text).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from backends.ranking import Leaderboard, Rating
from playground.escape import html_text
from playground.labels import short_labels

AXIS_CHARS = 28  # of a readable label on a heatmap axis (the hover has the whole label)
EMPTY = "no battles"  # an empty heatmap cell's hover


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def _config_cell(rating: Rating, name: str) -> str:
    mark = ' <span class="lb-provisional" title="fewer votes than the minimum: ranked after the others">' \
           "provisional</span>" if rating.provisional else ""
    return (f'<td class="lb-config" title="{html_text(rating.config)}">{html_text(name)}{mark}</td>')


def ratings_html(board: Leaderboard, votes: int, min_votes: int = 0) -> str:
    """The ranking table, best first: #, rank, configuration, score and 95% interval, votes, win rate."""
    if not board.ratings:
        return '<div class="lb-empty">No votes match these filters yet: vote in the Arena, then Refresh.</div>'
    names = short_labels(r.config for r in board.ratings)
    rows = "".join(
        f'<tr{" class=lb-prov" if r.provisional else ""}><td>{i}</td><td>{r.rank}</td>'
        f"{_config_cell(r, names[r.config])}<td>{r.score:.0f}</td>"
        f"<td>{r.lower:.0f} to {r.upper:.0f}</td><td>{r.battles}</td>"
        f"<td>{_pct(r.wins / r.battles if r.battles else None)}</td></tr>" for i, r in enumerate(board.ratings, 1))
    head = ("<tr><th>#</th><th>rank</th><th>configuration</th><th>score</th><th>95% interval</th><th>votes</th>"
            "<th>win rate</th></tr>")
    reference = board.reference or ""
    note = (f"{votes} vote{'s' * (votes != 1)} over {len(board.ratings)} configurations. Bradley-Terry scores "
            f"(400 × log-odds + 1000, {html_text(names.get(reference, reference))} = 1000), 95% intervals from "
            f"{board.resamples} bootstrap resamples; rank = 1 + configurations surely better. Ties and "
            "both-bad count half a win each way. The heatmaps number the configurations by #. Hover a "
            "configuration for its full settings.")
    if any(r.provisional for r in board.ratings):
        note += (f" <b>Provisional</b>: in fewer than {min_votes} votes, ranked after the others whatever "
                 "their score.")
    table = f'<div class="lb-scroll"><table class="lb-table"><thead>{head}</thead><tbody>{rows}</tbody></table></div>'
    return f'{table}<div class="lb-note">{note}</div>'


def plotly_text(text: str) -> str:
    """Text plotly shows literally: its tags (<b>, <a href>, <br> ...) escaped as the entities it decodes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _axis(names: list[str]) -> list[str]:
    """`1. args w=3`: the table's # and the readable label, cut to AXIS_CHARS (the hover has the whole label)."""
    short = [n if len(n) <= AXIS_CHARS else n[:AXIS_CHARS - 1] + "…" for n in names]
    return [f"{i + 1}. {plotly_text(c)}" for i, c in enumerate(short)]


def _cells(matrix: np.ndarray, met: np.ndarray, which: str) -> tuple[list, list]:
    """(z, text) of a (K, K) matrix: None and "" where the pair never met (a blank cell, not a colour)."""
    k = len(matrix)
    show = _pct if which == "win_fraction" else (lambda v: f"{v:.0f}")
    z = [[float(matrix[i, j]) if met[i, j] else None for j in range(k)] for i in range(k)]
    text = [[show(matrix[i, j]) if met[i, j] else "" for j in range(k)] for i in range(k)]
    return z, text


def heatmap(board: Leaderboard, which: str) -> go.Figure:
    """`which` = "win_fraction" (row's share of wins against column) or "battles" (votes per pair).

    Rows and columns follow the ranking table (best first), numbered as its # column. Pairs that
    never met are blank cells (None: plotly leaves them uncoloured, on a white ground) marked with
    a grey dot that hovers "no battles", so they cannot be read as a value.
    """
    order = [board.configs.index(r.config) for r in board.ratings]
    matrix = np.asarray(getattr(board, which), dtype=float)[np.ix_(order, order)]  # (K, K)
    met = np.asarray(board.battles, dtype=float)[np.ix_(order, order)] > 0  # (K, K)
    labels = [board.configs[i] for i in order]
    names = short_labels(labels)
    axis, full = _axis([names[c] for c in labels]), [plotly_text(c) for c in labels]
    z, text = _cells(matrix, met, which)
    if which == "win_fraction":
        title, scale, zrange = "Win fraction, row vs column", "RdBu", dict(zmin=0.0, zmax=1.0)
    else:
        top = max([v for row in z for v in row if v is not None], default=1.0)
        title, scale, zrange = "Votes per pair", "Blues", dict(zmin=0.0, zmax=max(1.0, top))
    hover = [[f"{full[i]}<br>vs {full[j]}<br>{text[i][j] or EMPTY}" for j in range(len(full))]
             for i in range(len(full))]
    fig = go.Figure(go.Heatmap(z=z, x=axis, y=axis, text=text, texttemplate="%{text}", hovertext=hover,
                               hoverinfo="text", hoverongaps=True, colorscale=scale, xgap=1, ygap=1, **zrange))
    gaps = [(axis[j], axis[i]) for i in range(len(axis)) for j in range(len(axis)) if not met[i, j]]
    if gaps:
        fig.add_trace(go.Scatter(x=[x for x, _ in gaps], y=[y for _, y in gaps], mode="markers", name=EMPTY,
                                 marker=dict(size=5, color="#b0b0b0"), hovertext=[EMPTY] * len(gaps),
                                 hoverinfo="text", showlegend=False))
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left", font=dict(size=14)),
                      height=260 + 36 * len(axis), margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="#ffffff",
                      yaxis=dict(autorange="reversed", showgrid=False), xaxis=dict(showgrid=False, tickangle=-30))
    return fig


def side_bias_html(board: Leaderboard) -> str:
    sb = board.side_bias
    if sb is None:
        return '<div class="lb-bias">Side bias: no decisive votes yet.</div>'
    return (f'<div class="lb-bias">Side bias: the left side won <b>{_pct(sb.fraction)}</b> of {sb.decisive} '
            f"decisive votes (95% interval {_pct(sb.lower)} to {_pct(sb.upper)}; 50% = no bias).</div>")


def agreement_html(board: Leaderboard) -> str:
    """Per annotator: votes, and how often their decisive votes side with the others' majority."""
    if not board.agreement:
        return ""
    rows = "".join(
        f"<tr><td>{html_text(a.annotator)}</td><td>{a.votes}</td><td>{a.decisive}</td><td>{a.compared}</td>"
        f"<td>{_pct(a.fraction)}</td></tr>" for a in board.agreement)
    head = ("<tr><th>annotator</th><th>votes</th><th>decisive</th><th>comparable</th>"
            "<th>agrees with the crowd</th></tr>")
    return (f'<div class="lb-scroll"><table class="lb-table lb-agreement"><thead>{head}</thead><tbody>{rows}</tbody>'
            "</table></div>"
            '<div class="lb-note">Comparable: decisive votes on a pair where the other annotators have a '
            "strict majority.</div>")
