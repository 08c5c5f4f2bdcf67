"""The reward contract and the weighted mixture of rewards (the registry and cards: `configs.py`).

A reward maps (prompt, continuations) to a tensor (N,) of scores, higher is better. Rewards
that can score next-token candidates from a cached state (a causal reward model sharing the
policy's tokenizer) return a fast `PrefixScorer`; every other reward gets the text bridge,
which decodes each candidate prefix and scores its text. This module loads no models: the
`RewardContext` handed to a reward's constructor does that (the Engine implements it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch

from backends.config import Config, ConfigError
from backends.devices import Meter
from backends.rewards.configs import RewardModelRef

if TYPE_CHECKING:
    from backends.lm import LanguageModel
    from backends.rewards.classifier import SequenceClassifier
    from backends.rewards.embedding import SentenceEmbedder

MAX_WEIGHT = 1000.0


class RewardContext(Protocol):
    """What a reward may ask of its surroundings while it is built."""

    def reward_model_ref(self, name: str) -> RewardModelRef | None: ...
    def classifier(self, model_id: str, label: str, output: str) -> SequenceClassifier: ...
    def causal_lm(self, model_id: str) -> LanguageModel: ...
    def embedder(self, model_id: str) -> SentenceEmbedder: ...
    def preset_model(self, role: str) -> str | None: ...
    def count_tokens(self, text: str) -> int: ...
    def request_keywords(self) -> tuple[str, ...]: ...


@dataclass
class RolloutScores:
    """Rewards of prefix + candidate + rollout: `total`/`parts` (k, n); `cand_total`/`cand_parts` (k,) of
    prefix + candidate alone where the scorer got them for free (a cached reward model), else None."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]
    cand_total: torch.Tensor | None = None
    cand_parts: dict[str, torch.Tensor] | None = None


class PrefixScorer(Protocol):
    """Scores a growing continuation token by token: what a token-level decoder receives.

    Every method counts the reward-model tokens it feeds on the run's meter; callers never do.
    """

    bridge: bool  # True: each call decodes and re-encodes text (another tokenizer, or no prompt)

    def score_candidates(self, cand_ids: torch.Tensor) -> torch.Tensor:
        """cand_ids (k,) -> reward (k,) of the continuation so far plus each candidate."""

    def score_rollouts(self, cand_ids: torch.Tensor, rollouts: Sequence[Sequence[Sequence[int]]]) -> RolloutScores:
        """cand_ids (k,), rollouts [k][n] token lists after each candidate -> rewards (k, n) of
        prefix + candidate + rollout (an EOS ends a text: nothing after it is read)."""

    def score_sequence(self, ids: Sequence[int]) -> torch.Tensor:
        """Rewards (m,) of the prefix after each of `ids` (m,), then advance past all of them."""

    def advance(self, token_id: int) -> None:
        """Commit `token_id` (usually one of the last candidates)."""


class Reward:
    """Base class: subclasses implement `score`; `Config` and `help` come from the reward's card
    (backends.rewards.configs) when it registers (a plugin sets them itself).

    A reward that runs a model counts the tokens it feeds on `self.meter` inside `score` (the
    mixture binds one run's meter to every part), so no caller counts for it.
    """

    name: ClassVar[str]
    help: ClassVar[str] = ""
    Config: ClassVar[type[Config]]
    uses_model: ClassVar[bool] = False  # a model scores the text (its tokens are counted)

    def __init__(self, config: Config, ctx: RewardContext):
        self.config = config
        self.meter = Meter()

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        """(N,) float32 scores of prompt + each continuation."""
        raise NotImplementedError

    def prefix_scorer(self, prompt: str, prompt_ids: Sequence[int], lm: LanguageModel,
                      meter: Meter) -> PrefixScorer:
        return TextPrefixScorer(self, prompt, lm)


class TextPrefixScorer:
    """Decode each candidate prefix and score its text (any reward, any tokenizer).

    For a reward with a model this is the text bridge: every candidate is re-encoded in full,
    and the reward counts the tokens it costs.
    """

    def __init__(self, reward: Reward, prompt: str, lm: LanguageModel):
        self.reward, self.prompt, self.lm = reward, prompt, lm
        self.ids: list[int] = []
        self.bridge = reward.uses_model

    def score_candidates(self, cand_ids: torch.Tensor) -> torch.Tensor:
        texts = [self.lm.decode([*self.ids, int(c)]) for c in cand_ids.tolist()]
        return self.reward.score(self.prompt, texts)

    def score_rollouts(self, cand_ids: torch.Tensor, rollouts: Sequence[Sequence[Sequence[int]]]) -> RolloutScores:
        texts = [self.lm.decode([*self.ids, int(c), *r]) for c, rows in zip(cand_ids.tolist(), rollouts, strict=True)
                 for r in rows]
        total = self.reward.score(self.prompt, texts).float().cpu()
        return RolloutScores(total.view(len(rollouts), -1), {})

    def score_sequence(self, ids: Sequence[int]) -> torch.Tensor:
        texts = [self.lm.decode([*self.ids, *ids[: t + 1]]) for t in range(len(ids))]
        self.ids.extend(int(i) for i in ids)
        return self.reward.score(self.prompt, texts)

    def advance(self, token_id: int) -> None:
        self.ids.append(int(token_id))


def check_weight(name: str, weight: Any) -> float:
    try:
        w = float(weight)
    except (TypeError, ValueError):
        raise ConfigError(f"reward weight {name}", weight, "must be a number") from None
    if not math.isfinite(w):
        raise ConfigError(f"reward weight {name}", weight, "must be finite (not NaN or infinity)")
    if abs(w) > MAX_WEIGHT:
        raise ConfigError(f"reward weight {name}", weight, f"must be in [-{MAX_WEIGHT:g}, {MAX_WEIGHT:g}]")
    return w


class WeightedReward:
    """sum_i w_i * r_i over named rewards; every part is reported alongside the total.

    `bind(meter)` makes every part count its model tokens on one run's meter.
    """

    def __init__(self, parts: dict[str, tuple[Reward, float]], meter: Meter | None = None):
        if not parts:
            raise ValueError("rewards: at least one reward with a weight is needed")
        self.parts = {name: (reward, check_weight(name, w)) for name, (reward, w) in parts.items()}
        self.bind(meter if meter is not None else Meter())

    def bind(self, meter: Meter) -> None:
        self.meter = meter
        for reward, _ in self.parts.values():
            reward.meter = meter

    @property
    def weights(self) -> dict[str, float]:
        return {name: w for name, (_, w) in self.parts.items()}

    def score_parts(self, prompt: str, continuations: Sequence[str]
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total (N,), {name: (N,)})."""
        parts = {name: r.score(prompt, continuations).float().cpu() for name, (r, _) in self.parts.items()}
        return self._combine(parts), parts

    def _combine(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros_like(next(iter(parts.values())))
        for name, (_, w) in self.parts.items():
            total = total + w * parts[name]
        return total

    def prefix_scorer(self, prompt: str, prompt_ids: Sequence[int], lm: LanguageModel) -> WeightedPrefixScorer:
        return WeightedPrefixScorer(self, {
            name: r.prefix_scorer(prompt, prompt_ids, lm, self.meter) for name, (r, _) in self.parts.items()})


class WeightedPrefixScorer:
    """The mixture's token-level fast path: one scorer per part, combined with the weights."""

    def __init__(self, mixture: WeightedReward, scorers: dict[str, PrefixScorer]):
        self.mixture, self.scorers = mixture, scorers
        self.bridged = [name for name, s in scorers.items() if getattr(s, "bridge", False)]
        self.unshared = {name: why for name, s in scorers.items() if (why := getattr(s, "why_not_shared", None))}

    def score_candidates(self, cand_ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {name: s.score_candidates(cand_ids).float().cpu() for name, s in self.scorers.items()}
        return self.mixture._combine(parts), parts

    def score_rollouts(self, cand_ids: torch.Tensor, rollouts: Sequence[Sequence[Sequence[int]]]) -> RolloutScores:
        """Every part's rollout rewards (k, n), combined; candidate rewards only if every part has them."""
        each = {name: s.score_rollouts(cand_ids, rollouts) for name, s in self.scorers.items()}
        parts = {name: r.total for name, r in each.items()}
        if any(r.cand_total is None for r in each.values()):
            return RolloutScores(self.mixture._combine(parts), parts)
        cand = {name: r.cand_total for name, r in each.items()}
        return RolloutScores(self.mixture._combine(parts), parts, self.mixture._combine(cand), cand)

    def score_sequence(self, ids: Sequence[int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {name: s.score_sequence(ids).float().cpu() for name, s in self.scorers.items()}
        return self.mixture._combine(parts), parts

    def advance(self, token_id: int) -> None:
        for s in self.scorers.values():
            s.advance(token_id)
