"""The widgets of the Compare tab's reward block and of one comparison panel, and reading them back.

`reward_block` lays out one weight slider per reward (with its help as info) and, for rewards
that have settings (keywords, length target, preference text, ...), controls generated from
the reward's config. `panel_block` lays out one panel: decoder choice, a group of generated
controls per decoder (only the chosen one visible), a seed offset, an "override rewards"
checkbox revealing the panel's own weights, and the outputs (tokens; totals and rollouts).
`shared_choice`/`panel_choice` turn submitted values back into `playground.requests` records.
Layout and reading only: the events are wired in `playground.compare`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from backends.config import fields
from backends.decoders import DECODERS
from backends.presets import Preset
from backends.rewards import REWARDS
from playground.controls import controls_for, values_to_config
from playground.requests import PanelChoice, SharedChoice, has_settings, rewards_for

WEIGHT_RANGE = (-5.0, 5.0)
DEFAULT_DECODERS = ("sampling", "args", "rad", "best_of_n")
# Picks up a click on a token span and reports its panel and step to the server.
# (The inspector reopens if the user had closed it.)
TOKEN_CLICK_JS = """
element.addEventListener('click', (event) => {
  const tok = event.target.closest('[data-step]');
  if (!tok) return;
  const box = document.getElementById('inspector');
  if (box) box.classList.remove('insp-closed');
  trigger('inspect', {panel: Number(tok.dataset.panel), step: Number(tok.dataset.step)});
});
"""
LIVE_ROOT = '<div class="live-root"></div>'  # filled by the page's script (assets/compare.js)

Component = gr.components.Component


@dataclass
class RewardWidgets:
    """Weight sliders (one per reward offered by any preset) and the settings of those that have any."""

    weights: dict[str, gr.Slider]
    boxes: dict[str, gr.Group]  # per reward, hidden when the preset does not offer it
    settings: dict[str, list[Component]]


@dataclass
class PanelWidgets:
    index: int
    column: gr.Column
    decoder: gr.Dropdown
    about: gr.Markdown
    groups: dict[str, gr.Group]
    controls: dict[str, list[Component]]
    seed_offset: gr.Number
    override: gr.Checkbox
    override_box: gr.Group
    weights: dict[str, gr.Slider]
    tokens: gr.HTML
    details: gr.HTML  # totals, then the scored rollouts

    def inputs(self) -> set[Component]:
        return {self.decoder, self.seed_offset, self.override, *self.weights.values(),
                *(c for cs in self.controls.values() for c in cs)}


def weight_update(name: str, preset: Preset, unavailable: Mapping[str, str], visible: bool = True) -> dict:
    """A weight slider's settings for `preset`: a reward whose model cannot load here is off, disabled,
    and says why."""
    if name in unavailable:
        return dict(value=0.0, interactive=False, label=f"{name} weight (unavailable here)",
                    info=f"off: {unavailable[name]}", visible=visible)
    return dict(value=preset.default_rewards.get(name, 0.0), interactive=True, label=f"{name} weight (0 = off)",
                info=REWARDS.card(name).help, visible=visible)


def weight_slider(name: str, preset: Preset, elem_id: str, unavailable: Mapping[str, str],
                  visible: bool = True) -> gr.Slider:
    return gr.Slider(*WEIGHT_RANGE, step=0.1, elem_id=elem_id, scale=1, elem_classes="reward-weight",
                     **weight_update(name, preset, unavailable, visible))


def reward_block(names: list[str], preset: Preset, unavailable: Mapping[str, str]) -> RewardWidgets:
    """Shared reward weights and settings (call inside a layout block)."""
    weights, boxes, settings = {}, {}, {}
    offered = rewards_for(preset)
    for name in names:
        with gr.Group(visible=name in offered) as boxes[name], gr.Row(equal_height=False):
            weights[name] = weight_slider(name, preset, f"weight-{name}", unavailable)
            if has_settings(name):
                with gr.Column(scale=3), gr.Row():
                    settings[name] = controls_for(REWARDS.card(name), f"{name}.", id_prefix=f"reward-{name}")
    return RewardWidgets(weights, boxes, settings)


def about_decoder(name: str) -> str:
    card = DECODERS.card(name)
    needs = " Needs a reward with a weight." if card.needs_reward else ""
    paper = f" *{card.paper}*" if getattr(card, "paper", "") else ""
    return f"{card.summary}{needs}{paper}"


def panel_block(index: int, names: list[str], preset: Preset, visible: bool, unavailable: Mapping[str, str]
                ) -> PanelWidgets:
    """One comparison panel (call inside a Row)."""
    decoders = DECODERS.names()
    first = DEFAULT_DECODERS[index] if DEFAULT_DECODERS[index] in decoders else decoders[0]
    with gr.Column(visible=visible, min_width=280, elem_id=f"panel-{index}", elem_classes="panel") as column:
        decoder = gr.Dropdown(choices=decoders, value=first, label=f"Panel {index + 1}: decoder",
                              elem_id=f"decoder-{index}")
        about = gr.Markdown(about_decoder(first), elem_classes="about")
        groups, controls = {}, {}
        with gr.Accordion("decoder settings", open=False):
            for name in decoders:
                with gr.Group(visible=name == first) as groups[name]:
                    controls[name] = controls_for(DECODERS.card(name), id_prefix=f"p{index}-{name}",
                                                  preset_start=preset.decoder_defaults.get(name))
        with gr.Row():
            seed_offset = gr.Number(value=0, precision=0, minimum=0, label="seed offset",
                                    info="added to the shared seed (0: same seed)", elem_id=f"seed-offset-{index}")
            override = gr.Checkbox(value=False, label="override rewards", elem_id=f"override-{index}")
        with gr.Group(visible=False) as override_box:
            offered = rewards_for(preset)
            weights = {n: weight_slider(n, preset, f"p{index}-weight-{n}", unavailable, n in offered) for n in names}
        tokens = gr.HTML(LIVE_ROOT, elem_id=f"tokens-{index}", js_on_load=TOKEN_CLICK_JS, elem_classes="panel-tokens")
        details = gr.HTML(LIVE_ROOT, elem_id=f"details-{index}", js_on_load=None)
    return PanelWidgets(index, column, decoder, about, groups, controls, seed_offset, override, override_box,
                        weights, tokens, details)


def reward_settings(rewards: RewardWidgets, data: Mapping[Component, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, widgets in rewards.settings.items():
        specs = fields(REWARDS.card(name).Config)
        out[name] = values_to_config(specs, [data[w] for w in widgets])
    return out


def shared_choice(rewards: RewardWidgets, data: Mapping[Component, Any], offered: list[str], *, prompt: str,
                  preset: str, seed: Any, max_new_tokens: Any, features: bool = False) -> SharedChoice:
    """The shared part of a run; sliders of rewards not `offered` (by the preset, or here) are ignored."""
    weights = {name: data[s] for name, s in rewards.weights.items() if name in offered}
    return SharedChoice(prompt=prompt or "", preset=preset, seed=int(seed or 0),
                        max_new_tokens=int(max_new_tokens or 1), weights=weights,
                        reward_config=reward_settings(rewards, data), features=features)


def pinned_settings(presets: Iterable[Preset]) -> dict[str, set[str]]:
    """Decoder -> the settings some preset starts at its own value (`Preset.decoder_defaults`)."""
    out: dict[str, set[str]] = {}
    for preset in presets:
        for decoder, settings in preset.decoder_defaults.items():
            out.setdefault(decoder, set()).update(settings)
    return out


def panel_choice(panel: PanelWidgets, data: Mapping[Component, Any], offered: list[str],
                 pinned: Mapping[str, Collection[str]] | None = None) -> PanelChoice:
    """`pinned`: decoder -> settings some preset starts elsewhere; sent even at the class default."""
    name = data[panel.decoder]
    config = values_to_config(fields(DECODERS.card(name).Config), [data[c] for c in panel.controls[name]],
                              (pinned or {}).get(name, ()))
    weights = {n: data[s] for n, s in panel.weights.items() if n in offered} if data[panel.override] else None
    return PanelChoice(decoder=name, config=config, seed_offset=int(data[panel.seed_offset] or 0), weights=weights)
