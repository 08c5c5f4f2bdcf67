"""The Compare tab: one prompt, two to four panels of decoders streaming side by side.

Lays out the shared inputs (prompt, example prompts, preset, panel count, length, seed, reward
weights), the panels (`playground.panels`), the summary line, the live plots and the token
inspector, and wires their events. Handlers are short: they read widgets into requests
(`playground.requests`), stream them through `run_panels`, and hand the views to the renderers
(`render`, `traces`, `inspector`). Services (engine, settings, the session's runs) are injected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from backends.decoders import GenerationRequest
from backends.engine import MAX_NEW_TOKENS, Engine
from playground.availability import PROMPT_ROOM, length_bound, unavailable_rewards
from playground.gpu import on_accelerator
from playground.inspector import inspector_html
from playground.live import LIVE_CSS, LIVE_JS, LiveRun
from playground.panels import (
    LIVE_ROOT,
    PanelWidgets,
    RewardWidgets,
    about_decoder,
    panel_block,
    panel_choice,
    pinned_settings,
    reward_block,
    shared_choice,
    weight_update,
)
from playground.prompts import examples
from playground.render import panel_label
from playground.requests import all_rewards, build_requests, rewards_for, wants_features
from playground.runner import PanelView, Runs, session_stream
from playground.scenario_ui import scenario_row, wire_scenarios
from playground.scenarios import load_scenarios
from playground.settings import Settings
from playground.sweep_ui import build_sweep
from playground.traces import NOTES as TRACE_NOTES
from playground.traces import reward_kl_figure, trace_figure

log = logging.getLogger(__name__)
MAX_PANELS = 4
EVERY_TOKENS, EVERY_MS = 16, 300.0  # UI refresh: each message costs the page ~10 ms of Gradio work, so few
CLOSE = '<button class="insp-close" title="close" aria-label="close the inspector">×</button>'
# The inspector opens as a side panel next to the tokens whenever it gets content; × closes it.
INSPECTOR_JS = """
const box = document.getElementById('inspector') || element;
element.addEventListener('click', (e) => { if (e.target.closest('.insp-close')) box.classList.add('insp-closed'); });
watch('value', () => { box.classList.toggle('insp-open', !!props.value); box.classList.remove('insp-closed'); });
"""
STOPPING_JS = "() => { if (window.__compareLive) window.__compareLive.stopping(); }"


@dataclass
class CompareHooks:
    """Seams for features added later (the Arena, storage, votes), so they need no change here.

    `on_finished(views)` runs when every panel finished (e.g. store the generations); what it
    returns is kept in `CompareTab.record` (e.g. generation ids for a vote). `below_panels`
    builders are called inside the row under the panels (e.g. a Vote control for two panels).
    """

    on_finished: Callable[[list[PanelView]], Any] | None = None
    below_panels: Sequence[Callable[[CompareTab], None]] = ()


@dataclass
class CompareTab:
    prompt: gr.Textbox
    example: gr.Dropdown
    preset: gr.Dropdown
    preset_about: gr.Markdown
    count: gr.Radio
    max_new: gr.Slider
    seed: gr.Number
    run: gr.Button
    stop: gr.Button
    rewards: RewardWidgets
    panels: list[PanelWidgets]
    summary: gr.HTML
    live: gr.HTML  # hidden sink: each run's payloads for the page's script (playground.live)
    below_panels: gr.Row
    live_traces: gr.HTML  # sparklines while streaming
    traces: gr.Plot
    reward_kl: gr.Plot
    insp_panel: gr.Number
    insp_step: gr.Number
    insp_button: gr.Button
    inspector: gr.HTML
    views: gr.State  # the run's PanelViews, for the inspector (and a vote)
    form: gr.JSON  # hidden: the values of `form_inputs()`, gathered in the page at a Run click
    pending: gr.State  # the requests of the run about to start
    record: gr.State  # what `CompareHooks.on_finished` returned for the last run

    def run_inputs(self) -> set:
        shared = {self.prompt, self.preset, self.count, self.max_new, self.seed, *self.rewards.weights.values(),
                  *(c for cs in self.rewards.settings.values() for c in cs)}
        return shared.union(*(p.inputs() for p in self.panels))

    def form_inputs(self) -> list:
        """The run's inputs in a fixed order (the page gathers their values into `form`)."""
        return sorted(self.run_inputs(), key=lambda c: c._id)

    def run_outputs(self) -> list:
        """What the streaming run updates: few outputs, because the page does work per output and message."""
        return [self.live, self.views]

    def finish_outputs(self) -> list:
        return [self.traces, self.reward_kl, self.record]


def live_outputs(tab: CompareTab, live: LiveRun, views: list[PanelView], message: str = "",
                 final: bool = False) -> dict:
    """One message of a run: what changed, as one small payload (with `final`, every panel whole)."""
    return {tab.live: live.delta(views, message, final), tab.views: views}


def finish_outputs(tab: CompareTab, views: list[PanelView], hooks: CompareHooks) -> dict:
    """After a run: the interactive figures (drawn once) and, when every panel finished, the hook's record."""
    labels = [panel_label(i, v) for i, v in enumerate(views)]
    out: dict = {tab.traces: trace_figure(views, labels), tab.reward_kl: reward_kl_figure(views, labels)}
    if hooks.on_finished is not None and views and all(v.done for v in views):
        out[tab.record] = hooks.on_finished(views)
    return out


def length_update(engine: Engine, preset_name: str) -> dict:
    """The length slider's bounds for a preset: its policy's context less room for the prompt."""
    preset = engine.preset(preset_name)
    bound = length_bound(engine, preset)
    if bound is None:
        return dict(maximum=MAX_NEW_TOKENS, value=preset.max_new_tokens,
                    info=f"the model's context is checked when it loads (at most {MAX_NEW_TOKENS})")
    return dict(maximum=bound, value=min(preset.max_new_tokens, bound),
                info=f"{preset.policy} holds {bound + PROMPT_ROOM} tokens; {PROMPT_ROOM} are kept for the prompt")


def _layout_inputs(engine: Engine, preset_name: str) -> dict:
    preset = engine.preset(preset_name)
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(value=preset.example_prompt, label="Prompt", lines=3,
                                placeholder="Write a review of the film ...", elem_id="prompt")
            example = gr.Dropdown(choices=examples(preset.prompt_sets), value=None, label="Example prompts",
                                  elem_id="example")
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
        with gr.Column(scale=2):
            preset_dd = gr.Dropdown(choices=sorted(engine.presets), value=preset_name, label="Preset",
                                    elem_id="preset")
            preset_about = gr.Markdown(preset.description)
            with gr.Row():
                count = gr.Radio([2, 3, 4], value=2, label="panels", elem_id="panel-count")
                max_new = gr.Slider(minimum=1, step=1, label="max new tokens", elem_id="max-new",
                                    **length_update(engine, preset_name))
                seed = gr.Number(value=0, precision=0, minimum=0, label="seed", elem_id="seed")
    with gr.Accordion("Reward weights and settings (shared; 0 = off; a panel may override the weights)",
                      open=False, elem_id="rewards"):
        rewards = reward_block(all_rewards(engine.presets.values()), preset, unavailable_rewards(preset))
    return dict(prompt=prompt, example=example, preset=preset_dd, preset_about=preset_about, count=count,
                max_new=max_new, seed=seed, run=run, stop=stop, rewards=rewards)


def _layout_analysis() -> dict:
    with gr.Row():
        with gr.Column(scale=3):
            live_traces = gr.HTML(LIVE_ROOT, elem_id="live-traces", js_on_load=None)
            traces = gr.Plot(label="Per-token traces", elem_id="traces")
            gr.Markdown(TRACE_NOTES, elem_classes="live-tip")
        with gr.Column(scale=2):
            reward_kl = gr.Plot(label="Reward vs KL", elem_id="reward-kl")
            gr.Markdown("**Token inspector**: click a token in a panel, or pick a panel and a step.")
            with gr.Row():
                insp_panel = gr.Number(value=1, precision=0, minimum=1, maximum=MAX_PANELS, label="panel",
                                       elem_id="inspect-panel")
                insp_step = gr.Number(value=0, precision=0, minimum=0, label="step", elem_id="inspect-step")
                insp_button = gr.Button("Inspect", elem_id="inspect")
            inspector = gr.HTML(elem_id="inspector", js_on_load=INSPECTOR_JS)
    return dict(live_traces=live_traces, traces=traces, reward_kl=reward_kl, insp_panel=insp_panel, insp_step=insp_step,
                insp_button=insp_button, inspector=inspector)


def build_compare_tab(engine: Engine, settings: Settings, runs: Runs, hooks: CompareHooks | None = None
                      ) -> CompareTab:
    """Lay out the tab and wire its events (call inside a `gr.Tab`)."""
    hooks = hooks or CompareHooks()
    preset_name = settings.preset if settings.preset in engine.presets else sorted(engine.presets)[0]
    scenarios = [s for s in load_scenarios() if s.preset in engine.presets]
    buttons, scenario_note = scenario_row(scenarios, about=any(n.startswith("embedded") for n in engine.presets))
    inputs = _layout_inputs(engine, preset_name)
    summary = gr.HTML(LIVE_ROOT, elem_id="summary", js_on_load=None)
    live = gr.HTML("", html_template="<span></span>", js_on_load=LIVE_JS, visible="hidden", elem_id="compare-live",
                   head=f"<style>{LIVE_CSS}</style>")
    names = all_rewards(engine.presets.values())
    preset = engine.preset(preset_name)
    unavailable = unavailable_rewards(preset)
    with gr.Row(equal_height=False, elem_id="panels"):
        panels = [panel_block(i, names, preset, i < 2, unavailable) for i in range(MAX_PANELS)]
    with gr.Row(elem_id="below-panels") as below:
        pass
    tab = CompareTab(**inputs, panels=panels, summary=summary, live=live, below_panels=below,
                     **_layout_analysis(), views=gr.State([]), form=gr.JSON(visible="hidden", elem_id="compare-form"),
                     pending=gr.State([]), record=gr.State(None))
    _wire_form(tab, engine)
    _wire_run(tab, engine, settings, runs, hooks)
    _wire_inspector(tab)
    wire_scenarios(tab, scenarios, buttons, scenario_note, engine.presets)
    with below:
        for build in hooks.below_panels:
            build(tab)
    build_sweep(engine, settings, tab.preset)
    return tab


def _wire_form(tab: CompareTab, engine: Engine) -> None:
    names = list(tab.rewards.weights)

    starters = {p.example_prompt for p in engine.presets.values()}

    def on_preset(name: str, prompt: str) -> dict:
        preset = engine.preset(name)
        offered, unavailable = rewards_for(preset), unavailable_rewards(preset)
        out = {tab.preset_about: preset.description, tab.max_new: gr.update(**length_update(engine, name)),
               tab.example: gr.update(choices=examples(preset.prompt_sets), value=None)}
        if not prompt.strip() or prompt in starters:  # the user's own text stays
            out[tab.prompt] = preset.example_prompt
        for n in names:
            out[tab.rewards.boxes[n]] = gr.update(visible=n in offered)
            out[tab.rewards.weights[n]] = gr.update(**weight_update(n, preset, unavailable))
            out |= {p.weights[n]: gr.update(**weight_update(n, preset, unavailable, n in offered)) for p in tab.panels}
        return out

    preset_outputs = [tab.preset_about, tab.max_new, tab.example, tab.prompt, *tab.rewards.boxes.values(),
                      *tab.rewards.weights.values(), *(s for p in tab.panels for s in p.weights.values())]
    # Form updates skip the queue: they stay instant while runs wait for the accelerator.
    tab.preset.change(on_preset, [tab.preset, tab.prompt], preset_outputs, queue=False)
    keywords = tab.rewards.settings.get("keywords")
    if keywords:
        tab.example.change(pick_example, tab.example, [tab.prompt, keywords[0]], queue=False)
    else:
        tab.example.change(lambda choice: pick_example(choice)[0], tab.example, tab.prompt, queue=False)
    # Showing and hiding panels, decoder settings and overrides happens in the page alone: a block
    # that a server event ever updated is revisited, with all its children, on every later message
    # of every run, which made streaming slow.
    tab.count.change(None, tab.count, [p.column for p in tab.panels],
                     js=f"(n) => [...Array({MAX_PANELS}).keys()].map(i => {_SHOW}(i < Number(n)))")
    for panel in tab.panels:
        panel.decoder.change(None, panel.decoder, [panel.about, *panel.groups.values()], js=_decoder_switch_js(panel))
        panel.override.change(None, panel.override, panel.override_box, js=f"(on) => {_SHOW}(on)")


_SHOW = "((on) => ({__type__: 'update', visible: !!on}))"


def _decoder_switch_js(panel: PanelWidgets) -> str:
    """Page-side: the chosen decoder's summary and only its settings group."""
    names = list(panel.groups)
    about = json.dumps({n: about_decoder(n) for n in names})
    return f"(name) => [({about})[name] || '', ...{json.dumps(names)}.map(n => {_SHOW}(n === name))]"


def pick_example(choice: str | None) -> tuple:
    """An example prompt (a JSON line of a prompt set) -> the prompt box and the keywords box."""
    if not choice:
        return gr.update(), gr.update()
    item = json.loads(choice)
    return item["prompt"], ", ".join(item.get("keywords", []))


def run_requests(tab: CompareTab, engine: Engine, data: dict) -> list[GenerationRequest]:
    """The submitted widget values -> one request per visible panel (feature traces if the preset has an SAE)."""
    name = data[tab.preset]
    preset = engine.preset(name)
    unavailable = unavailable_rewards(preset)
    offered = [n for n in rewards_for(preset) if n not in unavailable]  # a reward that cannot load is not sent
    shared = shared_choice(tab.rewards, data, offered, prompt=data[tab.prompt], preset=name,
                           seed=data[tab.seed], max_new_tokens=data[tab.max_new], features=wants_features(preset))
    pinned = pinned_settings(engine.presets.values())
    panels = [panel_choice(p, data, offered, pinned) for p in tab.panels[:int(data[tab.count])]]
    return build_requests(shared, panels)


def _wire_run(tab: CompareTab, engine: Engine, settings: Settings, runs: Runs, hooks: CompareHooks) -> None:
    def stream(requests: list[GenerationRequest], session: str) -> Iterator[dict]:
        live, views, message = LiveRun(), [], ""
        for views, message in session_stream(engine, runs, session, requests, EVERY_TOKENS, EVERY_MS):
            yield live_outputs(tab, live, views, message)
        if views:
            yield live_outputs(tab, live, views, message, final=True)

    stream_on_gpu = on_accelerator(stream, settings.gpu_seconds)

    def start(form: list, request: gr.Request) -> list[GenerationRequest]:
        stop(request)
        return run_requests(tab, engine, read_form(tab, form))

    def run(requests: list[GenerationRequest], request: gr.Request) -> Iterator[dict]:
        log.info("run: %s", ", ".join(r.decoder for r in requests))
        yield from stream_on_gpu(requests, _session(request))

    def stop(request: gr.Request) -> None:
        runs.stop(_session(request))

    def finish(views: list[PanelView]) -> dict:
        return finish_outputs(tab, views, hooks) if views else {}

    # The page revisits every input and output that any server event ever had on each message of
    # every later run, so no server event takes the form's hundreds of widgets: the page gathers
    # their values into one hidden JSON value first. A second Run supersedes the one still
    # streaming: `start` (outside the queue) ends it within a step and reads the form into
    # requests; "always_last" makes the browser start the new run once the old one has ended (the
    # default, "once", would drop a trigger that arrives while the old run is pending). The
    # streaming step has no progress overlay: the panels show their own status, and the page's
    # script hides the last run's figures until this run's arrive.
    tab.run.click(None, tab.form_inputs(), tab.form, js="(...values) => [values]").then(
        start, tab.form, tab.pending, queue=False).success(
        run, tab.pending, tab.run_outputs(), concurrency_limit=settings.concurrency,
        concurrency_id="accelerator", show_progress="hidden", trigger_mode="always_last").then(
        finish, tab.views, tab.finish_outputs(), queue=False, show_progress="hidden")
    tab.stop.click(stop, None, None, queue=False, js=STOPPING_JS)


def read_form(tab: CompareTab, form: list) -> dict:
    """The page's gathered values -> {widget: value}, each through the widget's own preprocessing."""
    widgets = tab.form_inputs()
    if not isinstance(form, list) or len(form) != len(widgets):
        raise gr.Error(f"form: expected {len(widgets)} values from the page, got {form!r:.80}; reload the page")
    return {w: w.preprocess(v) for w, v in zip(widgets, form, strict=True)}


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""


def _wire_inspector(tab: CompareTab) -> None:
    def show(panel: float | None, step: float | None, views: list[PanelView]) -> str:
        return CLOSE + inspector_html(views, int(panel or 1) - 1, int(step or 0))

    def picked(evt: gr.EventData) -> tuple[int, int]:
        return int(evt.panel) + 1, int(evt.step)

    inspect_inputs = [tab.insp_panel, tab.insp_step, tab.views]
    tab.insp_button.click(show, inspect_inputs, tab.inspector, queue=False)
    for panel in tab.panels:
        panel.tokens.inspect(picked, None, [tab.insp_panel, tab.insp_step], queue=False).then(
            show, inspect_inputs, tab.inspector, queue=False)
