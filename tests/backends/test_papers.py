"""The papers' scales and defaults: the official ARGS greedy loop token for token on the zoo (raw
reward-model logit), TQ*'s indirect defaults and its refusal of r_BL = r."""

from __future__ import annotations

import pytest
import torch

from backends.decoders import DECODERS, GenerationRequest
from backends.engine import Engine
from backends.events import Rollout, TokenStep


@pytest.fixture(scope="module")
def zoo():
    return Engine(device="cpu")


def _official_args_greedy(policy, rm, prompt_ids: list[int], k: int, w: float, steps: int) -> list[int]:
    """deeplearning-wisc/args `argsearch.py`, greedy, as ALGORITHMS.md describes it: over the LM's
    top-k logits, score = raw LM logit + w * raw reward-model logit of prefix + candidate, argmax;
    every forward uncached (the official loop never stops at EOS; we compare up to ours)."""
    ids = list(prompt_ids)
    out = []
    with torch.no_grad():
        for _ in range(steps):
            logits = policy.full_logits(torch.tensor([ids]))[0, -1]  # (V,)
            top = logits.topk(k)
            rows = torch.tensor([[*ids, int(v)] for v in top.indices])  # (k, T + 1)
            hidden = rm.model.base_model(input_ids=rows).last_hidden_state[:, -1]  # (k, H)
            raw = rm.model.score(hidden)[:, 0].float()  # (k,)  the head's logit, no squash
            token = int(top.indices[(top.values + w * raw).argmax()])
            ids.append(token)
            out.append(token)
    return out


@pytest.mark.parametrize("w", [1.0, 1.5])
def test_args_reproduces_the_official_greedy_loop_on_the_raw_scale(zoo, w):
    k, steps = 10, 24
    req = GenerationRequest(prompt="Write a review of the film Moon Harbor.", decoder="args",
                            config={"k": k, "w": w, "mode": "greedy"}, rewards={"sentiment": 1.0},
                            reward_config={"sentiment": {"output": "raw"}}, max_new_tokens=steps)
    events = list(zoo.stream(req))
    assert events[-1].stop_reason != "error", events[-1].error
    ours = [e.token_id for e in events if isinstance(e, TokenStep)]
    _, ctx = zoo.prepare(req)
    preset = zoo.preset("embedded")
    rm = zoo.classifier(preset.reward_models["sentiment"].model, "0", "raw")
    official = _official_args_greedy(ctx.lm, rm, ctx.prompt_ids, k, w, len(ours))
    assert ours == official
    squashed = zoo.generate(GenerationRequest(**{**req.__dict__, "reward_config": {}}))
    assert squashed.reward != events[-1].reward  # the scale is a real choice: sigmoid is not raw


def test_tqstar_indirect_defaults_are_the_papers():
    fields = {f.name: f.default for f in DECODERS.get("tqstar").Config.__dataclass_fields__.values()}
    assert fields["beta"] == 2.0 and fields["rollout_len"] == 0  # 0: 20 direct, 5 indirect
    indirect = DECODERS.get("tqstar")(DECODERS.get("tqstar").Config(transfer="indirect", baseline_reward="x"))
    direct = DECODERS.get("tqstar")(DECODERS.get("tqstar").Config())
    assert indirect.rollout_len() == 5 and direct.rollout_len() == 20


def test_tqstar_indirect_rollouts_are_five_tokens(engine):
    events = list(engine.stream(GenerationRequest(
        prompt="Write a review.", decoder="tqstar", preset="fake", seed=3, max_new_tokens=3,
        config={"k": 2, "transfer": "indirect", "baseline_reward": "politeness"}, rewards={"sentiment": 1.0})))
    assert events[-1].stop_reason != "error", events[-1].error
    lengths = [e.length for e in events if isinstance(e, Rollout)]
    assert max(lengths) == 1 + 5


def test_tqstar_refuses_the_target_reward_as_its_baseline_reward(engine):
    done = engine.generate(GenerationRequest(
        prompt="Write a review.", decoder="tqstar", preset="fake", max_new_tokens=3,
        config={"transfer": "indirect", "baseline_reward": "sentiment"}, rewards={"sentiment": 1.0}))
    assert done.stop_reason == "error"
    assert "tqstar.baseline_reward='sentiment'" in done.error and "target reward itself" in done.error
