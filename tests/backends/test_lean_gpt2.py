"""The lean GPT-2 forward gives transformers' outputs on every cache the states use, and models it
does not fit keep transformers' forward."""

from __future__ import annotations

import torch
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from backends.lean_gpt2 import Lean, lean_for
from backends.lm import LanguageModel


def _pair(engine, fake_preset) -> tuple[LanguageModel, Lean]:
    lm = engine.language_model(fake_preset.policy)
    lean = lm._lean()
    assert isinstance(lean, Lean)
    return lm, lean


def _both(lm: LanguageModel, lean: Lean, steps) -> tuple[torch.Tensor, torch.Tensor]:
    """`steps(lm)` -> logits, run once through the lean path and once through transformers'."""
    outs = []
    for path in (lean, None):
        lm.model._playground_lean = path
        outs.append(steps(lm))
    lm.model._playground_lean = lean
    return outs[0], outs[1]


def test_lean_steps_equal_transformers_on_every_cache(engine, fake_preset):
    lm, lean = _pair(engine, fake_preset)

    def steps(lm: LanguageModel) -> torch.Tensor:
        state = lm.start([5, 6, 7, 8])  # DynamicCache, 4-token prefill
        state.append([9])
        grown = state.fork(3, room=4)  # in-place row buffers
        grown.append(torch.tensor([11, 12, 13]))
        out = grown.extend([[1, 2], [3, 4], [5, 6]])  # two new tokens over a cache: the causal offset
        return torch.cat([state.logits(), grown.logits(), out.flatten(0, 1)])

    got, want = _both(lm, lean, steps)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_lean_classifier_heads_equal_transformers(engine, fake_preset):
    clf = engine.classifier(fake_preset.reward_models["sentiment"].model)
    lean = lean_for(clf.model, clf.model.base_model, clf._full_hidden)
    assert isinstance(lean, Lean)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    outs = []
    for path in (lean, None):
        clf.model._playground_lean = path
        cache = DynamicCache()
        first = clf.run_all(ids[:, :3], cache, 0)
        outs.append(torch.cat([first[0], clf.run_all(ids[:, 3:], cache, 3)[0]]))
    clf.model._playground_lean = lean
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=0)


def test_models_it_does_not_fit_keep_transformers_forward(tiny_models):
    tok = PreTrainedTokenizerFast.from_pretrained(tiny_models["policy"])
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                                       reorder_and_upcast_attn=True)).eval()
    lm = LanguageModel(model, tok, "upcast")
    assert lm._lean() is None and "upcast" in Lean.fits(model.transformer)
    state = lm.start([5, 6, 7])
    torch.testing.assert_close(state.logits(), lm.full_logits(state.ids)[:, -1], atol=1e-5, rtol=0)


def test_a_gpt2_trunk_the_lean_path_does_not_match_says_so_and_keeps_transformers_forward(tiny_models, caplog):
    tok = PreTrainedTokenizerFast.from_pretrained(tiny_models["policy"])
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2)).eval()
    lm = LanguageModel(model, tok, "mismatched")

    def off_by_one(ids, cache, past):  # a reference the lean forward cannot match
        return lm._trunk_hidden(ids, cache, past) + 1

    with caplog.at_level("WARNING", logger="backends.lean_gpt2"):
        assert lean_for(model, model.transformer, off_by_one) is None
    assert "differs from transformers'" in caplog.text and "runs transformers' forward" in caplog.text
    assert lm._lean() is None  # remembered on the model


def test_the_loader_fuses_gpt2s_activation_unless_asked_not_to_and_outputs_agree(tiny_models):
    from transformers import AutoModelForCausalLM
    from transformers.activations import GELUTanh, NewGELUActivation

    from backends.loading import load_pretrained

    cpu = torch.device("cpu")
    fused, _ = load_pretrained(AutoModelForCausalLM, tiny_models["policy"], cpu, torch.float32)
    plain, _ = load_pretrained(AutoModelForCausalLM, tiny_models["policy"], cpu, torch.float32, fuse=False)
    assert type(fused.transformer.h[0].mlp.act) is GELUTanh
    assert type(plain.transformer.h[0].mlp.act) is NewGELUActivation
    ids = torch.tensor([[5, 6, 7, 8]])
    torch.testing.assert_close(fused(ids).logits, plain(ids).logits, atol=1e-5, rtol=0)
