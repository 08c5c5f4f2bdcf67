"""The Gradio page: a prompt, a decoder with generated controls, reward weights, and a live panel.

Composes widgets and delegates: requests are built from widget values, streamed through
`run_panels`, and rendered by `playground.render`. Services (the engine, the settings) are
injected by `build_ui`; no module-level mutable state.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from backends.config import fields
from backends.decoders import DECODERS, GenerationRequest
from backends.engine import Engine
from backends.presets import Preset
from backends.rewards import REWARDS
from playground.controls import component_for, values_to_config
from playground.prompts import examples
from playground.render import legend_html, reward_range, token_html, totals_markdown, trace_figure
from playground.runner import run_panels
from playground.settings import Settings

log = logging.getLogger(__name__)
CSS_PATH = Path(__file__).resolve().parents[1] / "assets" / "playground.css"
PROGRAMMATIC = ("keywords", "length")


@dataclass
class Runs:
    """Cancellation flags of the runs in flight, one per browser session."""

    flags: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, session: str) -> threading.Event:
        with self.lock:
            old = self.flags.get(session)
            if old is not None:
                old.set()  # a new Run supersedes the one still streaming in this session
            self.flags[session] = flag = threading.Event()
            return flag

    def stop(self, session: str) -> None:
        with self.lock:
            if session in self.flags:
                self.flags[session].set()


def reward_names(preset: Preset) -> list[str]:
    return [*preset.reward_models, *(n for n in PROGRAMMATIC if n in REWARDS)]


def build_ui(engine: Engine, settings: Settings) -> gr.Blocks:
    preset = engine.preset(settings.preset)
    runs = Runs()
    decoders = DECODERS.names()
    specs = {name: fields(DECODERS.get(name).Config) for name in decoders}
    rewards = reward_names(preset)

    with gr.Blocks(title="Decoder playground") as demo:
        gr.Markdown(f"## Decoder playground\nPreset **{preset.name}**: {preset.description}")
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", lines=3, placeholder="Write a review of the film ...",
                                    elem_id="prompt")
                example = gr.Dropdown(choices=examples(preset.prompt_sets), label="Example prompts", value=None)
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="run")
                    stop_btn = gr.Button("Stop", elem_id="stop")
            with gr.Column(scale=1):
                max_new = gr.Slider(1, 256, value=preset.max_new_tokens, step=1, label="max new tokens")
                seed = gr.Number(value=0, precision=0, label="seed", minimum=0)
        with gr.Row():
            with gr.Column(scale=1):
                decoder = gr.Dropdown(choices=decoders, value="sampling", label="Decoder", elem_id="decoder")
                groups, controls = {}, {}
                for name in decoders:
                    with gr.Group(visible=name == "sampling") as groups[name]:
                        controls[name] = [component_for(s) for s in specs[name]]
                with gr.Accordion("Reward weights (0 = off)", open=True):
                    weights = [gr.Slider(-5, 5, value=preset.default_rewards.get(r, 0.0), step=0.1, label=r,
                                         info=REWARDS.get(r).help) for r in rewards]
                    keywords = gr.Textbox(label="keywords.words", placeholder="dog, park, ball")
            with gr.Column(scale=2):
                tokens = gr.HTML(elem_id="panel-0")
                totals = gr.Markdown(elem_id="totals-0")
                plot = gr.Plot(label="Per-token traces", elem_id="traces")

        decoder.change(lambda d: [gr.update(visible=n == d) for n in decoders], decoder, list(groups.values()))
        example.change(_pick_example, example, [prompt, keywords])
        inputs = {prompt, decoder, seed, max_new, keywords, *weights, *(c for cs in controls.values() for c in cs)}

        def run(data: dict, request: gr.Request) -> Iterator[tuple]:
            cancel = runs.start(request.session_hash if request else "")
            name = data[decoder]
            req = GenerationRequest(
                prompt=data[prompt] or "", decoder=name, preset=preset.name, seed=int(data[seed] or 0),
                max_new_tokens=int(data[max_new]),
                config=values_to_config(specs[name], [data[c] for c in controls[name]]),
                **_reward_fields({r: data[w] for r, w in zip(rewards, weights, strict=True)}, data[keywords]))
            for views in run_panels(engine, [req], cancel):
                lo, hi = reward_range(views)
                yield (legend_html(lo, hi) + token_html(views[0], lo, hi), totals_markdown(views[0]),
                       trace_figure(views, [name]))

        run_btn.click(run, inputs, [tokens, totals, plot], concurrency_limit=settings.concurrency)

        def stop(request: gr.Request) -> None:
            runs.stop(request.session_hash if request else "")

        stop_btn.click(stop, None, None, queue=False)
    return demo


def _pick_example(choice: str | None) -> tuple:
    if not choice:
        return gr.update(), gr.update()
    item = json.loads(choice)
    return item["prompt"], ", ".join(item.get("keywords", []))


def _reward_fields(weights: dict[str, float], keywords_text: str | None) -> dict:
    """Slider weights and the keywords box -> the request's reward fields (weight 0 = off)."""
    active = {r: float(w) for r, w in weights.items() if w}
    words = tuple(w.strip() for w in (keywords_text or "").split(",") if w.strip())
    reward_config = {"keywords": {"words": words}} if "keywords" in active and words else {}
    return {"rewards": active, "reward_config": reward_config, "keywords": words}


def load_css() -> str:
    return CSS_PATH.read_text() if CSS_PATH.is_file() else ""
