"""Ready-made comparisons for the Compare tab: data and validation, no widgets.

A scenario (assets/scenarios.json) names a prompt, two to four panels (decoder, settings that
differ from the decoder's start values, optional per-panel reward weights), the shared reward
weights and reward settings, and one line on what to look for. `check_scenario` validates one
against the registries (decoder names, config fields through `build_config`, reward names the
preset offers); `load_scenarios` validates them all, so a typo fails at start-up, not on a click.
The page applies a scenario by itself (`playground.scenario_ui`): no server event touches the form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.config import ConfigError, build_config
from backends.decoders import DECODERS
from backends.presets import PRESETS, Preset
from backends.rewards import REWARDS
from playground.requests import rewards_for

SCENARIOS_FILE = Path(__file__).resolve().parents[1] / "assets" / "scenarios.json"
PANEL_COUNTS = (2, 3, 4)

# What the embedded zoo can and cannot do, said where the user picks a preset.
ABOUT_EMBEDDED = (
    "**About the embedded model** (presets `embedded`, `embedded-indirect`): a tiny GPT-2 (6 blocks, 1.5 M "
    "parameters) trained by this project on a small English-only toy corpus, with a context of 512 tokens. It "
    "knows three kinds of reply: reviews of films, restaurants, products and places that name what the request "
    "names (about 9 times in 10 for a name it never saw); sentences that use given keywords; short answers to "
    "questions and "
    "recommendations. It does *not* know general chat, facts about the world, code or long answers: outside "
    "its domains it drifts to the nearest review or sentence it has seen. Its reward models score sentiment, "
    "informativeness and politeness of such replies, and the default reward weighs sentiment against "
    "informativeness, which pull against each other. Use it to see what the decoders do, not what a large "
    "model would say.")


@dataclass(frozen=True)
class PanelSpec:
    decoder: str
    config: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] | None = None  # None: the shared weights


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    look_for: str
    prompt: str
    panels: tuple[PanelSpec, ...]
    weights: dict[str, float]
    reward_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    preset: str = "embedded"


def _scenario(item: dict) -> Scenario:
    panels = tuple(PanelSpec(p["decoder"], dict(p.get("config", {})), p.get("weights")) for p in item["panels"])
    return Scenario(name=item["name"], title=item["title"], look_for=item["look_for"], prompt=item["prompt"],
                    panels=panels, weights=dict(item.get("weights", {})),
                    reward_config={k: dict(v) for k, v in item.get("reward_config", {}).items()},
                    preset=item.get("preset", "embedded"))


def _check_weights(where: str, weights: dict[str, float], offered: list[str]) -> None:
    for reward, weight in weights.items():
        if reward not in offered:
            raise ConfigError(f"{where}.{reward}", weight, f"the preset offers no such reward; it offers "
                                                            f"{', '.join(offered)}")
        if not isinstance(weight, int | float):
            raise ConfigError(f"{where}.{reward}", weight, "a weight is a number")


def check_scenario(scenario: Scenario, presets: dict[str, Preset] = PRESETS) -> None:
    """Raise `ConfigError` (naming the scenario's field and value) unless every name and setting is valid."""
    where = f"scenario {scenario.name}"
    if scenario.preset not in presets:
        raise ConfigError(f"{where}.preset", scenario.preset, f"unknown preset; known: {', '.join(presets)}")
    offered = rewards_for(presets[scenario.preset])
    if len(scenario.panels) not in PANEL_COUNTS:
        raise ConfigError(f"{where}.panels", len(scenario.panels), "a comparison has 2 to 4 panels")
    if not scenario.prompt.strip():
        raise ConfigError(f"{where}.prompt", scenario.prompt, "empty prompt")
    _check_weights(f"{where}.weights", scenario.weights, offered)
    for reward, values in scenario.reward_config.items():
        if reward not in offered:
            raise ConfigError(f"{where}.reward_config.{reward}", values, "the preset offers no such reward")
        build_config(REWARDS.card(reward).Config, values, prefix=f"{where}.reward_config.{reward}.")
    for i, panel in enumerate(scenario.panels):
        if panel.decoder not in DECODERS.names():
            raise ConfigError(f"{where}.panels[{i}].decoder", panel.decoder,
                              f"unknown decoder; known: {', '.join(DECODERS.names())}")
        build_config(DECODERS.card(panel.decoder).Config, panel.config, prefix=f"{where}.panels[{i}].config.")
        if panel.weights is not None:
            _check_weights(f"{where}.panels[{i}].weights", panel.weights, offered)


def load_scenarios(path: Path = SCENARIOS_FILE, presets: dict[str, Preset] = PRESETS) -> list[Scenario]:
    """The scenarios of `path`, each checked; a missing file gives none."""
    if not path.is_file():
        return []
    scenarios = [_scenario(item) for item in json.loads(path.read_text())]
    names = [s.name for s in scenarios]
    for s in scenarios:
        if names.count(s.name) > 1:
            raise ConfigError("scenario.name", s.name, "two scenarios share this name")
        check_scenario(s, presets)
    return scenarios
