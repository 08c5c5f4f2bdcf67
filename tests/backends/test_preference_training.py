"""DPO: the loss on hand-made numbers, and a short run that moves the policy toward the chosen texts."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from backends.training.preference import (
    DpoConfig,
    PreferenceRow,
    completion_logprobs,
    dpo_loss,
    encode_rows,
    train_dpo,
)


def test_dpo_loss_matches_the_formula():
    pc, pr, rc, rr = (torch.tensor([v]) for v in (-1.0, -3.0, -2.0, -2.0))
    expected = -math.log(1 / (1 + math.exp(-0.5 * ((-1 + 2) - (-3 + 2)))))
    assert float(dpo_loss(pc, pr, rc, rr, 0.5)) == pytest.approx(expected, rel=1e-6)
    assert float(dpo_loss(rc, rr, rc, rr, 0.5)) == pytest.approx(math.log(2), rel=1e-6)


def test_dpo_raises_the_chosen_completion(tiny_models):
    tok = AutoTokenizer.from_pretrained(tiny_models["policy"])
    policy = AutoModelForCausalLM.from_pretrained(tiny_models["policy"])
    ref = AutoModelForCausalLM.from_pretrained(tiny_models["policy"]).eval()
    rows = [PreferenceRow("User: review the film\nAssistant:", " The film was great.", " The film was dull."),
            PreferenceRow("User: review the park\nAssistant:", " I loved the park.", " I hated the park.")]
    pairs = encode_rows(tok, rows, tok.eos_token_id, 64)
    with torch.no_grad():
        before = [completion_logprobs(policy, [p[0], p[1]], tok.eos_token_id, False) for p in pairs]
    stats = train_dpo(policy, ref, tok, rows, DpoConfig(steps=30, batch_size=2, lr=3e-3, beta=0.5))
    with torch.no_grad():
        after = [completion_logprobs(policy, [p[0], p[1]], tok.eos_token_id, False) for p in pairs]
    for b, a in zip(before, after, strict=True):
        assert (a[0] - a[1]) > (b[0] - b[1]) + 1.0  # the margin grew
    assert stats["final_reward_accuracy"] == 1.0 and stats["pairs"] == 2


def test_rows_without_signal_are_skipped(tiny_models):
    tok = AutoTokenizer.from_pretrained(tiny_models["policy"])
    long_prompt = "User: review the film " * 40
    rows = [PreferenceRow("User: review\nAssistant:", " great", " dull"),
            PreferenceRow("", " great", " dull"),  # nothing to condition on
            PreferenceRow(long_prompt, " great", " dull"),  # no room for a completion token
            PreferenceRow("User: review\nAssistant:", " great film" * 30 + " ok", " great film" * 30 + " no")]
    pairs = encode_rows(tok, rows, tok.eos_token_id, 32)
    assert len(pairs) == 1 and all(p.start >= 1 and len(p.ids) > p.start for pair in pairs for p in pair)
    kept = encode_rows(tok, rows[3:], tok.eos_token_id, 512)  # with room, the long completions differ
    assert len(kept) == 1 and kept[0][0].ids != kept[0][1].ids
