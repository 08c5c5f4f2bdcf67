"""The typed events a decoder streams, and nothing else.

A decoder is a generator of these frozen records; the UI, the plots, the database and the
evaluator consume only them. This module knows nothing about models or tensors: every field is
a plain Python value so an event can be turned into JSON (`to_dict`) and back without loss.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

StopReason = Literal["eos", "max_new_tokens", "cancelled", "error"]


@dataclass(frozen=True)
class Cost:
    """Work done: tokens the language models (policy, rollout and baseline models) and the reward
    models processed, wall time, and the preset's base (reference) model's tokens when the base is
    another model than the policy (the KL and log ratio are read from it; 0 when it is the policy)."""

    lm_tokens: int = 0
    reward_tokens: int = 0
    wall_ms: float = 0.0
    base_tokens: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.lm_tokens + other.lm_tokens,
            self.reward_tokens + other.reward_tokens,
            self.wall_ms + other.wall_ms,
            self.base_tokens + other.base_tokens,
        )


@dataclass(frozen=True)
class Candidate:
    """One next token the decoder considered at a step (a row of the token inspector)."""

    token_id: int
    text: str
    logprob_base: float
    reward: float | None = None
    value: float | None = None
    score: float | None = None


@dataclass(frozen=True)
class TokenStep:
    """One committed token.

    `logprob_base` is log p of the token under the base policy, `logprob_decoder` under the
    distribution the decoder actually sampled or ranked from. `reward` is the weighted reward
    of the prefix after this token (None where the decoder computed none); `value` is the
    decoder's own selection estimate (rollout return, lookahead score), not a reward.
    `kl` is KL(decoder || base) at this step over the support used; `entropy` is the base's.
    """

    index: int
    token_id: int
    text: str
    logprob_base: float
    logprob_decoder: float
    reward: float | None = None
    reward_parts: dict[str, float] = field(default_factory=dict)
    value: float | None = None
    kl: float = 0.0
    entropy: float = 0.0
    candidates: tuple[Candidate, ...] = ()
    cost: Cost = Cost()
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class Rollout:
    """A scored continuation the decoder considered (best-of-N sample, CD/TQ* rollout, ...).

    `step` is the token index it was drawn at (None for sequence-level decoders) and
    `candidate` the token id it continues, so the UI can show the text behind each value.
    """

    group: int
    index: int
    text: str
    reward: float
    reward_parts: dict[str, float] = field(default_factory=dict)
    kept: bool = False
    step: int | None = None
    candidate: int | None = None
    length: int | None = None  # tokens in the rollout (its candidate included)
    type: Literal["rollout"] = "rollout"


@dataclass(frozen=True)
class Note:
    """Text the decoder produced for itself (PRS feedback) or wants the reader to know."""

    text: str
    type: Literal["note"] = "note"


@dataclass(frozen=True)
class FeatureStep:
    """Sparse-autoencoder features behind token `index` (sent right after its TokenStep).

    `features`/`activations`: the top features of the policy's residual stream after reading the
    decoder's token; `base_*`: the same for the base policy after reading its own greedy token
    `base_token` at the same prefix. `distance` is FPO's feature distance between the two
    (mean squared difference over the union of their top-k features, k = `k`), `overlap` the
    share of shown features both have. Zero when the decoder took the base's greedy token.
    """

    index: int
    features: list[int]
    activations: list[float]
    base_token: int
    base_text: str
    base_features: list[int]
    base_activations: list[float]
    distance: float
    overlap: float
    k: int = 50
    type: Literal["features"] = "features"


@dataclass(frozen=True)
class Finished:
    """Always the last event of a stream."""

    text: str
    stop_reason: StopReason
    reward: float | None = None
    reward_parts: dict[str, float] = field(default_factory=dict)
    cost: Cost = Cost()
    new_tokens: int = 0
    elapsed_s: float = 0.0
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    type: Literal["finished"] = "finished"


Event = TokenStep | Rollout | Note | FeatureStep | Finished
EVENT_TYPES: dict[str, type] = {
    cls.__dataclass_fields__["type"].default: cls for cls in (TokenStep, Rollout, Note, FeatureStep, Finished)
}


def _clean(value: Any) -> Any:
    """JSON-safe floats: NaN and infinities become None (JSON has no spelling for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a `"type"` key: token, rollout, note, features or finished.

    A cost's `base_tokens` is written only when non-zero, so traces of runs whose base is the
    policy keep the three-key cost older readers and stored rows have."""
    data = _clean(dataclasses.asdict(event))
    if isinstance(data.get("cost"), dict) and not data["cost"].get("base_tokens"):
        data["cost"].pop("base_tokens", None)
    return data


def from_dict(data: dict[str, Any]) -> Event:
    """Inverse of `to_dict` (used by storage and the evaluator to replay traces)."""
    cls = EVENT_TYPES[data["type"]]
    kwargs = dict(data)
    if "cost" in kwargs and isinstance(kwargs["cost"], dict):
        kwargs["cost"] = Cost(**kwargs["cost"])
    if cls is TokenStep:
        kwargs["candidates"] = tuple(Candidate(**c) for c in kwargs.get("candidates", ()))
    return cls(**kwargs)
