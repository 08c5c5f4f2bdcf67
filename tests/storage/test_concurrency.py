"""The voting bench, small: 8 concurrent voters x 10 votes, every voter also racing its neighbour
for each battle; every battle must end with exactly one vote, and each voter's stored votes must
be exactly the ones it was told succeeded. SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "votes.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_votes", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_concurrent_voters_store_every_vote_exactly_once(db_url):
    bench = load_bench()
    result = bench.run(db_url, voters=8, votes=10, race=True)
    assert result.problems == ()
    assert (result.stored, result.refused, result.failed) == (80, 80, 0)
    assert result.votes_per_s > 0
    assert "| yes |" in bench.table([result])


def test_without_racing_every_vote_succeeds(sqlite_url):
    result = load_bench().run(sqlite_url, voters=8, votes=10, race=False)
    assert (result.problems, result.stored, result.refused, result.failed) == ((), 80, 0, 0)
