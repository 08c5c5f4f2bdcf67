"""One meter: every decoder's reported token counts equal an independent count taken by forward
hooks on the models' embedding layers; best-of-N pays for all N samples."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import pytest

from backends.decoders import DECODERS, GenerationRequest
from backends.events import Finished, TokenStep
from backends.lm import LanguageModel
from backends.rewards.arm import ArmStack

MAX_NEW = 8


def _req(name: str, **kw) -> GenerationRequest:
    cls = DECODERS.get(name)
    base = dict(prompt="Write a review of the film.", decoder=name, preset="fake", seed=3, max_new_tokens=MAX_NEW,
                rewards={"sentiment": 1.0}, config=dict(cls.example_config))
    return GenerationRequest(**{**base, **kw})


def _modules(engine) -> dict[str, object]:
    """Every loaded model's torch module, by the meter line its tokens belong on."""
    out = {}
    for (kind, model_id), value in engine._models.items():
        if isinstance(value, LanguageModel):
            out[f"lm:{model_id}"] = value.model
        elif isinstance(value, ArmStack):
            out[f"reward:{model_id}"] = value.model
        elif kind == "clf":
            out[f"reward:{model_id}"] = value[0]
    return out


@contextmanager
def counting(engine):
    """Tokens each loaded model embedded while the block ran: {"lm:ID" | "reward:ID": n}."""
    counts: dict[str, int] = {}
    handles = []
    for key, module in _modules(engine).items():
        counts[key] = 0

        def hook(mod, args, out, key=key):
            counts[key] += args[0].numel()

        handles.append(module.get_input_embeddings().register_forward_hook(hook))
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()


def _line(counts: dict[str, int], line: str) -> int:
    return sum(n for key, n in counts.items() if key.startswith(line + ":"))


@pytest.mark.parametrize("name", DECODERS.names())
def test_reported_counts_equal_an_independent_count(engine, name):
    engine.generate(_req(name))  # load every model the decoder needs
    with counting(engine) as counts:
        events = list(engine.stream(_req(name, seed=4)))
    done = events[-1]
    assert isinstance(done, Finished) and done.stop_reason != "error", done.error
    assert done.cost.lm_tokens + done.cost.base_tokens == _line(counts, "lm") and done.cost.lm_tokens > 0
    assert done.cost.reward_tokens == _line(counts, "reward") > 0
    if name != "prs":  # the fake preset's base is its policy: KL costs nothing extra ...
        assert done.cost.base_tokens == 0
    else:  # ... unless the policy reads another prompt (PRS's x + z): the base reads x alone
        assert done.cost.base_tokens > 0
    steps = [e for e in events if isinstance(e, TokenStep)]
    assert sum(s.cost.reward_tokens for s in steps) <= done.cost.reward_tokens


def test_best_of_n_pays_for_every_sample(engine):
    costs = [engine.generate(_req("best_of_n", config={"n": n, "temperature": 1.0})).cost.reward_tokens
             for n in (1, 2, 4, 8)]
    assert costs == sorted(costs) and len(set(costs)) == 4, costs
    assert costs[3] > 4 * costs[0]  # eight samples of about one sample's length each


def test_a_separate_base_has_its_own_meter_line(engine, tiny_models):
    engine.presets["fake-base"] = replace(engine.preset("fake"), name="fake-base", base=tiny_models["aligned"])
    engine.generate(_req("args", preset="fake-base"))
    with counting(engine) as counts:
        done = engine.generate(_req("args", preset="fake-base", config={"k": 3}))
    assert done.stop_reason != "error", done.error
    prompt = len(engine.prepare(_req("args", preset="fake-base"))[1].prompt_ids)
    assert done.cost.base_tokens == prompt + done.new_tokens - 1  # the last token (EOS or not) is never fed
    assert done.cost.lm_tokens + done.cost.base_tokens == _line(counts, "lm")
