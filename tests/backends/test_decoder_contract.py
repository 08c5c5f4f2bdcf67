"""The contract every registered decoder keeps, checked on tiny random models."""

from __future__ import annotations

import threading

import pytest
import torch

from backends.decoders import DECODERS, GenerationRequest
from backends.events import Candidate, Finished, Note, Rollout, TokenStep, from_dict, to_dict

MAX_NEW = 10


def _request(name: str, **kw) -> GenerationRequest:
    cls = DECODERS.get(name)
    rewards = {"sentiment": 1.0} if cls.needs_reward else {}
    base = dict(prompt="Write a review of the film.", decoder=name, preset="fake", seed=7,
                max_new_tokens=MAX_NEW, rewards=rewards, config=dict(cls.example_config))
    return GenerationRequest(**{**base, **kw})


@pytest.mark.parametrize("name", DECODERS.names())
def test_events_are_typed_and_finished_comes_last(engine, name):
    events = list(engine.stream(_request(name)))
    assert isinstance(events[-1], Finished), events[-1]
    assert events[-1].stop_reason in ("eos", "max_new_tokens"), events[-1].error
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert all(isinstance(e, TokenStep | Rollout | Note | Finished) for e in events)
    steps = [e for e in events if isinstance(e, TokenStep)]
    assert 1 <= len(steps) <= MAX_NEW
    assert [s.index for s in steps] == list(range(len(steps)))
    assert events[-1].new_tokens == len(steps)
    assert "".join(s.text for s in steps) == events[-1].text
    for s in steps:
        assert all(isinstance(c, Candidate) for c in s.candidates)
        assert s.logprob_base <= 0 and s.kl >= 0 and s.entropy >= 0
    assert events[-1].cost.lm_tokens > 0
    assert all(from_dict(to_dict(e)) == e for e in events)


@pytest.mark.parametrize("name", DECODERS.names())
def test_same_seed_same_text(engine, name):
    a = engine.generate(_request(name))
    b = engine.generate(_request(name))
    assert a.stop_reason != "error", a.error
    assert a.text == b.text and a.seed == b.seed == 7


@pytest.mark.parametrize("name", DECODERS.names())
def test_inputs_are_not_mutated(engine, name, monkeypatch):
    """The prompt ids, the config, the shared weights and every logits tensor a state hands out
    (read-only: "clone before editing") are unchanged after the run."""
    from backends.lm import LMState

    decoder, ctx = engine.prepare(_request(name))
    prompt_ids = list(ctx.prompt_ids)
    config = decoder.config.to_dict()
    weights = {k: v.clone() for k, v in ctx.lm.model.state_dict().items()}
    handed: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = LMState.logits

    def watched(self):
        out = original(self)
        handed.append((out, out.clone()))
        return out

    monkeypatch.setattr(LMState, "logits", watched)
    events = list(decoder.stream(ctx))
    assert events[-1].stop_reason != "error"
    assert handed, "the decoder read no logits"
    for out, copy in handed:
        torch.testing.assert_close(out, copy, rtol=0, atol=0)
    assert ctx.prompt_ids == prompt_ids and decoder.config.to_dict() == config
    for key, value in ctx.lm.model.state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=0)


@pytest.mark.parametrize("name,config", [("cd", {"lam": 0.0, "k": 4, "rollout_len": 3}),
                                         ("tqstar", {"lam": 0.0, "k": 4, "rollout_len": 3}),
                                         ("deal", {"lam": 0.0, "k": 4, "lookahead": 3}),
                                         ("args", {"w": 0.0, "k": 4})])
def test_guided_decoders_at_weight_zero_are_greedy_from_the_policy(engine, name, config):
    greedy = engine.generate(_request("sampling", config={"temperature": 0.0}))
    guided = engine.generate(_request(name, config=config))
    assert guided.stop_reason != "error", guided.error
    assert guided.text == greedy.text and guided.new_tokens == greedy.new_tokens


@pytest.mark.parametrize("name", [n for n in DECODERS.names() if DECODERS.get(n).needs_reward])
def test_decoder_that_needs_a_reward_fails_clearly_without_one(engine, name):
    done = engine.generate(_request(name, rewards={}))
    assert done.stop_reason == "error"
    assert "needs at least one reward" in done.error and name in done.error


@pytest.mark.parametrize("name", DECODERS.names())
def test_cancellation_stops_the_stream(engine, name):
    cancel = threading.Event()
    cancel.set()
    done = engine.generate(_request(name), cancel=cancel)
    assert done.stop_reason == "cancelled"


def test_best_of_n_with_one_sample_equals_sampling(engine):
    for seed in (0, 1, 2):
        sampled = engine.generate(_request("sampling", seed=seed))
        best = engine.generate(_request("best_of_n", seed=seed, config={"n": 1}))
        assert best.text == sampled.text


def test_best_of_n_keeps_the_highest_reward(engine):
    events = list(engine.stream(_request("best_of_n", config={"n": 5})))
    rollouts = [e for e in events if isinstance(e, Rollout)]
    assert len(rollouts) == 5 and sum(r.kept for r in rollouts) == 1
    kept = next(r for r in rollouts if r.kept)
    assert kept.reward == max(r.reward for r in rollouts)
    assert events[-1].text == kept.text
    assert events[-1].reward == pytest.approx(kept.reward, abs=1e-5)


def test_sampling_traces_the_reward_of_each_prefix(engine):
    events = list(engine.stream(_request("sampling", rewards={"sentiment": 2.0, "length": 1.0})))
    steps = [e for e in events if isinstance(e, TokenStep)]
    assert all(set(s.reward_parts) == {"sentiment", "length"} for s in steps)
    for s in steps:
        assert s.reward == pytest.approx(2 * s.reward_parts["sentiment"] + s.reward_parts["length"], abs=1e-5)
    assert events[-1].cost.reward_tokens > 0
