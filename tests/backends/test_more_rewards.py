"""The sentence-embedding preference reward and the implicit DPO reward, on tiny local models."""

from __future__ import annotations

import pytest
import torch

from backends.config import ConfigError, build_config
from backends.decoders import GenerationRequest
from backends.lm import sequence_logprobs
from backends.rewards import REWARDS


def _reward(engine, name: str, settings: dict):
    req = GenerationRequest(prompt="x", preset="fake", rewards={name: 1.0}, reward_config={name: settings})
    preset = engine.preset("fake")
    return engine.build_reward(req, preset, engine.language_model(preset.policy)).parts[name][0]


def test_preference_similarity_is_a_cosine(engine, tiny_models):
    reward = _reward(engine, "preference", {"preference": "the film was great", "model": tiny_models["embedder"]})
    scores = reward.score("User: hi\nAssistant:", ["the film was great", "dog park ball", ""])
    assert scores.shape == (3,) and torch.all(scores.abs() <= 1 + 1e-5)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)  # identical text
    assert scores[0] > scores[1]


def test_preference_needs_a_preference():
    with pytest.raises(ConfigError, match=r"preference\.preference"):
        build_config(REWARDS.get("preference").Config, {"preference": "  "})


def test_preference_reports_a_missing_model(engine):
    done = engine.generate(GenerationRequest(prompt="hi", preset="fake", rewards={"preference": 1.0}, reward_config={
        "preference": {"preference": "kind", "model": "/nonexistent/embedder"}}))
    assert done.stop_reason == "error" and "/nonexistent/embedder" in done.error


def test_sequence_logprobs_match_step_by_step(engine, fake_preset):
    lm = engine.language_model(fake_preset.policy)
    prompt = lm.encode("User: hello\nAssistant:")
    conts = [lm.encode(" the film"), lm.encode(" a dog and a ball in the park")]
    batched = sequence_logprobs(lm, prompt, conts)
    for value, cont in zip(batched, conts, strict=True):
        state, total = lm.start(prompt), 0.0
        for tok in cont:
            total += float(state.logits()[0].log_softmax(-1)[tok])
            state.append([tok])
        assert float(value) == pytest.approx(total, abs=1e-4)


def test_implicit_dpo_reward(engine, fake_preset, tiny_models):
    same = _reward(engine, "dpo_implicit", {"aligned": fake_preset.policy})
    assert torch.allclose(same.score("User: hi\nAssistant:", [" the film", " dog"]), torch.zeros(2))
    diff = _reward(engine, "dpo_implicit", {"beta": 0.5})  # the preset's aligned baseline vs its base
    lm, aligned = engine.language_model(fake_preset.policy), engine.language_model(tiny_models["aligned"])
    p, c = lm.encode("User: hi\nAssistant:"), [lm.encode(" the film")]
    expected = 0.5 * (sequence_logprobs(aligned, p, c) - sequence_logprobs(lm, p, c))
    torch.testing.assert_close(diff.score("User: hi\nAssistant:", [" the film"]), expected)
    with pytest.raises(ConfigError, match="tokenizer differs"):
        _reward(engine, "dpo_implicit", {"aligned": tiny_models["aligned"], "reference": _other_lm(tiny_models)})


def _other_lm(tiny_models) -> str:
    """A causal LM with a different tokenizer (built once next to the other fixtures)."""
    from pathlib import Path

    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder = Path(tiny_models["arm_other"]).parent / "lm_other"
    if not folder.exists():
        tok = AutoTokenizer.from_pretrained(tiny_models["arm_other"])
        GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=16, n_layer=1, n_head=2)
                        ).save_pretrained(folder)
        tok.save_pretrained(folder)
    return str(folder)


def test_the_default_embedder_comes_from_its_package_before_any_download(fake_preset, tiny_models, monkeypatch):
    import backends.engine as engine_module
    from backends.engine import Engine
    from backends.rewards import DEFAULT_EMBEDDER

    asked = []
    real = engine_module.load_pretrained

    def loading(cls, model_id, *args, **kwargs):
        asked.append(model_id)
        return real(cls, model_id, *args, **kwargs)

    monkeypatch.setattr(engine_module, "packaged_minilm", lambda: tiny_models["embedder"])
    monkeypatch.setattr(engine_module, "load_pretrained", loading)
    embedder = Engine(device="cpu", presets={"fake": fake_preset}).embedder(DEFAULT_EMBEDDER)
    assert asked == [tiny_models["embedder"]] and embedder.name == DEFAULT_EMBEDDER  # the hub id is never tried
