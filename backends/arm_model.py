"""ARM's model class: a GPT-2 trunk with the low-rank head (Troshin et al., arXiv 2407.04615).

Apart from `backends.rewards.arm` (its scorer), and outside the rewards package (whose modules are all
imported with it), because importing transformers' modeling code takes seconds on a small CPU: the app
serves its page first and imports this when an ARM model loads.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model, GPT2PreTrainedModel


class ArmRewardModel(GPT2PreTrainedModel):
    """A GPT-2 trunk with ARM's low-rank head; `config.arm_rank` sets the rank of W."""

    def __init__(self, config: GPT2Config):
        super().__init__(config)
        self.transformer = GPT2Model(config)
        rank = getattr(config, "arm_rank", 16)
        self.arm_down = nn.Linear(config.n_embd, rank, bias=False)  # V^T
        self.arm_up = nn.Linear(rank, config.n_embd, bias=False)  # U
        self.arm_bias = nn.Linear(config.n_embd, 1)  # b^T h (+ a scalar)
        self.post_init()

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        """(B, T) -> (B, T, H) final hidden states."""
        return self.transformer(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state

    def candidate_logits(self, h: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """h (..., H); ids (..., k) or None for the whole vocabulary -> logits (..., k) or (..., V)."""
        query = self.arm_up(self.arm_down(h))  # (..., H)
        emb = self.transformer.wte.weight  # (V, H)
        if ids is None:
            return query @ emb.T + self.arm_bias(h)  # (..., V)
        return (emb[ids] * query.unsqueeze(-2)).sum(-1) + self.arm_bias(h)  # (..., k)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        """Teacher-forced logits of each actual next token: (B, T-1) for x_1..x_{T-1} given x_<t."""
        h = self.hidden(input_ids, attention_mask)[:, :-1]  # (B, T-1, H)
        return self.candidate_logits(h, input_ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
