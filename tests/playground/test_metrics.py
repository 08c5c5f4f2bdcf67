"""Divergence, running KL, reward vs KL and the totals, on hand-made views."""

from __future__ import annotations

import pytest

from playground.metrics import (
    cost_per_token,
    cumulative_kl,
    divergence_step,
    feature_summary,
    first_difference,
    reward_vs_kl,
    tokens_per_second,
    totals_rows,
)
from tests.playground.fakes import features, step, view


@pytest.mark.parametrize(("a", "b", "complete", "expected"), [
    ([1, 2, 3], [1, 2, 3], True, None),
    ([1, 2, 3], [1, 5, 3], True, 1),
    ([4], [5], True, 0),
    ([1, 2], [1, 2, 3], True, 2),  # one ended (EOS) where the other went on
    ([1, 2], [1, 2, 3], False, None),  # still streaming: it may yet say 3
    ([], [], True, None),
])
def test_first_difference(a, b, complete, expected):
    assert first_difference(a, b, complete) == expected


def test_divergence_step_is_the_first_step_where_any_panel_differs():
    assert divergence_step([view([1, 2, 3, 4]), view([1, 2, 3, 9]), view([1, 7, 3, 4])]) == 1
    assert divergence_step([view([1, 2]), view([1, 2])]) is None
    assert divergence_step([view([1, 2])]) is None
    assert divergence_step([view([1, 2], done=False), view([1, 2, 3])]) is None
    assert divergence_step([view([1, 2]), view([1, 2, 3])]) == 2


def test_cumulative_kl_and_reward_vs_kl():
    v = view([1, 2, 3])  # kl 0.1 per step, reward 0.5 where given (events_for gives None)
    assert cumulative_kl(v) == pytest.approx([0.1, 0.2, 0.3])
    assert reward_vs_kl(v) == ([], [])
    from tests.playground.fakes import events_for

    v2 = view([])
    for e in events_for([1, 2, 3], rewards=[0.2, float("nan"), 0.6]):
        v2.apply(e)
    xs, ys = reward_vs_kl(v2)
    assert xs == pytest.approx([0.1, 0.3]) and ys == [0.2, 0.6]


def test_throughput_and_cost_per_token():
    done, running = view([1, 2, 3, 4]), view([1, 2], done=False)
    assert tokens_per_second(done) == pytest.approx(4 / 0.04)
    assert tokens_per_second(running) == pytest.approx(2 / 0.02)  # from the steps' 10 ms each
    assert cost_per_token(done) == (3.0, 2.0)
    assert cost_per_token(running) == (3.0, 2.0)
    assert cost_per_token(view([], done=False)) == (None, None)


def test_totals_rows_of_a_finished_and_a_running_panel():
    rows = dict(totals_rows(view([1, 2, 3]), diverges_at=2))
    assert rows["final reward"] == "0.700" and rows["· sentiment"] == "0.700"
    assert rows["tokens"] == "3" and rows["KL to base (sum)"] == "0.300"
    assert rows["LM tokens / token"] == "3.00" and rows["reward-model tokens / token"] == "2.00"
    assert rows["diverges at step"] == "2" and rows["stop"] == "max_new_tokens"
    running = dict(totals_rows(view([1], done=False)))
    assert "reward so far" in running and "stop" not in running


def test_feature_summary_counts_tokens_off_the_base_greedy_and_joins_the_totals():
    v = view([], done=False, features=True)
    for e in (step(0, 5), features(0, 0.0, base_token=5), step(1, 6), features(1, 0.3, base_token=2),
              step(2, 7), features(2, 0.6, base_token=3)):
        v.apply(e)
    assert feature_summary(v) == pytest.approx((0.3, 2, 3))
    rows = dict(totals_rows(v))
    assert rows["feature distance to base (mean)"] == "0.3000" and rows["tokens off the base's greedy"] == "2 of 3"
    assert feature_summary(view([1, 2])) is None
    assert not any("feature" in k for k, _ in totals_rows(view([1, 2])))
