"""What real checkpoints need: --preset-file on the generate CLI, causal reward models told by their
config (a Gemma3 reward model gets the cached fast path), padded vocabularies, and BOS."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from transformers import (
    BertConfig,
    DebertaV2Config,
    Gemma3TextConfig,
    Gemma3TextForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    PreTrainedTokenizerFast,
)

from backends.decoders import GenerationRequest
from backends.events import TokenStep
from backends.lm import LanguageModel
from backends.rewards.classifier import CachedPrefixScorer, SequenceClassifier, is_causal
from tests.backends.test_generate_cli import _run


def test_generate_takes_a_preset_file(tmp_path):
    path = tmp_path / "preset.json"
    path.write_text(json.dumps({"name": "mine", "description": "zoo, by file", "policy": "zoo:tiny-sft",
                                "reward_models": {"sentiment": {"model": "zoo:tiny-sentiment-rm", "output": "raw"}},
                                "prompt_template": "User: {prompt}\nAssistant:"}))
    out = _run("--preset-file", str(path), "--prompt", "Write a review.", "--decoder", "args", "--set", "k=3",
               "--reward", "sentiment=1", "--max-new-tokens", "4", "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout.splitlines()[-1])
    assert done["type"] == "finished" and done["stop_reason"] in ("eos", "max_new_tokens")
    bad = _run("--preset-file", str(tmp_path / "missing.json"), "--prompt", "hi")
    assert bad.returncode == 2 and "--preset-file" in bad.stderr


@pytest.mark.parametrize("config,causal", [
    (GPT2Config(), True), (LlamaConfig(), True), (Gemma3TextConfig(), True),
    (BertConfig(), False), (DebertaV2Config(), False),
    (BertConfig(architectures=["MyRewardForCausalLM"]), True), (BertConfig(is_decoder=True), True)])
def test_causal_reward_models_are_told_by_their_config(config, causal):
    assert is_causal(config) is causal


def test_a_gemma3_reward_model_gets_the_cached_path(engine, tiny_models):
    tok = PreTrainedTokenizerFast.from_pretrained(tiny_models["policy"])
    torch.manual_seed(0)
    model = Gemma3TextForSequenceClassification(Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, num_labels=1, pad_token_id=tok.eos_token_id)).eval()
    clf = SequenceClassifier(model, tok, "gemma3-rm", output="raw")
    lm = engine.language_model(engine.preset("fake").policy)
    assert clf.causal and clf.shares_tokenizer(lm)
    from backends.devices import Meter

    scorer = CachedPrefixScorer(clf, [5, 6, 7], Meter(), lm.eos_token_id)
    got = scorer.score_candidates(torch.tensor([8, 9]))
    with torch.no_grad():
        want = [float(model(input_ids=torch.tensor([[5, 6, 7, c]])).logits[0, 0]) for c in (8, 9)]
    assert got.tolist() == pytest.approx(want, abs=1e-4)


def test_arm_never_picks_a_padding_row_of_the_policy(engine, tiny_models, tmp_path):
    """The policy's embedding has rows beyond the tokenizer (as Qwen2.5's); they are made the most
    likely tokens, yet ARM (and every top-k decoder) never proposes them, and the ARM head, sized to
    the tokenizer, never sees them."""
    tok = PreTrainedTokenizerFast.from_pretrained(tiny_models["policy"])
    padded = len(tok) + 16
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=padded, n_positions=128, n_embd=32, n_layer=2, n_head=2,
                                       eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id))
    with torch.no_grad():
        bias = torch.randn(32)
        model.transformer.ln_f.bias.copy_(bias)  # the final hidden state is about `bias` everywhere ...
        model.transformer.wte.weight[len(tok):] = bias  # ... so the padding rows (tied head) get the top logits
    model.save_pretrained(tmp_path / "padded")
    tok.save_pretrained(tmp_path / "padded")
    engine.presets["fake-padded"] = replace(engine.preset("fake"), name="fake-padded", policy=str(tmp_path / "padded"))
    lm = engine.language_model(str(tmp_path / "padded"))
    assert lm.vocab_size == padded and lm.n_tokens == len(tok)
    assert int(lm.start([5, 6]).logits()[0].argmax()) >= len(tok)  # the padding really is on top
    for decoder in ("arm", "rad", "args"):
        events = list(engine.stream(GenerationRequest(
            prompt="Write a review.", decoder=decoder, preset="fake-padded", seed=1, max_new_tokens=5,
            rewards={"sentiment": 1.0})))
        assert events[-1].stop_reason != "error", (decoder, events[-1].error)
        assert all(e.token_id < len(tok) for e in events if isinstance(e, TokenStep))


def _bos_tokenizer(tiny_models, tmp_path) -> PreTrainedTokenizerFast:
    """The test tokenizer with a BOS post-processor (as Llama's and Gemma's tokenizers have)."""
    from tokenizers import processors

    base = PreTrainedTokenizerFast.from_pretrained(tiny_models["policy"])
    inner = base.backend_tokenizer
    bos = "<|endoftext|>"
    inner.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, base.eos_token_id)])
    tok = PreTrainedTokenizerFast(tokenizer_object=inner, bos_token=bos, eos_token=bos, pad_token=bos, unk_token=bos)
    tok.save_pretrained(tmp_path / "bos_tok")
    return tok


def test_bos_is_added_when_the_tokenizer_adds_it(engine, tiny_models, tmp_path):
    tok = _bos_tokenizer(tiny_models, tmp_path)
    assert tok("hi")["input_ids"][0] == tok.bos_token_id  # the tokenizer's own encoding adds it
    model = GPT2LMHeadModel.from_pretrained(tiny_models["policy"])
    lm = LanguageModel(model, tok, "bos")
    plain = lm.encode("User: hi\nAssistant:")
    assert plain[0] != tok.bos_token_id
    assert lm.encode_prompt("User: hi\nAssistant:") == [tok.bos_token_id, *plain]
    assert lm.encode_prompt(tok.bos_token + "User: hi") == lm.encode(tok.bos_token + "User: hi")  # not twice
    model.save_pretrained(tmp_path / "bos_lm")
    tok.save_pretrained(tmp_path / "bos_lm")
    engine.presets["fake-bos"] = replace(engine.preset("fake"), name="fake-bos", policy=str(tmp_path / "bos_lm"))
    _, ctx = engine.prepare(GenerationRequest(prompt="hi", preset="fake-bos"))
    assert ctx.prompt_ids[0] == tok.bos_token_id
    _, plain_ctx = engine.prepare(GenerationRequest(prompt="hi", preset="fake"))
    assert plain_ctx.prompt_ids[0] != tok.bos_token_id  # a tokenizer that adds none gets none
