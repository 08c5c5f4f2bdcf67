"""The base is the preset's base (KL against a reference computed here), and rollouts are scored from
the reward model's cached prefix (values equal a full re-encode, counts are exact and flat)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from backends.decoders import GenerationRequest
from backends.engine import Engine
from backends.events import Note, TokenStep
from backends.presets import PRESETS
from backends.rewards import RewardModelRef
from backends.rewards.classifier import _until_eos


@pytest.fixture(scope="module")
def zoo_engine():
    preset = replace(PRESETS["embedded"], name="dpo-over-sft", policy="zoo:tiny-dpo-sentiment", base="zoo:tiny-sft")
    return Engine(device="cpu", presets={"dpo-over-sft": preset, "embedded": PRESETS["embedded"]})


@pytest.mark.parametrize("decoder,config", [("sampling", {"temperature": 0.8}),
                                            ("best_of_n", {"n": 2, "temperature": 0.8})])
def test_kl_is_to_the_presets_base(zoo_engine, decoder, config):
    req = GenerationRequest(prompt="Write a review of the film Moon Harbor.", decoder=decoder, config=config,
                            preset="dpo-over-sft", seed=1, max_new_tokens=12, rewards={"sentiment": 1.0})
    events = list(zoo_engine.stream(req))
    done = events[-1]
    assert done.stop_reason != "error", done.error
    steps = [e for e in events if isinstance(e, TokenStep)]
    _, ctx = zoo_engine.prepare(req)
    policy, base = zoo_engine.language_model("zoo:tiny-dpo-sentiment"), zoo_engine.language_model("zoo:tiny-sft")
    ids = torch.tensor([ctx.prompt_ids + [s.token_id for s in steps]])  # (1, P + T)
    at = slice(len(ctx.prompt_ids) - 1, ids.shape[1] - 1)  # positions predicting each new token
    dec = (policy.full_logits(ids)[0, at] / 0.8).log_softmax(-1)  # (T, V)
    ref = base.full_logits(ids)[0, at].log_softmax(-1)  # (T, V)
    kl = (dec.exp() * (dec - ref)).sum(-1)  # (T,)
    entropy = -(ref.exp() * ref).sum(-1)
    for t, s in enumerate(steps):
        assert s.kl == pytest.approx(float(kl[t]), abs=1e-4)
        assert s.logprob_base == pytest.approx(float(ref[t, s.token_id]), abs=1e-4)
        assert s.logprob_decoder == pytest.approx(float(dec[t, s.token_id]), abs=1e-4)
        assert s.entropy == pytest.approx(float(entropy[t]), abs=1e-4)
    assert float(kl.sum()) > 0.05  # the aligned policy really differs from its SFT base
    assert done.cost.base_tokens >= len(ctx.prompt_ids) + len(steps) - 1


def _full_reward(clf, ids: list[int]) -> float:
    """The reward model's value of `ids`, one uncached forward (the re-encode the cache replaces)."""
    with torch.no_grad():
        hidden = clf.model.base_model(input_ids=torch.tensor([ids])).last_hidden_state[:, -1]
        return float(clf.transform(clf.model.score(hidden))[0])


def test_cached_rollout_rewards_equal_a_full_re_encode_and_count_exactly(engine):
    _, ctx = engine.prepare(GenerationRequest(prompt="Write a review.", decoder="cd", preset="fake",
                                              rewards={"sentiment": 1.0}))
    scorer = ctx.scorer()
    cached = scorer.scorers["sentiment"]
    eos = ctx.lm.eos_token_id
    prefix = [5, 9, 13]
    for t in prefix:
        scorer.advance(t)
    cands = torch.tensor([3, 7, eos, 11])
    rollouts = [[[1, 2, 3], [4]], [[5, eos, 6], []], [[8], [9]], [[10, 11, 12, 13], [eos]]]
    before = ctx.meter.reward_tokens
    scored = scorer.score_rollouts(cands, rollouts)
    rows = [r for i, c in enumerate(cands.tolist()) if c != eos for r in rollouts[i] if _until_eos(r, eos)]
    assert ctx.meter.reward_tokens - before == len(cands) + len(rows) * max(len(_until_eos(r, eos)) for r in rows)
    head = ctx.prompt_ids + prefix
    for i, c in enumerate(cands.tolist()):
        for j, r in enumerate(rollouts[i]):
            text = head if c == eos else [*head, c, *_until_eos(r, eos)]
            assert float(scored.total[i, j]) == pytest.approx(_full_reward(cached.clf, text), abs=1e-4)
        assert float(scored.cand_total[i]) == pytest.approx(_full_reward(cached.clf, [*head, c]), abs=1e-4)
    scorer.advance(7)  # the chosen candidate's row becomes the prefix
    values, _ = scorer.score_sequence([2, 4])  # the prefix after each token, one forward
    for n, v in enumerate(values.tolist()):
        assert v == pytest.approx(_full_reward(cached.clf, head + [7, 2, 4][: n + 2]), abs=1e-4)


@pytest.mark.parametrize("decoder,config,models", [
    ("cd", {"k": 3, "rollout_len": 4}, 1), ("deal", {"k": 3, "lookahead": 4}, 1),
    ("tqstar", {"k": 3, "rollout_len": 4}, 1),
    ("tqstar", {"k": 3, "rollout_len": 4, "transfer": "indirect", "baseline_reward": "politeness"}, 2)])
def test_reward_tokens_per_step_are_k_times_l_plus_one_per_model_flat_in_position(engine, decoder, config, models):
    k, length = config["k"], config.get("rollout_len", config.get("lookahead"))
    req = GenerationRequest(prompt="Write a review of the film.", decoder=decoder, config=config, preset="fake",
                            seed=5, max_new_tokens=24, rewards={"sentiment": 1.0})
    events = list(engine.stream(req))
    assert events[-1].stop_reason != "error", events[-1].error
    steps = [e for e in events if isinstance(e, TokenStep)]
    per_step = [s.cost.reward_tokens for s in steps if s.token_id != engine.language_model(
        engine.preset("fake").policy).eos_token_id]
    assert per_step and max(per_step) <= models * k * (1 + length)  # never the prefix again
    assert models * k * (1 + length) in per_step  # a step with no early EOS feeds exactly that


def test_rollouts_through_the_text_bridge_are_announced_and_counted(engine, tiny_models):
    engine.presets["fake-bridge-cd"] = replace(engine.preset("fake"), name="fake-bridge-cd", reward_models={
        "sentiment": RewardModelRef(tiny_models["rm"], output="sigmoid", include_prompt=False)})
    events = list(engine.stream(GenerationRequest(
        prompt="Write a review.", decoder="cd", config={"k": 2, "rollout_len": 3}, preset="fake-bridge-cd",
        seed=2, max_new_tokens=4, rewards={"sentiment": 1.0})))
    assert isinstance(events[0], Note) and "text bridge for sentiment" in events[0].text
    assert events[-1].stop_reason != "error" and events[-1].cost.reward_tokens > 0
