"""The leaderboard as escaped HTML and plotly figures: ratings, win-fraction and battle-count heatmaps,
side bias and annotator agreement.

Input is a `backends.ranking.Leaderboard` (scores, intervals, ranks, matrices, diagnostics); this
module computes nothing. Configuration labels and annotator ids can carry user-typed text, so
every one is escaped: with `storage.render.html_text` in HTML, and as the entities plotly decodes
in the figures (plotly renders a few tags, links included, in its text).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from backends.ranking import Leaderboard
from storage.render import html_text

AXIS_CHARS = 24  # of a decoder name on a heatmap axis (the hover has the whole label)


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def ratings_html(board: Leaderboard, votes: int) -> str:
    """The ranking table, best first: #, rank, configuration, score and 95% interval, votes, win rate."""
    if not board.ratings:
        return '<div class="lb-empty">No votes match these filters yet: vote in the Arena, then Refresh.</div>'
    rows = "".join(
        f'<tr><td>{i}</td><td>{r.rank}</td><td class="lb-config">{html_text(r.config)}</td><td>{r.score:.0f}</td>'
        f"<td>{r.lower:.0f} to {r.upper:.0f}</td><td>{r.battles}</td>"
        f"<td>{_pct(r.wins / r.battles if r.battles else None)}</td></tr>" for i, r in enumerate(board.ratings, 1))
    head = ("<tr><th>#</th><th>rank</th><th>configuration</th><th>score</th><th>95% interval</th><th>votes</th>"
            "<th>win rate</th></tr>")
    note = (f"{votes} vote{'s' * (votes != 1)} over {len(board.ratings)} configurations. Bradley-Terry scores "
            f"(400 × log-odds + 1000, {html_text(board.reference or '')} = 1000), 95% intervals from "
            f"{board.resamples} bootstrap resamples; rank = 1 + configurations surely better. Ties and "
            "both-bad count half a win each way. The heatmaps number the configurations by #.")
    table = f'<table class="lb-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'
    return f'{table}<div class="lb-note">{note}</div>'


def plotly_text(text: str) -> str:
    """Text plotly shows literally: its tags (<b>, <a href>, <br> ...) escaped as the entities it decodes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _axis(labels: list[str]) -> list[str]:
    """`1. args`: the table's # and the decoder name (the hover has the whole label)."""
    short = [c.split("(")[0][:AXIS_CHARS] for c in labels]
    return [f"{i + 1}. {plotly_text(c)}" for i, c in enumerate(short)]


def heatmap(board: Leaderboard, which: str) -> go.Figure:
    """`which` = "win_fraction" (row's share of wins against column) or "battles" (votes per pair).

    Rows and columns follow the ranking table (best first), numbered as its # column.
    """
    order = [board.configs.index(r.config) for r in board.ratings]
    matrix = np.asarray(getattr(board, which), dtype=float)[np.ix_(order, order)]  # (K, K)
    labels = [board.configs[i] for i in order]
    axis, full = _axis(labels), [plotly_text(c) for c in labels]
    if which == "win_fraction":
        title, scale, zrange = "Win fraction: row against column (ties half)", "RdBu", dict(zmin=0.0, zmax=1.0)
        text = [[_pct(v) if math.isfinite(v) else "" for v in row] for row in matrix]
    else:
        title, scale, zrange = "Votes per pair", "Blues", dict(zmin=0.0)
        text = [[f"{v:.0f}" if v else "" for v in row] for row in matrix]
    z = [[v if math.isfinite(v) else None for v in row] for row in matrix]
    hover = [[f"{full[i]}<br>vs {full[j]}<br>{text[i][j] or 'never met'}" for j in range(len(full))]
             for i in range(len(full))]
    fig = go.Figure(go.Heatmap(z=z, x=axis, y=axis, text=text, texttemplate="%{text}", hovertext=hover,
                               hoverinfo="text", colorscale=scale, **zrange))
    fig.update_layout(title=title, height=260 + 36 * len(axis), margin=dict(l=10, r=10, t=50, b=10),
                      yaxis=dict(autorange="reversed"))
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
    return (f'<table class="lb-table lb-agreement"><thead>{head}</thead><tbody>{rows}</tbody></table>'
            '<div class="lb-note">Comparable: decisive votes on a pair where the other annotators have a '
            "strict majority.</div>")
