"""Light streaming for the Compare tab: what changed since the last snapshot, as one small JSON payload.

A run's `LiveRun` remembers what the browser already has (tokens, status, totals, notes, trace
points, summary) and `delta` returns only what changed: new token spans, new trace points, and
the few small pieces of HTML that differ. The page's script (`LIVE_JS`, loaded by a hidden
`gr.HTML` sink) appends the spans, recolours tokens when the shared colour scale moves, and draws
the traces as SVG sparklines; the interactive Plotly figures are sent once, when the run ends.
`final` sends every panel whole, so a payload the browser missed heals at the end. Server-side
HTML is escaped by `playground.render`; nothing here knows Gradio.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.render import (
    head_html,
    panel_divergence,
    reward_range,
    rollouts_html,
    status_html,
    summary_html,
    token_span,
    totals_html,
)
from playground.runner import PanelView

TRACE_NAMES = ("reward", "value", "kl", "entropy")
ASSETS = Path(__file__).resolve().parents[1] / "assets"
LIVE_JS = (ASSETS / "compare.js").read_text() if (ASSETS / "compare.js").is_file() else ""
LIVE_CSS = (ASSETS / "compare.css").read_text() if (ASSETS / "compare.css").is_file() else ""


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 5)


@dataclass
class _Sent:
    """What the browser has of one panel."""

    tokens: int = 0
    pieces: dict[str, str] = field(default_factory=dict)


@dataclass
class LiveRun:
    """One run's stream of payloads (`delta` while streaming, `final` once at the end)."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    seq: int = 0
    sent: list[_Sent] = field(default_factory=list)
    summary: str = ""

    def delta(self, views: list[PanelView], message: str = "", final: bool = False) -> str:
        """A JSON payload with what changed in `views` since the last one."""
        lo, hi = reward_range(views)
        diverge = panel_divergence(views)
        while len(self.sent) < len(views):
            self.sent.append(_Sent())
        panels = [self._panel(i, v, self.sent[i], lo, hi, diverge[i], message, final) for i, v in enumerate(views)]
        summary = summary_html(views, lo, hi, message)
        payload: dict[str, Any] = {"run": self.run, "seq": self.seq, "final": final, "count": len(views),
                                   "lo": lo, "hi": hi, "panels": panels}
        if summary != self.summary or final:
            payload["summary"] = self.summary = summary
        self.seq += 1
        return json.dumps(payload, separators=(",", ":"))

    def final(self, views: list[PanelView], message: str = "") -> str:
        return self.delta(views, message, final=True)

    @staticmethod
    def _panel(i: int, view: PanelView, sent: _Sent, lo: float, hi: float, diverges_at: int | None,
               message: str, final: bool) -> dict[str, Any]:
        tokens = view.tokens
        reset = final  # tokens only grow during a run; the final payload sends each panel whole
        start = 0 if reset else sent.tokens
        new = tokens[start:]
        out: dict[str, Any] = {"i": i, "reset": reset, "from": start,
                               "tokens": "".join(token_span(t, i, lo, hi) for t in new),
                               "trace": {"x": [t.index for t in new],
                                         **{n: [_number(getattr(t, n)) for t in new] for n in TRACE_NAMES}}}
        pieces = {"head": head_html(view), "status": status_html(view, message or "starting..."),
                  "details": totals_html(view, diverges_at) + rollouts_html(view)}
        for key, value in pieces.items():
            if final or sent.pieces.get(key) != value:
                out[key] = sent.pieces[key] = value
        sent.tokens = len(tokens)
        return out

