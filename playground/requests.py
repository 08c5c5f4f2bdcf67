"""From what the Compare tab's widgets say to one `GenerationRequest` per panel.

Which rewards a preset offers (its reward models, then the rewards that need no preset model),
which of them get settings controls, and how shared and per-panel choices (decoder, config,
seed offset, reward weights that override the shared ones) combine, and whether the panels ask
for feature traces (`wants_features`: the preset has a sparse autoencoder). Pure data in,
requests out: no Gradio, no engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.decoders import GenerationRequest
from backends.presets import Preset
from backends.rewards import REWARDS

# Rewards any preset can offer: rules on the text, an embedding preference, the implicit DPO
# reward (needs the preset's aligned baseline). Model rewards come from the preset itself.
GENERAL_REWARDS = ("keywords", "length", "preference", "regex", "dpo_implicit")
SEED_LIMIT = 2**63


def rewards_for(preset: Preset) -> list[str]:
    """The rewards a preset offers, in slider order."""
    names = [n for n in preset.reward_models if n in REWARDS]
    for name in GENERAL_REWARDS:
        if name in REWARDS and name not in names and (name != "dpo_implicit" or preset.baseline):
            names.append(name)
    return names


def all_rewards(presets: Iterable[Preset]) -> list[str]:
    """Union of `rewards_for` over presets (one slider each; the preset decides which are shown)."""
    out: list[str] = []
    for preset in presets:
        out += [n for n in rewards_for(preset) if n not in out]
    return out


def wants_features(preset: Preset) -> bool:
    """Ask for sparse-autoencoder feature traces whenever the preset has an SAE to read them with."""
    return bool(preset.sae)


def has_settings(name: str) -> bool:
    """Whether a reward's settings get controls (model rewards take theirs from the preset)."""
    return name in GENERAL_REWARDS


@dataclass(frozen=True)
class SharedChoice:
    """What all panels share: prompt, preset, seed, length, reward weights and settings, feature traces."""

    prompt: str
    preset: str
    seed: int = 0
    max_new_tokens: int = 64
    weights: Mapping[str, float] = field(default_factory=dict)
    reward_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    features: bool = False  # stream FeatureSteps (see `wants_features`)


@dataclass(frozen=True)
class PanelChoice:
    """One panel's decoder and settings; `weights` None means the shared reward weights."""

    decoder: str
    config: Mapping[str, Any] = field(default_factory=dict)
    seed_offset: int = 0
    weights: Mapping[str, float] | None = None


def active(weights: Mapping[str, float | None]) -> dict[str, float]:
    """Weights that switch a reward on (0 or empty = off)."""
    return {name: float(w) for name, w in weights.items() if w}


def request_for(shared: SharedChoice, panel: PanelChoice) -> GenerationRequest:
    weights = active(shared.weights if panel.weights is None else panel.weights)
    reward_config = {name: dict(cfg) for name, cfg in shared.reward_config.items() if name in weights and cfg}
    keywords = tuple(shared.reward_config.get("keywords", {}).get("words", ()))
    seed = int(shared.seed or 0) + int(panel.seed_offset or 0)  # >= SEED_LIMIT: the engine refuses it, never wraps
    return GenerationRequest(prompt=shared.prompt or "", decoder=panel.decoder, config=dict(panel.config),
                             rewards=weights, reward_config=reward_config, preset=shared.preset, seed=seed,
                             max_new_tokens=int(shared.max_new_tokens), keywords=keywords,
                             features=bool(shared.features))


def build_requests(shared: SharedChoice, panels: Sequence[PanelChoice]) -> list[GenerationRequest]:
    """One request per panel: same prompt, preset and seed unless the panel offsets it."""
    return [request_for(shared, p) for p in panels]
