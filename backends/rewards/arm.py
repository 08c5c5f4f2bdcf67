"""ARM: a low-rank autoregressive reward model (Troshin, Niculae, Fokkens, arXiv 2407.04615).

r(s, v) = e_v^T W h + b^T h, with h the reward model's hidden state for the prefix s, e_v the
(tied) embedding of candidate v and W = U V^T of low rank: one reward-model call per generated
token scores every candidate, or the whole vocabulary. Values are sigmoid-calibrated in [0, 1].
This module is the token-level scorer; the model class is in `backends.arm_model` (imported
when an ARM model loads) and training in `backends.training.arm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from transformers import DynamicCache

from backends.devices import Meter
from backends.lm import LMState, cached_inputs

if TYPE_CHECKING:
    from backends.arm_model import ArmRewardModel


class ArmStack:
    """`CausalStack` view of an ARM model: the output of a state is the last hidden state."""

    role = "reward"

    def __init__(self, model: ArmRewardModel, tokenizer, name: str):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def run(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        return self.run_all(ids, cache, past)[:, -1]  # (B, H)

    @torch.no_grad()
    def run_all(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        return self.model.hidden(**cached_inputs(ids, cache, past))  # (B, n, H)

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
