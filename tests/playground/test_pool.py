"""The arena's pool: loading and checking pool files, which entries a preset can run, and the seeded
picking of pairs (weighted toward few votes), sides, seeds and prompts."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter

import pytest

from backends.decoders import GenerationRequest
from playground.pool import (
    DEFAULT_POOL,
    Contender,
    Pool,
    PoolError,
    load_pool,
    pair_weights,
    pick_left,
    pick_pair,
    pick_prompt,
    usable,
    weighted_order,
)


def test_the_default_pool_loads_and_every_entry_runs_on_the_fake_preset(fake_preset):
    pool = load_pool(None)
    assert pool.source == str(DEFAULT_POOL) and len(pool.contenders) >= 6
    preset = dataclasses.replace(fake_preset, default_rewards={"sentiment": 1.0})
    runnable = usable(pool, preset)
    assert [c.decoder for c in runnable] == [c.decoder for c in pool.contenders]
    assert all(c.rewards == {"sentiment": 1.0} for c in runnable)  # the preset's default rewards
    no_baseline = dataclasses.replace(preset, baseline=None)
    assert "tqstar" not in [c.decoder for c in usable(pool, no_baseline)]  # needs: ["baseline"]
    no_rewards = dataclasses.replace(preset, default_rewards={})
    assert [c.decoder for c in usable(pool, no_rewards)] == ["sampling"]  # guided decoders need a reward


def test_a_pool_file_is_checked_entry_by_entry(tmp_path):
    def write(data) -> str:
        path = tmp_path / "pool.json"
        path.write_text(json.dumps(data))
        return str(path)

    ok = load_pool(write({"max_new_tokens": 8, "configs": [{"decoder": "args", "config": {"w": 3},
                                                            "rewards": {"sentiment": 2}}]}))
    assert ok.max_new_tokens == 8 and ok.contenders[0] == Contender("args", {"w": 3}, {"sentiment": 2})
    for bad, words in [({"configs": [{"decoder": "nope"}]}, "unknown decoder 'nope'"),
                       ({"configs": [{"decoder": "args", "config": {"k": 0}}]}, "args.k=0"),
                       ({"configs": [{"decoder": "args", "extra": 1}]}, "unknown keys ['extra']"),
                       ({"configs": [{"decoder": "args", "rewards": ["x"]}]}, "rewards must map"),
                       ({"config": []}, 'expected {"configs"'),
                       ({"configs": [], "max_new_tokens": 0}, "max_new_tokens=0")]:
        with pytest.raises(PoolError) as info:
            load_pool(write(bad))
        assert words in str(info.value)
    with pytest.raises(PoolError, match="No such file"):
        load_pool(tmp_path / "missing.json")


def test_entries_whose_rewards_the_preset_lacks_are_left_out(fake_preset):
    pool = Pool((Contender("args", {"w": 3.0}, {"helpfulness": 1.0}), Contender("rad", {}, {"politeness": 1})))
    assert [c.decoder for c in usable(pool, fake_preset)] == ["rad"]
    assert usable(pool, fake_preset)[0].rewards == {"politeness": 1.0}  # weights as floats, like the UI's


def test_pairs_are_weighted_toward_few_votes():
    labels = ["a", "b", "c"]
    votes = {("a", "b"): 9, ("a", "c"): 1}
    assert dict(pair_weights(labels, votes)) == {(0, 1): 0.1, (0, 2): 0.5, (1, 2): 1.0}
    rng = random.Random(0)
    drawn = Counter(tuple(sorted(pick_pair(labels, votes, rng))) for _ in range(3000))
    assert drawn[(1, 2)] > drawn[(0, 2)] > drawn[(0, 1)] > 0
    assert 1.5 < drawn[(1, 2)] / drawn[(0, 2)] < 2.6 and 3 < drawn[(0, 2)] / drawn[(0, 1)] < 8  # about 2 and 5


def test_picking_is_seeded_and_both_orders_and_sides_come_up():
    labels = ["x", "y"]
    assert pick_pair(labels, {}, random.Random(7)) == pick_pair(labels, {}, random.Random(7))
    rng = random.Random(1)
    orders = Counter(pick_pair(labels, {}, rng) for _ in range(400))
    sides = Counter(pick_left(rng) for _ in range(400))
    assert set(orders) == {(0, 1), (1, 0)} and min(orders.values()) > 150
    assert set(sides) == {"a", "b"} and min(sides.values()) > 150
    assert [pick_left(random.Random(3)) for _ in range(5)] == [pick_left(random.Random(3)) for _ in range(5)]


def test_a_pool_with_one_configuration_cannot_battle():
    with pytest.raises(PoolError, match="at least two different configurations"):
        pick_pair(["same", "same"], {}, random.Random(0))


def test_prompts_the_annotator_judged_come_last():
    items = [{"prompt": p} for p in "abc"]
    rng = random.Random(0)
    assert {pick_prompt(items, {"a", "b"}, rng)["prompt"] for _ in range(20)} == {"c"}
    assert {pick_prompt(items, {"a", "b", "c"}, rng)["prompt"] for _ in range(50)} == {"a", "b", "c"}
    with pytest.raises(PoolError, match="empty"):
        pick_prompt([], set(), rng)


def test_every_default_configuration_runs_to_a_votable_end(fake_preset, engine):
    preset = dataclasses.replace(fake_preset, default_rewards={"sentiment": 1.0})
    for c in usable(load_pool(None), preset):
        request = GenerationRequest(prompt="Review the film", decoder=c.decoder, config=dict(c.config),
                                    rewards=dict(c.rewards), preset="fake", max_new_tokens=3)
        last = engine.generate(request)
        assert last.stop_reason in ("eos", "max_new_tokens"), (c.decoder, last.error)


def test_stored_battles_are_tried_heaviest_first_more_often():
    rng = random.Random(0)
    orders = [weighted_order([1.0, 0.1, 0.5], rng) for _ in range(2000)]
    assert all(sorted(o) == [0, 1, 2] for o in orders)
    firsts = Counter(o[0] for o in orders)
    assert firsts[0] > firsts[2] > firsts[1] > 0
    assert weighted_order([1.0, 1.0], random.Random(5)) == weighted_order([1.0, 1.0], random.Random(5))
