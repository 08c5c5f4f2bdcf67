"""The request: everything that determines one generation. Imports no torch (the UI builds requests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines one generation (stored with it, so it can be replayed)."""

    prompt: str
    decoder: str = "sampling"
    config: Mapping[str, Any] = field(default_factory=dict)
    rewards: Mapping[str, float] = field(default_factory=dict)
    reward_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    preset: str = "embedded"
    seed: int = 0
    max_new_tokens: int = 64
    raw_prompt: bool = False  # True: do not wrap the prompt in the preset's chat template
    keywords: tuple[str, ...] = ()  # from a prompt set; the `keywords` reward's default
    features: bool = False  # also stream FeatureSteps (the preset needs a sparse autoencoder)
