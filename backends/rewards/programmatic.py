"""Rewards computed by rules on the text: keyword coverage, a length target, a regex/lexicon match.

They need no model, cost no reward-model tokens, and score in [0, 1]. They see only the
continuation, never the prompt (a keyword in the request must not count as covered).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from backends.config import Config, ConfigError, param
from backends.rewards.base import REWARDS, Reward, RewardContext

MAX_LIST = 64


def keyword_coverage(text: str, keywords: Sequence[str]) -> float:
    """Fraction of `keywords` present in `text` as whole words, case-insensitive (1.0 if none)."""
    if not keywords:
        return 1.0
    words = set(re.findall(r"[a-z0-9']+", text.lower()))
    return sum(k.lower() in words for k in keywords) / len(keywords)


@dataclass(frozen=True)
class KeywordsConfig(Config):
    words: tuple[str, ...] = param((), help="Keywords the text should contain (comma-separated); "
                                   "empty: the keywords of the prompt, where the prompt set gives them")

    def check(self) -> None:
        if len(self.words) > MAX_LIST:
            raise ConfigError("keywords.words", self.words, f"at most {MAX_LIST} keywords")


@REWARDS.register("keywords")
class KeywordCoverage(Reward):
    help = "Keyword coverage: fraction of the keywords the continuation uses (DeAL's CommonGen heuristic)."
    Config = KeywordsConfig

    def __init__(self, config: KeywordsConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        self.words = config.words or ctx.request_keywords()
        if not self.words:
            raise ConfigError("keywords.words", config.words,
                              "no keywords given; set them, e.g. keywords.words=dog,park,ball")

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        return torch.tensor([keyword_coverage(c, self.words) for c in continuations], dtype=torch.float32)


@dataclass(frozen=True)
class LengthConfig(Config):
    min_tokens: int = param(20, low=0, high=4096, help="Shortest length, in policy tokens, with full reward")
    max_tokens: int = param(60, low=1, high=4096, help="Longest length, in policy tokens, with full reward")
    softness: int = param(20, low=1, high=4096, help="Tokens outside the range at which the reward reaches 0")

    def check(self) -> None:
        if self.min_tokens > self.max_tokens:
            raise ConfigError("length.min_tokens", self.min_tokens,
                              f"must not exceed length.max_tokens={self.max_tokens}")


@REWARDS.register("length")
class LengthTarget(Reward):
    help = "Length target: 1 inside [min_tokens, max_tokens], falling linearly to 0 over `softness` tokens."
    Config = LengthConfig

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


@dataclass(frozen=True)
class RegexConfig(Config):
    pattern: str = param("", help="Regular expression to look for (case-insensitive)")
    words: tuple[str, ...] = param((), help="Lexicon: whole words to look for (comma-separated)")
    saturate: int = param(1, low=1, high=100, help="Matches that give the full reward of 1")
    avoid: bool = param(False, help="Reward the absence of matches instead (1 - score)")

    def check(self) -> None:
        if not self.pattern and not self.words:
            raise ConfigError("regex.pattern", self.pattern, "give a pattern or regex.words")
        if len(self.pattern) > 500:
            raise ConfigError("regex.pattern", self.pattern[:40] + "...", "at most 500 characters")
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise ConfigError("regex.pattern", self.pattern, f"not a valid regular expression ({e})") from None


@REWARDS.register("regex")
class RegexMatch(Reward):
    help = "Regex / lexicon match: min(1, matches / saturate); `avoid` rewards their absence."
    Config = RegexConfig

    def __init__(self, config: RegexConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        alternatives = [config.pattern] if config.pattern else []
        alternatives += [rf"\b{re.escape(w)}\b" for w in config.words]
        self.regex = re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        c = self.config
        hits = [min(1.0, len(self.regex.findall(t)) / c.saturate) for t in continuations]
        return torch.tensor([1.0 - h if c.avoid else h for h in hits], dtype=torch.float32)
