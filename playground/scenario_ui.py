"""The Compare tab's scenario row: one button per scenario, applied in the page.

Each button runs a page-side function (no server round trip) that returns the scenario's values
for the form's widgets: prompt, panel count, shared weights and reward settings, and per panel
the decoder, seed offset, override switch, weights and the chosen decoder's settings. Widgets a
scenario does not concern (other decoders' settings, panels beyond its count) keep their value.
The form's own page-side events then show the chosen decoders' settings and the panels. No
server event takes or updates the form (see `playground.compare`: those would slow every run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gradio as gr

from backends.config import fields
from backends.decoders import DECODERS
from backends.rewards import REWARDS
from playground.controls import initial_values
from playground.escape import markdown_text
from playground.scenarios import ABOUT_EMBEDDED, Scenario

if TYPE_CHECKING:
    from playground.compare import CompareTab

KEEP = {"__type__": "update"}  # a page-side output that leaves the widget as it is


def _shown(value: Any) -> Any:
    return ", ".join(map(str, value)) if isinstance(value, tuple | list) else value


def _config_values(card: Any, start: dict[str, Any], given: dict[str, Any]) -> list[Any]:
    values = {**start, **given}
    return [_shown(values[s.name]) for s in fields(card.Config)]


def scenario_outputs(tab: CompareTab) -> list:
    """The widgets a scenario sets, in the order of `scenario_values`."""
    out = [tab.prompt, tab.count, *tab.rewards.weights.values(),
           *(w for ws in tab.rewards.settings.values() for w in ws)]
    for p in tab.panels:
        out += [p.decoder, p.seed_offset, p.override, *p.weights.values(),
                *(c for cs in p.controls.values() for c in cs)]
    return out


def scenario_values(tab: CompareTab, scenario: Scenario, preset_start: Mapping[str, Mapping] | None = None
                    ) -> list:
    """The scenario's value for each of `scenario_outputs(tab)` (KEEP where it says nothing); a setting the
    scenario leaves out starts where its preset starts it (`preset_start`: `Preset.decoder_defaults`)."""
    preset_start = preset_start or {}
    out: list = [scenario.prompt, len(scenario.panels), *(scenario.weights.get(n, 0.0) for n in tab.rewards.weights)]
    for name in tab.rewards.settings:
        card = REWARDS.card(name)
        defaults = {s.name: s.default for s in fields(card.Config)}
        out += _config_values(card, defaults, scenario.reward_config.get(name, {}))
    for i, p in enumerate(tab.panels):
        spec = scenario.panels[i] if i < len(scenario.panels) else None
        if spec is None:
            out += [KEEP] * (3 + len(p.weights) + sum(len(cs) for cs in p.controls.values()))
            continue
        out += [spec.decoder, 0, spec.weights is not None]
        out += [spec.weights.get(n, 0.0) if spec.weights is not None else KEEP for n in p.weights]
        for name, controls in p.controls.items():
            start = initial_values(DECODERS.card(name), preset_start.get(name))
            out += (_config_values(DECODERS.card(name), start, spec.config) if name == spec.decoder
                    else [KEEP] * len(controls))
    return out


def _apply_js(tab: CompareTab, scenario: Scenario, preset_start: Mapping[str, Mapping]) -> str:
    values = json.dumps(scenario_values(tab, scenario, preset_start))
    note = json.dumps(f"**{markdown_text(scenario.title)}**. What to look for: {markdown_text(scenario.look_for)}")
    refuse = json.dumps(f"Scenarios are written for the `{scenario.preset}` preset: choose it under "
                        f"Preset, then click **{scenario.title}** again.")
    n = len(scenario_outputs(tab))
    return (f"(preset) => preset === {json.dumps(scenario.preset)} ? [{note}, ...{values}] : "
            f"[{refuse}, ...Array({n}).fill({json.dumps(KEEP)})]")


def scenario_row(scenarios: list[Scenario], about: bool) -> tuple[dict[str, gr.Button], gr.Markdown]:
    """Lay out the buttons, the what-to-look-for line and, with `about`, what the embedded model knows."""
    buttons = {}
    gr.Markdown("**Scenarios**: one click fills the form with a ready-made comparison.",
                elem_classes="scenario-label", visible=bool(scenarios))
    with gr.Row(elem_id="scenarios", visible=bool(scenarios)):
        for s in scenarios:
            buttons[s.name] = gr.Button(s.title, size="sm", elem_id=f"scenario-{s.name}", elem_classes="scenario",
                                        scale=0, min_width=120)
    note = gr.Markdown("", elem_id="scenario-note")
    with gr.Accordion("About the embedded model: what it knows and what it does not", open=False,
                      elem_id="about-model", visible=about):
        gr.Markdown(ABOUT_EMBEDDED)
    return buttons, note


def wire_scenarios(tab: CompareTab, scenarios: list[Scenario], buttons: dict[str, gr.Button],
                   note: gr.Markdown, presets: Mapping[str, Any]) -> None:
    """`presets`: name -> Preset, for where each scenario's preset starts the settings it leaves out."""
    outputs = [note, *scenario_outputs(tab)]
    for s in scenarios:
        buttons[s.name].click(None, tab.preset, outputs, js=_apply_js(tab, s, presets[s.preset].decoder_defaults))
