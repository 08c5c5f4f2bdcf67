"""Feature-level traces: what a sparse autoencoder sees behind each committed token.

For token t of a run, the policy reads the decoder's token y_t; the base policy, at the same
prefix, would have read its greedy token b_t. `FeatureTracer.step` encodes both residual streams
with the preset's SAE and returns a `FeatureStep`: the top features of each and FPO's feature
distance between them. It keeps its own KV caches (one prefill, then 1-2 tokens per step on a
forked cache, never re-encoding the prefix) and its own meter: tracing is not the decoder's cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from backends.devices import Meter
from backends.events import FeatureStep
from backends.lm import LanguageModel, LMState
from backends.sae import SparseAutoencoder, feature_distance

SHOWN = 8  # features listed per token


class ResidualStack:
    """A CausalStack whose output is [next-token logits (V) | hidden state the SAE reads (d)]."""

    role = "trace"

    def __init__(self, lm: LanguageModel, layer: int):
        self.lm, self.layer, self.device = lm, layer, lm.device

    def run(self, ids: torch.Tensor, cache, past: int) -> torch.Tensor:
        out = self.lm.forward(ids, cache, past, output_hidden_states=True)
        return torch.cat([out.logits[:, -1].float(), out.hidden_states[self.layer][:, -1].float()], dim=-1)


class FeatureTracer:
    def __init__(self, policy: LanguageModel, base: LanguageModel, sae: SparseAutoencoder,
                 prompt_ids: Sequence[int], k: int = 50):
        hidden = policy.model.config.hidden_size
        if sae.config.d_in != hidden:
            raise ValueError(f"sae: reads {sae.config.d_in}-dim states but {policy.name} has hidden size {hidden}")
        self.sae, self.k, self.vocab, self.policy_vocab = sae, min(k, sae.d_sae), base.vocab_size, policy.vocab_size
        self.base_lm, self.meter = base, Meter()
        self.prompt = len(prompt_ids)
        self.base = LMState.prefill(ResidualStack(base, sae.config.layer), prompt_ids, self.meter)
        self.policy = None if policy is base else LMState.prefill(ResidualStack(policy, sae.config.layer),
                                                                  prompt_ids, self.meter)

    @property
    def length(self) -> int:
        """Tokens of the continuation traced so far."""
        return self.base.length - self.prompt

    @torch.no_grad()
    def step(self, index: int, token: int) -> FeatureStep:
        if index != self.length:  # token steps come in order: no decoder backtracks
            raise ValueError(f"token step {index} after {self.length} traced tokens")
        greedy = int(self.base.last[0, : self.vocab].argmax())
        if greedy == token:
            self.base.append([token])
            h_base = h_dec = self.base.last[0, self.vocab:]
        else:
            both = self.base.fork(2)
            both.append([greedy, token])
            h_base, h_dec = both.last[0, self.vocab:], both.last[1, self.vocab:]
            self.base = both.select([1])
        if self.policy is not None:
            self.policy.append([token])
            h_dec = self.policy.last[0, self.policy_vocab:]
        f = self.sae.encode(torch.stack([h_dec, h_base]).to(self.sae.W_enc.device))  # (2, d_sae)
        top_v, top_i = f.topk(SHOWN, dim=-1)
        shown = [[(int(i), float(v)) for v, i in zip(top_v[r], top_i[r], strict=True) if v > 0] for r in (0, 1)]
        both_have = {i for i, _ in shown[0]} & {i for i, _ in shown[1]}
        return FeatureStep(
            index=index, features=[i for i, _ in shown[0]], activations=[round(v, 4) for _, v in shown[0]],
            base_token=greedy, base_text=self.base_lm.token_text(greedy),
            base_features=[i for i, _ in shown[1]], base_activations=[round(v, 4) for _, v in shown[1]],
            distance=float(feature_distance(f[0], f[1], self.k)),
            overlap=len(both_have) / max(1, len(shown[0]), len(shown[1])), k=self.k)
