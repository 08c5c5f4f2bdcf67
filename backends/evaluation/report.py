"""report.html of an evaluation: reward vs KL and reward vs cost, one point per configuration.

The figures are plotly JSON specs written by hand and drawn by plotly.js, which is inlined from
the installed plotly package's bundled file (found without importing plotly, which backends/
must not), so the report opens offline; without the package it falls back to the CDN. A sweep is
drawn as a line through its points (the trade-off curve). Reads the results dict only.
"""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path
from typing import Any

CDN = "https://cdn.plot.ly/plotly-2.35.2.min.js"
AXES = (
    ("kl", "KL to base (sum over tokens)", False),
    ("cost", "LM + reward-model tokens processed per generated token", True),
    ("ms_per_token", "milliseconds per generated token", True),
)


def plotly_js() -> tuple[str | None, str]:
    """(the bundled plotly.min.js text, where it came from), or (None, why) if there is none."""
    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8"), str(path)
    return None, "the plotly package is not installed"


def _x(d: dict[str, Any], axis: str) -> float | None:
    m = d["metrics"]
    if axis == "kl":
        return m["kl"]["mean"]
    if axis == "cost":
        lm, rm = m["lm_tokens_per_token"]["mean"], m["reward_tokens_per_token"]["mean"]
        return None if lm is None or rm is None else lm + rm
    tps = m["tokens_per_s"]["mean"]
    return 1e3 / tps if tps else None


def _point(d: dict[str, Any], axis: str) -> dict[str, Any]:
    r = d["metrics"]["reward"]
    up = None if r["hi"] is None else r["hi"] - r["mean"]
    down = None if r["lo"] is None else r["mean"] - r["lo"]
    return {"type": "scatter", "mode": "markers+text", "name": d["label"], "x": [_x(d, axis)], "y": [r["mean"]],
            "text": [d["label"]], "textposition": "middle right",
            "error_y": {"type": "data", "symmetric": False, "array": [up], "arrayminus": [down]},
            "hovertemplate": f"{html.escape(d['label'])}<br>x=%{{x:.3f}}<br>reward=%{{y:.3f}}<extra></extra>"}


def _sweep_line(sweep: dict[str, Any], by_label: dict[str, dict], axis: str) -> dict[str, Any]:
    points = [by_label[p["label"]] for p in sweep["points"]]
    return {"type": "scatter", "mode": "lines+markers+text", "name": f"{sweep['decoder']} sweep over {sweep['key']}",
            "x": [_x(d, axis) for d in points], "y": [d["metrics"]["reward"]["mean"] for d in points],
            "text": [f"{sweep['key']}={d['sweep_value']}" for d in points], "textposition": "top center"}


def figures(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One plotly figure spec per x axis: every configuration a point, every sweep a line."""
    by_label = {d["label"]: d for d in res["decoders"]}
    out = []
    for axis, title, log_x in AXES:
        data = [_point(d, axis) for d in res["decoders"] if not d.get("sweep_key")]
        data += [_sweep_line(s, by_label, axis) for s in res["sweeps"]]
        layout = {"title": {"text": f"Reward vs {title}"}, "xaxis": {"title": {"text": title},
                  "type": "log" if log_x else "linear"}, "yaxis": {"title": {"text": "reward (mean, 95% interval)"}},
                  "height": 480, "legend": {"orientation": "h", "y": -0.25}}
        out.append({"id": f"fig-{axis}", "data": data, "layout": layout})
    return out


def _table(res: dict[str, Any]) -> str:
    names = ("reward", "kl", "log_ratio", "diversity", "coherence", "length", "tokens_per_s",
             "lm_tokens_per_token", "reward_tokens_per_token")
    head = "".join(f"<th>{n}</th>" for n in ("configuration", *names, "errors"))
    rows = []
    for d in res["decoders"]:
        cells = []
        for n in names:
            m = d["metrics"][n]
            cells.append("<td>-</td>" if m["mean"] is None else
                         f"<td title='95% [{m['lo']:.3f}, {m['hi']:.3f}]'>{m['mean']:.3f}</td>")
        rows.append(f"<tr><td>{html.escape(d['label'])}</td>{''.join(cells)}<td>{d['errors']}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render(res: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML page."""
    js, source = plotly_js()
    script = f"<script>{js}</script>" if js else f'<script src="{CDN}"></script>'
    where = (f"plotly.js inlined from {html.escape(source)}" if js else
             f"plotly.js from the CDN ({html.escape(source)}): needs network to draw")
    spec = json.dumps(figures(res)).replace("</", "<\\/")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in res["notes"])
    divs = "".join(f'<div id="fig-{axis}"></div>' for axis, _, _ in AXES)
    run = html.escape(json.dumps(res["run"], indent=1))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Decoder evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}td:first-child{{text-align:left}}</style>
{script}</head><body>
<h1>Decoder evaluation</h1>
<p>One point per configuration (mean reward with its 95% bootstrap interval over prompts); a sweep is a
line through its values. {where}.</p>
{divs}
<h2>Metrics</h2>{_table(res)}
<h2>Notes</h2><ul>{notes}</ul>
<h2>Run</h2><pre>{run}</pre>
<script type="application/json" id="figures">{spec}</script>
<script>
const figs = JSON.parse(document.getElementById("figures").textContent);
if (window.Plotly) {{ for (const f of figs) Plotly.newPlot(f.id, f.data, f.layout, {{responsive: true}}); }}
</script>
</body></html>
"""
