"""Widget values -> one GenerationRequest per panel: rewards offered, overrides, seeds."""

from __future__ import annotations

from backends.presets import PRESETS, Preset
from backends.rewards import RewardModelRef
from playground.requests import PanelChoice, SharedChoice, all_rewards, build_requests, has_settings, rewards_for

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
