"""LMState against a fresh full forward: every cache operation must give the same logits."""

from __future__ import annotations

import torch

from backends.lm import LanguageModel


def _lm(engine, fake_preset) -> LanguageModel:
    return engine.language_model(fake_preset.policy)


def _reference(lm: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
    return lm.full_logits(ids)[:, -1]  # (B, V)


def test_prefill_and_append_match_full_forward(engine, fake_preset):
    lm = _lm(engine, fake_preset)
    prompt = lm.encode("User: write a review\nAssistant:")
    state = lm.start(prompt)
    torch.testing.assert_close(state.logits(), _reference(lm, state.ids), atol=1e-5, rtol=0)
    state.append([5])
    state.append(torch.tensor([[7, 9]]))
    assert state.length == len(prompt) + 3
    torch.testing.assert_close(state.logits(), _reference(lm, state.ids), atol=1e-5, rtol=0)


def test_fork_select_truncate_match_full_forward(engine, fake_preset):
    lm = _lm(engine, fake_preset)
    state = lm.start(lm.encode("The film was"))
    parent_logits = state.logits().clone()
    forks = state.fork(3)
    forks.append(torch.tensor([11, 12, 13]))  # (3,)
    torch.testing.assert_close(forks.logits(), _reference(lm, forks.ids), atol=1e-5, rtol=0)
    # the parent is untouched by its fork's growth
    torch.testing.assert_close(state.logits(), parent_logits)
    assert state.batch == 1 and state.cache.get_seq_length() == state.length
    picked = forks.select([2, 0])
    assert picked.ids[:, -1].tolist() == [13, 11]
    torch.testing.assert_close(picked.logits(), _reference(lm, picked.ids), atol=1e-5, rtol=0)
    picked.append(torch.tensor([3, 4]))
    picked.truncate(state.length + 1)
    assert picked.length == state.length + 1
    torch.testing.assert_close(picked.logits(), _reference(lm, picked.ids), atol=1e-5, rtol=0)
    picked.append(torch.tensor([20, 21]))
    torch.testing.assert_close(picked.logits(), _reference(lm, picked.ids), atol=1e-5, rtol=0)


def test_meter_counts_every_token_fed(engine, fake_preset):
    lm = _lm(engine, fake_preset)
    prompt = lm.encode("hello there")
    state = lm.start(prompt)
    forks = state.fork(4)
    forks.append(torch.tensor([1, 2, 3, 4]))
    assert state.meter.lm_tokens == len(prompt) + 4


def test_greedy_decoder_equals_transformers_generate(engine, fake_preset):
    from backends.decoders import GenerationRequest

    lm = _lm(engine, fake_preset)
    req = GenerationRequest(prompt="write a review of the film", decoder="sampling", config={"temperature": 0},
                            preset="fake", max_new_tokens=12)
    tokens = [e.token_id for e in engine.stream(req) if e.type == "token"]
    ids = torch.tensor([lm.encode("User: write a review of the film\nAssistant:")])
    out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                            pad_token_id=lm.eos_token_id)
    expected = out[0, ids.shape[1]:].tolist()
    if lm.eos_token_id in expected:
        expected = expected[: expected.index(lm.eos_token_id) + 1]
    assert tokens == expected


def test_greedy_decoder_equals_transformers_generate_on_the_zoo():
    """The same check on the embedded zoo's policy, through the real preset and chat template."""
    from backends.decoders import GenerationRequest
    from backends.engine import Engine

    engine = Engine(device="cpu")
    lm = engine.language_model("zoo:tiny-sft")
    prompt = "Write a review of the film The Final Kingdom."
    req = GenerationRequest(prompt=prompt, decoder="sampling", config={"temperature": 0}, max_new_tokens=40)
    tokens = [e.token_id for e in engine.stream(req) if e.type == "token"]
    ids = torch.tensor([lm.encode(f"User: {prompt}\nAssistant:")])
    out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=40, do_sample=False,
                            pad_token_id=lm.eos_token_id)
    expected = out[0, ids.shape[1]:].tolist()
    if lm.eos_token_id in expected:
        expected = expected[: expected.index(lm.eos_token_id) + 1]
    assert tokens == expected and len(tokens) > 5


def test_buffered_forks_and_shares_match_full_forward(engine, fake_preset):
    """The in-place paths (a fork with room, a share growing past its parent, a reserve that outgrows
    its room) give the logits of a fresh full forward (candidate rows: test_prefix_attention.py)."""
    lm = _lm(engine, fake_preset)
    state = lm.start(lm.encode("The film was"))
    forks = state.fork(3, room=4)
    forks.append(torch.tensor([11, 12, 13]))
    grown = forks.share()
    grown.append(torch.tensor([[5, 6], [7, 8], [9, 10]]))  # (3, 2) past the parent's end, in its buffers
    torch.testing.assert_close(grown.logits(), _reference(lm, grown.ids), atol=1e-5, rtol=0)
    picked = forks.select([1])  # the parent still reads its own rows
    torch.testing.assert_close(picked.logits(), _reference(lm, picked.ids), atol=1e-5, rtol=0)
    picked.append([4])
    torch.testing.assert_close(picked.logits(), _reference(lm, picked.ids), atol=1e-5, rtol=0)
    tight = state.reserve(2)
    for token in (3, 4, 5, 6, 7):  # beyond the room: the buffer grows
        tight.append([token])
    torch.testing.assert_close(tight.logits(), _reference(lm, tight.ids), atol=1e-5, rtol=0)
