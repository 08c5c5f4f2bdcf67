"""Ranking decoder configurations from pairwise votes: Bradley-Terry scores, bootstrap intervals,
Chatbot Arena ranks, win matrices, side bias and annotator agreement.

Pure statistics on (config A, config B, outcome) records, numpy only: no database, no UI. A
record is anything with `config_a`, `config_b` and `outcome` in {"a", "b", "tie", "both_bad"}
(`storage.VoteRow` fits; `left_side` and `annotator` are read where side bias and agreement need
them). Conventions:

- A tie counts as half a win each way. `both_bad` counts as a tie by default (neither output is
  better than the other); `both_bad="exclude"` drops those votes instead.
- theta is the Bradley-Terry strength in natural-log odds: P(i beats j) = sigmoid(theta_i - theta_j).
  Scores are 400 * theta + 1000 with the reference configuration (default: the first
  alphabetically) at exactly 1000, so 400 points are odds of e:1 (not Elo's 10:1).
- A weak Gaussian prior on theta (`prior`, precision 0.01 = sd 10) keeps estimates finite when a
  configuration won or lost every battle; `prior=0` is the plain maximum-likelihood estimate.
- 95% intervals are percentiles over seeded bootstrap resamples of the votes. Each resample is
  centred and placed on the point estimate's scale, so the reference gets an interval too.
- rank = 1 + the number of configurations whose lower bound exceeds this one's upper bound.
- With `min_votes`, a configuration in fewer votes is provisional: its score is shown but it is
  ranked after every established one (rank = established configurations + 1 + provisional ones
  surely better), so one lucky vote cannot head the table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

SCALE, ANCHOR = 400.0, 1000.0
PRIOR = 0.01
BothBad = Literal["tie", "exclude"]
WIN = {"a": 1.0, "b": 0.0, "tie": 0.5}


class Comparison(Protocol):
    config_a: str
    config_b: str
    outcome: str  # a, b, tie or both_bad


@dataclass(frozen=True)
class Rating:
    """One configuration's row of the leaderboard."""

    config: str
    score: float
    lower: float
    upper: float
    rank: int
    battles: int
    wins: float  # ties count half
    provisional: bool = False  # fewer votes than the leaderboard's `min_votes`: ranked after the others


@dataclass(frozen=True)
class SideBias:
    """How often the left side wins among decisive votes (0.5 = no bias), with a 95% Wilson interval."""

    left_wins: int
    decisive: int
    fraction: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Agreement:
    """How often an annotator's decisive votes match the majority of the other annotators on the same pair.

    `compared` counts the decisive votes where the others had a strict majority on that pair.
    """

    annotator: str
    votes: int
    decisive: int
    compared: int
    agreed: int

    @property
    def fraction(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


@dataclass(frozen=True)
class Leaderboard:
    """Everything the leaderboard shows. Matrices are (K, K) over `configs` (alphabetical):
    `wins[i, j]` what i scored against j (ties half), `battles[i, j]` their votes,
    `win_fraction[i, j]` = wins / battles (NaN where they never met)."""

    ratings: tuple[Rating, ...]  # best first
    configs: tuple[str, ...]
    wins: np.ndarray
    battles: np.ndarray
    win_fraction: np.ndarray
    reference: str | None
    resamples: int
    side_bias: SideBias | None
    agreement: tuple[Agreement, ...]


def _points(rows: Sequence[Comparison], both_bad: BothBad) -> list[tuple[str, str, float]]:
    """(config a, config b, a's share of the win) for every vote that counts."""
    if both_bad not in ("tie", "exclude"):
        raise ValueError(f"both_bad={both_bad!r}: must be 'tie' or 'exclude'")
    out = []
    for r in rows:
        outcome = "tie" if r.outcome == "both_bad" and both_bad == "tie" else r.outcome
        if outcome in WIN and r.config_a != r.config_b:
            out.append((r.config_a, r.config_b, WIN[outcome]))
        elif outcome != "both_bad":
            raise ValueError(f"outcome={r.outcome!r} for {r.config_a} vs {r.config_b}: must be a, b, tie or both_bad")
    return out


@dataclass(frozen=True)
class Tally:
    """Votes counted: configurations (alphabetical), the (K, K) wins matrix (ties half each way),
    and the distinct (i, j, share of i) results with how many votes each had (for resampling)."""

    configs: tuple[str, ...]
    wins: np.ndarray
    cells: np.ndarray  # (C, 3): i, j, share
    counts: np.ndarray  # (C,)


def tally(rows: Sequence[Comparison], both_bad: BothBad = "tie") -> Tally:
    """Count the votes (`both_bad` as a tie or excluded)."""
    points = Counter(_points(rows, both_bad))
    configs = tuple(sorted({c for a, b, _ in points for c in (a, b)}))
    index = {c: i for i, c in enumerate(configs)}
    cells = np.array([(index[a], index[b], share) for a, b, share in points], dtype=float).reshape(-1, 3)
    counts = np.array(list(points.values()), dtype=float)
    return Tally(configs, _wins(cells, counts, len(configs)), cells, counts)


def _wins(cells: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """(K, K) wins from per-cell vote counts (C,)."""
    wins = np.zeros((k, k))
    i, j, share = cells[:, 0].astype(int), cells[:, 1].astype(int), cells[:, 2]
    np.add.at(wins, (i, j), counts * share)
    np.add.at(wins, (j, i), counts * (1.0 - share))
    return wins


def fit(wins: np.ndarray, prior: float = PRIOR, iters: int = 100, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry theta (K,) maximising sum W_ij log sigmoid(theta_i - theta_j) - prior/2 |theta|^2.

    Newton's method with step halving; the result has mean 0. `wins` (K, K) as from `tally`.
    """
    k = wins.shape[0]
    theta = np.zeros(k)
    games = wins + wins.T  # (K, K)
    scored = wins.sum(axis=1)  # (K,)

    def objective(t: np.ndarray) -> float:
        diff = t[:, None] - t[None, :]  # (K, K)
        return float(-(wins * np.logaddexp(0.0, -diff)).sum() - 0.5 * prior * t @ t)

    current = objective(theta)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))  # (K, K) P(i beats j)
        grad = scored - (games * p).sum(axis=1) - prior * theta  # (K,)
        if np.abs(grad).max() < tol:
            break
        curv = games * p * (1.0 - p)  # (K, K)
        info = np.diag(curv.sum(axis=1)) - curv + prior * np.eye(k)  # (K, K) minus the Hessian
        step = np.linalg.lstsq(info, grad, rcond=None)[0]  # (K,)
        for _ in range(30):
            candidate = objective(theta + step)
            if candidate >= current - 1e-12:
                break
            step = step / 2
        theta, current = theta + step, candidate
    return theta - theta.mean()


def to_scores(theta: np.ndarray, reference: int) -> np.ndarray:
    """400 * theta + 1000, shifted so the reference configuration scores exactly 1000."""
    return SCALE * (theta - theta[reference]) + ANCHOR


def bootstrap(counted: Tally, resamples: int, seed: int, prior: float = PRIOR) -> np.ndarray:
    """(R, K) centred thetas refitted on the votes resampled with replacement (seeded).

    Drawing how many votes each distinct (i, j, result) cell gets from a multinomial is the same
    as resampling the votes one by one, at a cost independent of the number of votes.
    """
    rng = np.random.default_rng(seed)
    k, total = len(counted.configs), int(counted.counts.sum())
    out = np.zeros((resamples, k))
    for r in range(resamples):
        drawn = rng.multinomial(total, counted.counts / total) if total else counted.counts
        out[r] = fit(_wins(counted.cells, drawn.astype(float), k), prior)
    return out


def ranks(lower: Sequence[float], upper: Sequence[float]) -> list[int]:
    """Chatbot Arena's rank: 1 + how many configurations are surely better (lower bound above my upper)."""
    lo = np.asarray(lower)
    return [1 + int((lo > u).sum()) for u in upper]


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaN, NaN for no trials)."""
    if trials == 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(centre - half), float(centre + half)


def side_bias(rows: Sequence[Comparison]) -> SideBias | None:
    """Left-side win rate among decisive votes of records with a `left_side` ('a' or 'b')."""
    decisive = [r for r in rows if r.outcome in ("a", "b") and getattr(r, "left_side", None) in ("a", "b")]
    if not decisive:
        return None
    left = sum(r.outcome == r.left_side for r in decisive)
    lo, hi = wilson(left, len(decisive))
    return SideBias(left, len(decisive), left / len(decisive), lo, hi)


def agreement(rows: Sequence[Comparison]) -> tuple[Agreement, ...]:
    """Per annotator (records with an `annotator`), agreement with the others' majority on each pair."""
    total: Counter[tuple[frozenset[str], str]] = Counter()  # (pair, winner) -> decisive votes by anyone
    mine: dict[str, Counter[tuple[frozenset[str], str]]] = defaultdict(Counter)
    votes: Counter[str] = Counter()
    decisive: list[tuple[str, frozenset[str], str, str]] = []  # annotator, pair, winner, loser
    for r in rows:
        who = getattr(r, "annotator", None)
        if who is None:
            continue
        votes[who] += 1
        if r.outcome in ("a", "b") and r.config_a != r.config_b:
            winner, loser = (r.config_a, r.config_b) if r.outcome == "a" else (r.config_b, r.config_a)
            pair = frozenset((winner, loser))
            total[pair, winner] += 1
            mine[who][pair, winner] += 1
            decisive.append((who, pair, winner, loser))
    compared: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    for who, pair, winner, loser in decisive:
        for_winner = total[pair, winner] - mine[who][pair, winner]
        for_loser = total[pair, loser] - mine[who][pair, loser]
        if for_winner != for_loser:
            compared[who] += 1
            agreed[who] += for_winner > for_loser
    return tuple(Agreement(w, votes[w], sum(mine[w].values()), compared[w], agreed[w]) for w in sorted(votes))


def grouped_ranks(lower: Sequence[float], upper: Sequence[float], provisional: Sequence[bool]) -> list[int]:
    """`ranks` within the established configurations, then within the provisional ones placed after them."""
    out = [0] * len(upper)
    start = 1
    for group in (False, True):
        members = [i for i, p in enumerate(provisional) if bool(p) == group]
        for i, r in zip(members, ranks([lower[i] for i in members], [upper[i] for i in members]), strict=True):
            out[i] = start + r - 1
        start += len(members)
    return out


def leaderboard(rows: Sequence[Comparison], *, reference: str | None = None, resamples: int = 200, seed: int = 0,
                both_bad: BothBad = "tie", prior: float = PRIOR, min_votes: int = 0) -> Leaderboard:
    """Scores, intervals and ranks for every configuration in `rows`, plus the diagnostics.

    Configurations in fewer than `min_votes` votes are provisional and ranked after the others.
    """
    if isinstance(min_votes, bool) or not isinstance(min_votes, int) or min_votes < 0:
        raise ValueError(f"min_votes={min_votes!r}: must be a whole number of votes, 0 or more")
    if resamples < 100:
        raise ValueError(f"resamples={resamples}: at least 100 bootstrap resamples are needed for 95% intervals")
    counted = tally(rows, both_bad)
    configs, wins = counted.configs, counted.wins
    if reference is not None and reference not in configs:
        raise ValueError(f"reference={reference!r}: not among the ranked configurations {list(configs)}")
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(games > 0, wins / games, np.nan)
    ratings: tuple[Rating, ...] = ()
    if configs:
        ref = configs.index(reference) if reference is not None else 0
        theta = fit(wins, prior)
        score = to_scores(theta, ref)
        boot = SCALE * bootstrap(counted, resamples, seed, prior) + (score - SCALE * theta)  # (R, K), score scale
        lower, upper = np.percentile(boot, 2.5, axis=0), np.percentile(boot, 97.5, axis=0)
        provisional = [round(games[i].sum()) < min_votes for i in range(len(configs))]
        rank = grouped_ranks(lower, upper, provisional)
        rated = (Rating(c, float(score[i]), float(lower[i]), float(upper[i]), rank[i], round(games[i].sum()),
                        float(wins[i].sum()), provisional[i]) for i, c in enumerate(configs))
        ratings = tuple(sorted(rated, key=lambda r: (r.provisional, -r.score, r.config)))
    return Leaderboard(ratings, configs, wins, games, fraction, reference or (configs[0] if configs else None),
                       resamples, side_bias(rows), agreement(rows))
