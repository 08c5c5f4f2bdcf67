"""Rewards computed by rules on the text: keyword coverage, a length target, a regex/lexicon match.

They need no model, cost no reward-model tokens, and score in [0, 1]. They see only the
continuation, never the prompt (a keyword in the request must not count as covered).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from backends.config import ConfigError
from backends.rewards.base import Reward, RewardContext
from backends.rewards.configs import REWARDS, KeywordsConfig, LengthConfig, RegexConfig


def keyword_coverage(text: str, keywords: Sequence[str]) -> float:
    """Fraction of `keywords` present in `text` as whole words, case-insensitive (1.0 if none)."""
    if not keywords:
        return 1.0
    words = set(re.findall(r"[a-z0-9']+", text.lower()))
    return sum(k.lower() in words for k in keywords) / len(keywords)


@REWARDS.register("keywords")
class KeywordCoverage(Reward):
    def __init__(self, config: KeywordsConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        self.words = config.words or ctx.request_keywords()
        if not self.words:
            raise ConfigError("keywords.words", config.words,
                              "no keywords given; set them, e.g. keywords.words=dog,park,ball")

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        return torch.tensor([keyword_coverage(c, self.words) for c in continuations], dtype=torch.float32)


@REWARDS.register("length")
class LengthTarget(Reward):
    def __init__(self, config: LengthConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        self.count = ctx.count_tokens

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        c = self.config
        out = []
        for text in continuations:
            n = self.count(text)
            miss = max(c.min_tokens - n, n - c.max_tokens, 0)
            out.append(max(0.0, 1.0 - miss / c.softness))
        return torch.tensor(out, dtype=torch.float32)


@REWARDS.register("regex")
class RegexMatch(Reward):
    def __init__(self, config: RegexConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        alternatives = [config.pattern] if config.pattern else []
        alternatives += [rf"\b{re.escape(w)}\b" for w in config.words]
        self.regex = re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        c = self.config
        hits = [min(1.0, len(self.regex.findall(t)) / c.saturate) for t in continuations]
        return torch.tensor([1.0 - h if c.avoid else h for h in hits], dtype=torch.float32)
