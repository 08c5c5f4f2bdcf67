"""Ranking statistics against hand-computable cases: the Bradley-Terry MLE of two configurations
is log(wins / losses), ties count half, symmetric data gives equal scores, the reference sits at
1000, the rank rule on crafted intervals, seeded bootstrap intervals around the estimate, the
win and battle matrices, side bias with its Wilson interval, and annotator agreement."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from backends.ranking import ANCHOR, SCALE, fit, leaderboard, ranks, side_bias, tally, wilson
from backends.ranking import agreement as agreement_of


@dataclass(frozen=True)
class V:
    config_a: str
    config_b: str
    outcome: str
    left_side: str = "a"
    annotator: str = "x"


def votes(a: str, b: str, wins: int = 0, losses: int = 0, ties: int = 0, both_bad: int = 0) -> list[V]:
    return [V(a, b, "a")] * wins + [V(a, b, "b")] * losses + [V(a, b, "tie")] * ties + [V(a, b, "both_bad")] * both_bad


def theta_gap(rows, **kw) -> float:
    theta = fit(tally(rows, **kw).wins, prior=0.0)
    return float(theta[0] - theta[1])


def test_two_configs_mle_is_log_of_the_win_ratio():
    assert theta_gap(votes("A", "B", wins=30, losses=10)) == pytest.approx(math.log(3), abs=1e-9)
    assert theta_gap(votes("A", "B", wins=7, losses=21)) == pytest.approx(math.log(1 / 3), abs=1e-9)
    board = leaderboard(votes("A", "B", wins=30, losses=10), prior=0.0)
    score = {r.config: r.score for r in board.ratings}
    assert score == pytest.approx({"A": ANCHOR, "B": ANCHOR - SCALE * math.log(3)})
    default = {r.config: r.score for r in leaderboard(votes("A", "B", wins=30, losses=10)).ratings}
    assert default["A"] - default["B"] == pytest.approx(SCALE * math.log(3), rel=0.01)  # the weak prior barely moves it


def test_ties_count_half_a_win_each_way_and_both_bad_is_a_tie_unless_excluded():
    assert theta_gap(votes("A", "B", wins=3, losses=1, ties=2)) == pytest.approx(math.log(4 / 2))
    assert theta_gap(votes("A", "B", wins=3, losses=1, both_bad=2)) == pytest.approx(math.log(4 / 2))
    assert theta_gap(votes("A", "B", wins=3, losses=1, both_bad=2), both_bad="exclude") == pytest.approx(math.log(3))
    counted = tally(votes("A", "B", wins=3, losses=1, ties=1, both_bad=1), both_bad="exclude")
    assert counted.configs == ("A", "B") and counted.wins.tolist() == [[0.0, 3.5], [1.5, 0.0]]


def test_fit_recovers_known_strengths_from_expected_counts():
    truth = np.array([0.8, 0.0, -0.5, -0.3])
    p = 1 / (1 + np.exp(-(truth[:, None] - truth[None, :])))
    wins = 50 * p * (1 - np.eye(4))  # every pair met 50 times, wins exactly as expected
    theta = fit(wins, prior=0.0)
    assert theta - theta[1] == pytest.approx(truth - truth[1], abs=1e-8)
    assert theta.mean() == pytest.approx(0.0, abs=1e-12)


def test_symmetric_data_gives_equal_scores_and_shared_first_rank():
    rows = [v for a, b in (("A", "B"), ("B", "C"), ("A", "C")) for v in votes(a, b, wins=5, losses=5, ties=2)]
    board = leaderboard(rows, seed=1)
    assert [r.score for r in board.ratings] == pytest.approx([ANCHOR] * 3)
    assert [r.rank for r in board.ratings] == [1, 1, 1]
    assert all(r.battles == 24 and r.wins == 12 for r in board.ratings)


def test_the_reference_scores_1000():
    rows = votes("beta", "alpha", wins=12, losses=4) + votes("gamma", "alpha", wins=2, losses=6)
    assert leaderboard(rows).reference == "alpha"
    assert {r.config: r.score for r in leaderboard(rows).ratings}["alpha"] == ANCHOR
    board = leaderboard(rows, reference="gamma")
    assert {r.config: r.score for r in board.ratings}["gamma"] == ANCHOR and board.reference == "gamma"
    with pytest.raises(ValueError, match="reference='delta'"):
        leaderboard(rows, reference="delta")


def test_rank_is_one_plus_the_configs_surely_better():
    lower, upper = [900, 950, 1100, 1190], [1000, 1050, 1200, 1300]
    assert ranks(lower, upper) == [3, 3, 1, 1]
    assert ranks([1000], [1000]) == [1]


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded():
    rows = votes("A", "B", wins=30, losses=20, ties=5) + votes("B", "C", wins=25, losses=15) + \
        votes("A", "C", wins=35, losses=10, both_bad=4)
    board = leaderboard(rows, resamples=200, seed=3)
    for r in board.ratings:
        assert r.lower < r.score < r.upper
    assert [r.config for r in board.ratings] == ["A", "B", "C"]
    assert board.ratings == leaderboard(rows, resamples=200, seed=3).ratings
    assert board.ratings != leaderboard(rows, resamples=200, seed=4).ratings
    with pytest.raises(ValueError, match="resamples=50"):
        leaderboard(rows, resamples=50)


def test_clear_differences_get_distinct_ranks():
    rows = votes("best", "mid", wins=90, losses=10) + votes("mid", "worst", wins=90, losses=10) + \
        votes("best", "worst", wins=95, losses=5)
    board = leaderboard(rows)
    assert [(r.config, r.rank) for r in board.ratings] == [("best", 1), ("mid", 2), ("worst", 3)]


def test_win_fraction_and_battle_matrices():
    board = leaderboard(votes("A", "B", wins=3, losses=1) + votes("A", "C", ties=2) + votes("C", "A", wins=1))
    assert board.configs == ("A", "B", "C")
    assert board.battles.tolist() == [[0, 4, 3], [4, 0, 0], [3, 0, 0]]
    frac = board.win_fraction
    assert frac[0, 1] == 0.75 and frac[1, 0] == 0.25 and frac[0, 2] == pytest.approx(1 / 3)
    assert np.isnan(frac[1, 2]) and np.isnan(frac[0, 0])


def test_a_config_that_always_won_stays_finite():
    board = leaderboard(votes("A", "B", wins=3))
    assert all(math.isfinite(r.score) and math.isfinite(r.lower) for r in board.ratings)
    assert board.ratings[0].config == "A"


def test_side_bias_counts_left_wins_among_decisive_votes():
    rows = [V("A", "B", "a", left_side="a")] * 4 + [V("A", "B", "a", left_side="b")] * 2 + \
        [V("A", "B", "tie", left_side="a"), V("A", "B", "both_bad", left_side="b")]
    bias = side_bias(rows)
    assert (bias.left_wins, bias.decisive, bias.fraction) == (4, 6, pytest.approx(2 / 3))
    assert bias.lower < 2 / 3 < bias.upper
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)  # the textbook value
    assert side_bias([V("A", "B", "tie")]) is None
    assert leaderboard(rows).side_bias == bias


def test_agreement_with_the_majority_of_the_other_annotators():
    rows = [V("A", "B", "a", annotator=w) for w in ("x", "y", "z")] + [V("B", "A", "a", annotator="w"),
                                                                      V("A", "C", "a", annotator="x"),
                                                                      V("A", "B", "tie", annotator="y")]
    found = {a.annotator: a for a in agreement_of(rows)}
    assert (found["x"].votes, found["x"].decisive, found["x"].compared, found["x"].agreed) == (2, 2, 1, 1)
    assert found["w"].fraction == 0.0 and found["y"].fraction == 1.0 and found["y"].votes == 2
    assert [a.annotator for a in leaderboard(rows).agreement] == ["w", "x", "y", "z"]


def test_bad_input_and_no_votes():
    with pytest.raises(ValueError, match="outcome='left'"):
        leaderboard([V("A", "B", "left")])
    with pytest.raises(ValueError, match="both_bad"):
        tally([], both_bad="drop")
    empty = leaderboard([])
    assert empty.ratings == () and empty.configs == () and empty.side_bias is None
