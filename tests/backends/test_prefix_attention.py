"""Shared-prefix attention: k candidate rows over one stored prefix give the outputs of a full
forward, on GPT-2 and on grouped-query Llama; models it does not model keep k-row copies and a
decoder says so in a Note."""

from __future__ import annotations

import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from backends import candidate_rows, prefix_attention
from backends.candidate_rows import CandidateRows
from backends.decoders import GenerationRequest
from backends.events import Note
from backends.lm import LanguageModel
from backends.prefix_attention import SuffixCache


def _reference(lm: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
    return lm.full_logits(ids)[:, -1]  # (B, V)


def _tiny(tiny_models, cls, config) -> LanguageModel:
    tok = PreTrainedTokenizerFast.from_pretrained(tiny_models["policy"])
    torch.manual_seed(0)
    return LanguageModel(cls(config).eval(), tok, cls.__name__)


@pytest.fixture
def share_always(monkeypatch):
    monkeypatch.setattr(candidate_rows, "SHARE_AT", 0)  # tiny prefixes: share from the first step


def _walk(lm: LanguageModel, steps: int = 5, layouts: list | None = None) -> CandidateRows:
    """Score 3 candidates a step against a full forward, committing the middle one; the rows."""
    rows = CandidateRows(lm.start([5, 6, 7, 8]), 4, room=2)  # room 2: the prefix buffer grows on the way
    for step in range(steps):
        if layouts is not None:
            layouts.append(rows.shared)
        cands = torch.tensor([20 + step, 30 + step, 40 + step])
        out = rows.score(cands)  # (3, V)
        want = _reference(lm, torch.cat([rows.ids.repeat(3, 1), cands[:, None]], dim=1))
        torch.testing.assert_close(out, want, atol=1e-5, rtol=0)
        rows.commit(1, int(cands[1]), out[1:2])
    rebuilt = rows.state()
    rebuilt.append([9])
    torch.testing.assert_close(rebuilt.logits(), _reference(lm, rebuilt.ids), atol=1e-5, rtol=0)
    return rows


def test_short_prefixes_keep_k_row_copies(engine, fake_preset):
    rows = _walk(engine.language_model(fake_preset.policy))  # 4 rows x 9 positions: below SHARE_AT
    assert not rows.shared and rows.why_not_shared is None and rows.bufs[0][0].shape[0] == 4


def test_shared_rows_on_gpt2_match_a_full_forward(engine, fake_preset, share_always):
    rows = _walk(engine.language_model(fake_preset.policy))
    assert rows.shared and rows.why_not_shared is None
    assert rows.bufs[0][0].shape[0] == 1  # the prefix is stored once, not once per row


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_shared_rows_on_grouped_query_llama_match_a_full_forward(tiny_models, implementation, share_always):
    config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    config._attn_implementation = implementation
    lm = _tiny(tiny_models, LlamaForCausalLM, config)
    assert _walk(lm).shared
    assert lm.model.config._attn_implementation == f"playground+{implementation}"


def test_rows_switch_to_the_shared_layout_when_the_prefix_grows(engine, fake_preset, monkeypatch):
    monkeypatch.setattr(candidate_rows, "SHARE_AT", 4 * 6)  # 4 rows: shared from a 6-token prefix on
    layouts: list[bool] = []
    rows = _walk(engine.language_model(fake_preset.policy), steps=4, layouts=layouts)
    assert layouts == [False, False, True, True] and rows.shared


def test_a_suffix_of_several_tokens_sees_only_its_own_past(engine, fake_preset):
    """n > 1 new tokens per row: each sees the prefix and its own earlier suffix tokens (causal)."""
    lm = engine.language_model(fake_preset.policy)
    assert prefix_attention.check(lm) is None
    state = lm.start([5, 6, 7, 8, 9])
    prefix = [(layer.keys, layer.values) for layer in state.cache.layers]
    bufs = [(k.new_empty(2, k.shape[1], 3, k.shape[3]), v.new_empty(2, v.shape[1], 3, v.shape[3])) for k, v in prefix]
    suffix = torch.tensor([[11, 12, 13], [21, 22, 23]])
    out = lm.run_all(suffix, SuffixCache.over(prefix, bufs), state.length)  # (2, 3, V)
    full = lm.full_logits(torch.cat([state.ids.repeat(2, 1), suffix], dim=1))[:, -3:]
    torch.testing.assert_close(out, full, atol=1e-5, rtol=0)


def test_soft_capped_attention_keeps_k_rows_and_says_why(tiny_models, share_always):
    lm = _tiny(tiny_models, Gemma2ForCausalLM, Gemma2Config(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, attn_logit_softcapping=50.0, sliding_window=4096,
        max_position_embeddings=64))
    rows = _walk(lm)
    assert not rows.shared and "attn_logit_softcapping=50.0" in rows.why_not_shared
    assert rows.bufs[0][0].shape[0] == 4  # one copy of the prefix per row


def test_a_reward_without_shared_rows_is_announced(engine, fake_preset, monkeypatch):
    monkeypatch.setattr(prefix_attention, "check", lambda stack: "a test says no")
    req = GenerationRequest(prompt="Write a review.", decoder="args", config={"k": 3}, preset="fake", seed=0,
                            max_new_tokens=3, rewards={"sentiment": 1.0})
    notes = [e.text for e in engine.stream(req) if isinstance(e, Note)]
    assert any("sentiment" in n and "a test says no" in n for n in notes), notes


@pytest.mark.parametrize("k", [1, 7])
def test_rows_take_any_number_of_candidates_up_to_their_size(engine, fake_preset, k, share_always):
    lm = engine.language_model(fake_preset.policy)
    rows = CandidateRows(lm.start([5, 6, 7]), 7)
    cands = torch.arange(30, 30 + k)
    want = _reference(lm, torch.cat([rows.ids.repeat(k, 1), cands[:, None]], dim=1))
    torch.testing.assert_close(rows.score(cands), want, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="8 candidates for 7 rows"):
        rows.score(torch.arange(8))


@pytest.mark.parametrize("outcome", ["differs", "raises"])
def test_a_failed_check_leaves_the_model_as_it_was(tiny_models, monkeypatch, outcome):
    lm = _tiny(tiny_models, LlamaForCausalLM, LlamaConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64))
    before = lm.model.config._attn_implementation

    def compare(stack):
        if outcome == "raises":
            raise AttributeError("no layer_idx")
        return "outputs differ"

    monkeypatch.setattr(prefix_attention, "_compare", compare)
    why = prefix_attention.check(lm)
    assert why is not None and ("no layer_idx" in why if outcome == "raises" else why == "outputs differ")
    assert lm.model.config._attn_implementation == before
    assert prefix_attention.check(lm) == why  # remembered on the model: checked once
