"""ARM: a low-rank autoregressive reward model (Troshin, Niculae, Fokkens, arXiv 2407.04615).

r(s, v) = e_v^T W h + b^T h, with h the reward model's hidden state for the prefix s, e_v the
(tied) embedding of candidate v and W = U V^T of low rank: one reward-model call per generated
token scores every candidate, or the whole vocabulary. Values are sigmoid-calibrated in [0, 1].
This module is the model and its token-level scorer; training lives in `backends.training.arm`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import DynamicCache, GPT2Config, GPT2Model, GPT2PreTrainedModel

from backends.devices import Meter
from backends.lm import LMState


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


class ArmStack:
    """`CausalStack` view of an ARM model: the output of a state is the last hidden state."""

    role = "reward"

    def __init__(self, model: ArmRewardModel, tokenizer, name: str):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def run(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        b, n = ids.shape
        pos = torch.arange(past, past + n, device=self.device).expand(b, n)  # (B, n)
        mask = torch.ones(b, past + n, dtype=torch.long, device=self.device)
        h = self.model.hidden(ids, mask, position_ids=pos, past_key_values=cache, use_cache=True)
        return h[:, -1]  # (B, H)

    @torch.no_grad()
    def run_all(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        b, n = ids.shape
        pos = torch.arange(past, past + n, device=self.device).expand(b, n)  # (B, n)
        mask = torch.ones(b, past + n, dtype=torch.long, device=self.device)
        return self.model.hidden(ids, mask, position_ids=pos, past_key_values=cache, use_cache=True)  # (B, n, H)

    @torch.no_grad()
    def score_candidates(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """h (1, H), ids (k,) -> (k,) calibrated rewards of prefix + each candidate."""
        return self.model.candidate_logits(h, ids.to(self.device)[None])[0].float().sigmoid().cpu()

    def shares_tokenizer(self, vocab: dict[str, int]) -> bool:
        return self.tokenizer.get_vocab() == vocab


class ArmPrefixScorer:
    """One reward-model token per generated token; candidates are scored from the cached h."""

    bridge = False

    def __init__(self, stack: ArmStack, prompt_ids: Sequence[int], meter: Meter):
        self.stack = stack
        self.state = LMState.prefill(stack, prompt_ids, meter)

    def score_candidates(self, cand_ids: torch.Tensor) -> torch.Tensor:
        return self.stack.score_candidates(self.state.logits(), cand_ids)  # (k,)

    def score_rollouts(self, cand_ids, rollouts):
        raise NotImplementedError("an ARM head scores next tokens only; rollouts need a full reward model")

    def score_sequence(self, ids: Sequence[int]) -> torch.Tensor:
        """Rewards (m,) of the prefix after each of `ids`: each token scored from the hidden state before it."""
        before = self.state.logits()  # (1, H)
        after = self.state.extend([list(ids)])[0]  # (m, H)
        h = torch.cat([before, after[:-1]])  # (m, H)  the state each token is read from
        with torch.no_grad():
            logits = self.stack.model.candidate_logits(h, torch.tensor(list(ids), device=h.device)[:, None])
        return logits[:, 0].float().sigmoid().cpu()  # (m,)

    def advance(self, token_id: int) -> None:
        self.state.append([int(token_id)])
