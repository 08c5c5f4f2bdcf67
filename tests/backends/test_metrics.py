"""The evaluation metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from backends.evaluation import metrics


def test_rep_n_and_diversity_on_known_strings():
    # "a b c d": 3 bigrams (3 unique), 2 trigrams, 1 four-gram -> 3/4 * 2/3 * 1/2
    assert metrics.rep_n("a b c d", 2) == pytest.approx(100 * (1 - 3 / 4))
    assert metrics.diversity("a b c d") == pytest.approx(0.25)
    # "a a a a a": 4 bigrams (1 unique), 3 trigrams (1), 2 four-grams (1) -> 1/5 * 1/4 * 1/3
    assert metrics.diversity("a a a a a") == pytest.approx(1 / 60)
    assert metrics.diversity("") == 0.0  # no n-grams: rep_n = 100
    assert metrics.diversity("x  y\nz") == metrics.diversity("x y z")  # whitespace tokens


def test_more_distinct_text_is_more_diverse():
    assert metrics.diversity("the cat sat on the mat by the door") > metrics.diversity("the cat the cat the cat the")


def test_sequence_kl_sums_the_token_steps():
    trace = [
        {"type": "token", "kl": 0.5, "logprob_decoder": -1.0, "logprob_base": -2.0},
        {"type": "rollout", "reward": 1.0},
        {"type": "token", "kl": 1.0, "logprob_decoder": 0.0, "logprob_base": -3.0},
        {"type": "finished"},
    ]
    assert metrics.sequence_kl(trace) == {"kl": 1.5, "log_ratio": pytest.approx(1.0 + 3.0)}
    trace[0]["logprob_base"] = None  # -inf stored as None
    assert metrics.sequence_kl(trace)["log_ratio"] is None
    assert metrics.sequence_kl([{"type": "finished"}]) == {"kl": 0, "log_ratio": 0}


def test_cosine_rows():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    assert metrics.cosine_rows(a, b) == pytest.approx([0.0, 1.0])


def test_bootstrap_of_constant_samples_has_zero_width():
    interval = metrics.bootstrap_mean([0.7] * 9)
    assert (interval.mean, interval.lo, interval.hi, interval.n) == pytest.approx((0.7, 0.7, 0.7, 9))


def test_bootstrap_of_a_symmetric_sample_is_symmetric():
    two = metrics.bootstrap_mean([-1.0, 1.0])  # resampled means: -1 (1/4), 0 (1/2), 1 (1/4)
    assert (two.mean, two.lo, two.hi) == (0.0, -1.0, 1.0)
    spread = metrics.bootstrap_mean([0.0, 1.0, 2.0, 3.0, 4.0], samples=20000)
    assert spread.mean == 2.0 and spread.lo + spread.hi == pytest.approx(4.0, abs=0.15)


def test_bootstrap_width_matches_the_normal_approximation():
    values = [0.0, 1.0] * 100  # sd 0.5, n 200: 95% half width 1.96 * 0.5 / sqrt(200)
    interval = metrics.bootstrap_mean(values)
    half = 1.96 * 0.5 / math.sqrt(200)
    assert interval.lo == pytest.approx(0.5 - half, abs=0.01) and interval.hi == pytest.approx(0.5 + half, abs=0.01)


def test_bootstrap_is_deterministic_and_skips_missing_values():
    assert metrics.bootstrap_mean([1.0, None, 3.0, float("nan")]) == metrics.bootstrap_mean([1.0, 3.0])
    assert metrics.bootstrap_mean([]) == metrics.Interval(None, None, None, 0)


def test_bootstrap_ratio_is_a_ratio_of_sums():
    tokens, seconds = [10.0, 30.0], [1.0, 1.0]
    interval = metrics.bootstrap_ratio(tokens, seconds)
    assert interval.mean == 20.0 and (interval.lo, interval.hi) == (10.0, 30.0)
    assert metrics.bootstrap_ratio([1.0], [0.0]).mean is None


def test_outcome_and_paired_win_rate_with_ties():
    assert [metrics.outcome(2, 1), metrics.outcome(1, 1), metrics.outcome(0, 1)] == [1.0, 0.5, 0.0]
    pairs = {0: [(1.0, 0.0)], 1: [(0.5, 0.5)], 2: [(0.0, 1.0)], 3: [(2.0, 1.0)]}
    result = metrics.win_rate(pairs)
    assert (result.wins, result.ties, result.losses) == (2, 1, 1)
    assert result.rate.mean == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert 0.0 <= result.rate.lo <= result.rate.mean <= result.rate.hi <= 1.0
    assert result.to_dict()["prompts"] == 4


def test_win_rate_averages_samples_within_a_prompt():
    result = metrics.win_rate({0: [(1.0, 0.0), (0.0, 1.0)], 1: [(1.0, 0.0), (1.0, 0.0)]})
    assert result.rate.mean == pytest.approx((0.5 + 1.0) / 2)
    all_ties = metrics.win_rate({i: [(0.3, 0.3)] for i in range(5)})
    assert (all_ties.rate.mean, all_ties.rate.lo, all_ties.rate.hi) == (0.5, 0.5, 0.5)
