"""Widget values -> one GenerationRequest per panel: rewards offered, overrides, seeds."""

from __future__ import annotations

import dataclasses

from backends.presets import PRESETS, Preset
from backends.rewards import RewardModelRef
from playground.compare import CompareHooks, run_requests
from playground.requests import (
    PanelChoice,
    SharedChoice,
    all_rewards,
    build_requests,
    has_settings,
    rewards_for,
    wants_features,
)
from playground.settings import Settings
from playground.ui import build_ui
from tests.playground.fakes import PresetEngine, scripts

FAKE = Preset(name="fake", description="", policy="p", reward_models={"sentiment": RewardModelRef("rm")})


def test_rewards_offered_by_a_preset():
    assert rewards_for(FAKE) == ["sentiment", "keywords", "length", "preference", "regex"]
    with_baseline = Preset(name="b", description="", policy="p", baseline="aligned")
    assert "dpo_implicit" in rewards_for(with_baseline)
    assert rewards_for(PRESETS["embedded"])[:3] == ["sentiment", "informative", "politeness"]
    union = all_rewards([FAKE, PRESETS["qwen-instruct"]])
    assert union.count("sentiment") == 1 and "helpfulness" in union
    assert has_settings("keywords") and not has_settings("sentiment")


def test_shared_weights_settings_and_seed():
    shared = SharedChoice(prompt="hi", preset="fake", seed=5, max_new_tokens=12.0,
                          weights={"sentiment": 1.0, "keywords": 0.0, "length": 0.5},
                          reward_config={"keywords": {"words": ("dog",)}, "length": {"min_tokens": 2}, "regex": {}})
    a, b = build_requests(shared, [PanelChoice("sampling"), PanelChoice("args", {"k": 3}, seed_offset=2)])
    assert (a.prompt, a.preset, a.seed, a.max_new_tokens, a.decoder) == ("hi", "fake", 5, 12, "sampling")
    assert a.rewards == {"sentiment": 1.0, "length": 0.5}
    assert a.reward_config == {"length": {"min_tokens": 2}}  # settings only for rewards that are on
    assert a.keywords == ("dog",)
    assert (b.decoder, dict(b.config), b.seed) == ("args", {"k": 3}, 7)


def test_a_panel_may_override_the_reward_weights():
    shared = SharedChoice(prompt="hi", preset="fake", weights={"sentiment": 1.0},
                          reward_config={"keywords": {"words": ("dog",)}})
    a, b = build_requests(shared, [PanelChoice("args"), PanelChoice("args", weights={"keywords": 2.0,
                                                                                     "sentiment": 0})])
    assert a.rewards == {"sentiment": 1.0} and a.reward_config == {}
    assert b.rewards == {"keywords": 2.0} and b.reward_config == {"keywords": {"words": ("dog",)}}


def test_feature_traces_are_asked_for_only_when_the_preset_has_a_sparse_autoencoder():
    assert not wants_features(FAKE) and wants_features(dataclasses.replace(FAKE, sae="zoo:tiny-sft-sae"))
    assert wants_features(PRESETS["embedded"])
    shared = SharedChoice(prompt="hi", preset="fake")
    assert [r.features for r in build_requests(shared, [PanelChoice("sampling"), PanelChoice("args")])] == [False] * 2
    traced = dataclasses.replace(shared, features=True)
    assert [r.features for r in build_requests(traced, [PanelChoice("sampling"), PanelChoice("args")])] == [True] * 2


def test_the_run_button_sends_features_for_the_preset_with_an_sae_only():
    engine = PresetEngine(scripts())
    engine.presets["traced"] = dataclasses.replace(engine.presets["fake"], name="traced", sae="some/sae")
    found = {}
    build_ui(engine, Settings(preset="fake"), compare_hooks=CompareHooks(below_panels=[lambda t: found.update(tab=t)]))
    tab = found["tab"]
    data = {c: c.value for c in tab.run_inputs()} | {tab.prompt: "hi", tab.count: 3}
    plain = run_requests(tab, engine, data | {tab.preset: "fake"})
    traced = run_requests(tab, engine, data | {tab.preset: "traced"})
    assert [(r.preset, r.features) for r in plain] == [("fake", False)] * 3
    assert [(r.preset, r.features) for r in traced] == [("traced", True)] * 3
    assert [dataclasses.replace(r, preset="fake", features=False) for r in traced] == plain  # nothing else changes


def test_the_panels_start_where_the_preset_starts_a_decoder_and_send_what_they_show():
    engine = PresetEngine(scripts())
    engine.presets["fake"] = dataclasses.replace(engine.presets["fake"], decoder_defaults={"args": {"w": 4.0}})
    found = {}
    build_ui(engine, Settings(preset="fake"), compare_hooks=CompareHooks(below_panels=[lambda t: found.update(tab=t)]))
    tab = found["tab"]
    panel = tab.panels[1]
    w = next(c for c in panel.controls["args"] if c.elem_id == "p1-args-w")
    assert w.value == 4.0  # the control shows the preset's start, not the paper's 1.0
    data = {c: c.value for c in tab.run_inputs()} | {tab.prompt: "hi", tab.count: 2, panel.decoder: "args"}
    assert run_requests(tab, engine, data)[1].config["w"] == 4.0
    data[w] = 1.0  # the class default, chosen on purpose: still sent, so the preset does not replace it
    assert run_requests(tab, engine, data)[1].config["w"] == 1.0
