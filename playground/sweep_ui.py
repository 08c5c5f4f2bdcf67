"""The Compare tab's trade-off sweep: one decoder, one numeric setting, a few values and prompts.

Laid out as an accordion under the Compare panels. Its run goes through the accelerator queue
like Compare's, and the work is the evaluator's (`backends.evaluation.plan_sweep`/`run_sweep`):
after each generation the page gets a progress line, three figures (reward against KL, against
cost in LM tokens per token, reward A against reward B) and, once done, the evaluator's
results.json to download. Stop cancels the run. Its widgets are few and its own: no event
touches the Compare form.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from backends.config import ConfigError
from backends.decoders import DECODERS
from backends.engine import Engine
from backends.evaluation import UsageError, check_public, numeric_settings, plan_sweep, run_sweep
from playground.gpu import on_accelerator
from playground.runner import Runs
from playground.settings import Settings

SWEEP_DEFAULTS = {"args": "w", "rad": "beta", "arm": "beta", "tqstar": "lam", "cd": "lam", "best_of_n": "n",
                  "deal": "lam", "prs": "n0", "sampling": "temperature"}  # the setting each paper varies
PROMPTS = "Write a review of the film The Final Kingdom.\nTell me about your meal at Marco's Kitchen."


def setting_update(decoder: str) -> dict:
    """The setting choices of `decoder`, starting from the one its paper varies."""
    names = numeric_settings(decoder)
    return gr.update(choices=names, value=SWEEP_DEFAULTS.get(decoder, names[0]))


def parse_weights(text: str) -> dict[str, float]:
    """`sentiment=1, informative=0.5` -> weights; a bad piece names itself."""
    out = {}
    for piece in (p.strip() for p in (text or "").split(",")):
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"reward weights: {piece!r} is not NAME=NUMBER") from None
        if not sep:
            raise UsageError(f"reward weights: {piece!r} is not NAME=NUMBER")
    return out


def _mean(m: dict[str, Any], name: str) -> float | None:
    return (m.get(name) or {}).get("mean")


def _point(d: dict[str, Any], x_name: str | None, parts: list[str]) -> tuple:
    """One configuration's (x, y): reward against a metric, or reward part A against part B."""
    if x_name is not None:
        return _mean(d["metrics"], x_name), _mean(d["metrics"], "reward")
    part = [(d["reward_parts"].get(p) or {}).get("mean") for p in parts[:2]]
    return (part[0], part[1]) if len(part) == 2 else (part[0] if part else None, _mean(d["metrics"], "reward"))


def sweep_figures(res: dict[str, Any]) -> list[go.Figure]:
    """Reward vs KL, reward vs LM tokens per token, reward A vs reward B: one curve per decoder."""
    parts = sorted({p for d in res["decoders"] for p in d.get("reward_parts", {})})
    ab = (f"reward: {parts[0]}" if parts else "reward part A (none)",
          f"reward: {parts[1]}" if len(parts) > 1 else "reward (weighted)")
    figs = []
    for x_name, titles in (("kl", ("KL to base (sum)", "reward (weighted)")),
                           ("lm_tokens_per_token", ("LM tokens / token", "reward (weighted)")), (None, ab)):
        curves: dict[str, list] = {}
        for d in res["decoders"]:
            if d["generations"]:
                curves.setdefault(d["decoder"], []).append((*_point(d, x_name, parts),
                                                            f"{d['sweep_key']}={d['sweep_value']}"))
        fig = go.Figure([go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], text=[p[2] for p in pts], name=name,
                                    mode="lines+markers+text", textposition="top center")
                         for name, pts in curves.items()])
        fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1], height=300,
                          margin=dict(l=40, r=10, t=10, b=40))
        figs.append(fig)
    return figs


STOPPED = "**stopped**: the sweep was cancelled; the figures show what had finished"


def _results_file(res: dict[str, Any]) -> str:
    """The results as the evaluator's results.json, in a fresh temporary folder (for the download)."""
    path = Path(tempfile.mkdtemp(prefix="sweep-")) / "results.json"
    path.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    return str(path)


def _progress(res: dict[str, Any]) -> str:
    run = res["run"]
    last = next((d for d in reversed(res["decoders"]) if d["generations"]), None)
    where = f"; last: {last['label']}, reward {_mean(last['metrics'], 'reward'):.3f}" if last and \
        _mean(last["metrics"], "reward") is not None else ""
    state = "done" if run["complete"] else "running"
    return f"**{state}**: {run['generations']} of {run['expected']} generations{where}"


def _plan(settings: Settings, preset_name: str, dec: str, k: str, vals: str, w: str, n: Any, text: str):
    """The sweep's plan, held to a public server's budget there (`UsageError` naming the field)."""
    plan = plan_sweep(dec, k, vals, text.splitlines(), parse_weights(w), preset=preset_name, max_new_tokens=int(n or 0))
    if settings.public:
        check_public(plan)
    return plan


def build_sweep(engine: Engine, settings: Settings, preset: gr.Dropdown) -> None:
    """Lay out the sweep accordion and wire it (call inside the Compare tab)."""
    with gr.Accordion("Trade-off sweep: one decoder, one setting, several values", open=False, elem_id="sweep"):
        with gr.Row():
            decoder = gr.Dropdown(choices=[d for d in DECODERS.names() if numeric_settings(d)], value="args",
                                  label="decoder", elem_id="sweep-decoder")
            key = gr.Dropdown(choices=numeric_settings("args"), value="w", label="setting", elem_id="sweep-key")
            values = gr.Textbox(value="0, 1, 3", label="values (comma-separated)", elem_id="sweep-values")
            weights = gr.Textbox(value="sentiment=1, informative=1", label="reward weights (NAME=NUMBER, ...)",
                                 elem_id="sweep-weights")
            max_new = gr.Number(value=24, precision=0, minimum=1, label="max new tokens", elem_id="sweep-max-new")
        prompts = gr.Textbox(value=PROMPTS, lines=3, label="prompts (one a line)", elem_id="sweep-prompts")
        with gr.Row():
            run = gr.Button("Run sweep", variant="primary", elem_id="sweep-run")
            stop = gr.Button("Stop sweep", variant="stop", elem_id="sweep-stop")
        progress = gr.Markdown("", elem_id="sweep-progress")
        with gr.Row():
            plots = [gr.Plot(label=t, elem_id=f"sweep-plot-{i}") for i, t in
                     enumerate(("reward vs KL", "reward vs cost", "reward A vs reward B"))]
        download = gr.File(label="results.json", elem_id="sweep-download")

    decoder.change(setting_update, decoder, key, queue=False)
    runs = Runs()  # each browser session's sweep in flight: Stop sets its flag, the loop ends between generations

    def sweep(preset_name: str, dec: str, k: str, vals: str, w: str, n: Any, text: str,
              session: str) -> Iterator[tuple]:
        try:
            plan = _plan(settings, preset_name, dec, k, vals, w, n, text)
        except UsageError as e:
            raise gr.Error(str(e)) from None
        res, cancel = None, runs.start(session)  # before the first message: a Stop may follow it at once
        try:
            yield f"**running**: 0 of {len(plan.specs) * len(plan.prompts)} generations", *[None] * 3, None
            for res in run_sweep(engine, plan):
                if cancel.is_set():
                    yield STOPPED, *sweep_figures(res), None
                    return
                yield _progress(res), *sweep_figures(res), None
        except (ConfigError, LookupError) as e:  # e.g. a reward this preset has no model for
            raise gr.Error(f"sweep: {e}") from None
        finally:
            runs.finish(session, cancel)
        if res is not None:
            yield _progress(res), *sweep_figures(res), _results_file(res)

    sweep_on_gpu = on_accelerator(sweep, settings.gpu_seconds)

    def start(preset_name: str, dec: str, k: str, vals: str, w: str, n: Any, text: str,
              request: gr.Request) -> Iterator[tuple]:  # the session is read outside the GPU process
        yield from sweep_on_gpu(preset_name, dec, k, vals, w, n, text, getattr(request, "session_hash", None) or "")

    run.click(start, [preset, decoder, key, values, weights, max_new, prompts],
              [progress, *plots, download], concurrency_limit=settings.concurrency, concurrency_id="accelerator")

    def stop_sweep(request: gr.Request) -> str:
        runs.stop(getattr(request, "session_hash", None) or "")
        return "**stopping**: after the generation in progress"

    stop.click(stop_sweep, None, progress, queue=False)
