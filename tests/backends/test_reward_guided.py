"""ARGS and RAD: reduction to their baselines at weight 0, and the reward-token budget."""

from __future__ import annotations

import pytest

from backends.decoders import GenerationRequest
from backends.events import TokenStep


def _req(decoder: str, config: dict, seed: int = 3, **kw) -> GenerationRequest:
    base = dict(prompt="Write a review of the film.", decoder=decoder, config=config, preset="fake", seed=seed,
                max_new_tokens=12, rewards={"sentiment": 1.0})
    return GenerationRequest(**{**base, **kw})


def _steps(engine, req) -> list[TokenStep]:
    return [e for e in engine.stream(req) if isinstance(e, TokenStep)]


def test_args_with_zero_weight_is_greedy(engine):
    args = engine.generate(_req("args", {"w": 0.0}))
    greedy = engine.generate(_req("sampling", {"temperature": 0.0}, rewards={}))
    assert args.stop_reason != "error", args.error
    assert args.text == greedy.text


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rad_with_zero_beta_is_top_k_sampling(engine, seed):
    rad = engine.generate(_req("rad", {"beta": 0.0, "k": 20}, seed=seed))
    topk = engine.generate(_req("sampling", {"temperature": 1.0, "top_k": 20}, seed=seed, rewards={}))
    assert rad.text == topk.text


def test_guidance_changes_the_choice(engine):
    """With a large weight the reward decides: ARGS picks the candidate of highest reward."""
    for step in _steps(engine, _req("args", {"w": 1000.0, "k": 5})):
        best = max(step.candidates, key=lambda c: c.reward)
        assert step.token_id == best.token_id


@pytest.mark.parametrize("decoder,k", [("args", 10), ("rad", 20), ("args", 3)])
def test_reward_tokens_per_step_are_exactly_k(engine, decoder, k):
    steps = _steps(engine, _req(decoder, {"k": k}))
    assert len(steps) > 2
    # the prompt is prefilled once before the first step; then every step feeds exactly k new tokens
    assert all(s.cost.reward_tokens == k for s in steps)
    last = len(steps) - 1  # the last token (EOS or the length limit) is never fed
    assert all(s.cost.lm_tokens == (0 if s.token_id == 0 or i == last else 1) for i, s in enumerate(steps))
    assert all(len(s.candidates) == min(k, 10) for s in steps)


def test_k_larger_than_the_vocabulary_is_refused(engine):
    done = engine.generate(_req("args", {"k": 999}))
    assert done.stop_reason == "error" and "args.k=999" in done.error and "vocabulary" in done.error


def test_rad_inverse_steers_away(engine):
    up = engine.generate(_req("rad", {"beta": 200.0}))
    down = engine.generate(_req("rad", {"beta": 200.0, "inverse": True}))
    assert up.reward > down.reward


def test_arm_feeds_one_reward_token_per_generated_token(engine):
    steps = _steps(engine, _req("arm", {"k": 20}))
    assert len(steps) > 2 and all(s.cost.reward_tokens == 1 for s in steps[:-1] if s.token_id != 0)
    assert steps[-1].cost.reward_tokens == 0  # the last token is never fed: no step reads it
    assert all(s.reward is not None and 0 <= s.reward <= 1 for s in steps)


def test_arm_with_zero_beta_is_top_k_sampling(engine):
    arm = engine.generate(_req("arm", {"beta": 0.0, "k": 20}))
    topk = engine.generate(_req("sampling", {"temperature": 1.0, "top_k": 20}, rewards={}))
    assert arm.text == topk.text


def test_arm_refuses_a_head_with_another_tokenizer_or_none(engine):
    done = engine.generate(_req("arm", {}, rewards={"politeness": 1.0}))
    assert done.stop_reason == "error" and "tokenizer differs" in done.error
    done = engine.generate(_req("arm", {}, rewards={"keywords": 1.0}, reward_config={"keywords": {"words": "a"}}))
    assert done.stop_reason == "error" and "no ARM head" in done.error


def test_text_bridge_is_announced_and_counted(engine, tiny_models):
    """A classifier that does not read the prompt cannot use the cache: it is bridged through text."""
    from dataclasses import replace

    from backends.rewards import RewardModelRef

    preset = replace(engine.preset("fake"), name="fake-bridge", reward_models={
        "sentiment": RewardModelRef(tiny_models["rm"], output="sigmoid", include_prompt=False)})
    engine.presets["fake-bridge"] = preset
    events = list(engine.stream(_req("args", {"k": 4}, preset="fake-bridge")))
    assert events[0].type == "note" and "text bridge for sentiment" in events[0].text
    steps = [e for e in events if isinstance(e, TokenStep)]
    assert all(s.cost.reward_tokens > 4 for s in steps[1:])  # whole prefixes re-encoded, not 1 token each
    assert events[-1].stop_reason != "error"
