"""Reliability bench for voting: many concurrent voters against SQLite and PostgreSQL.

    python bench/votes.py                                   # 50 voters x 100 votes, SQLite (+ PG if set)
    python bench/votes.py --postgres postgresql://user@host:5432/db --voters 50 --votes 100
    DATABASE_URL_POSTGRES=postgresql://... python bench/votes.py
    python bench/votes.py --mode both --app-votes 20        # also through the running app's API
    python bench/votes.py --mode app --app-postgres postgresql://.../fresh_db

Two modes. `store` (store-direct, described here) and `app` (bench/_votes_app.py: the real app.py
on loopback in public mode, each voter a `gradio_client.Client` that gets a signed annotator id,
asks for the next battle, which must come from the pool of stored battles prepared first, and
votes; then as many voters through the Arena's JSON API, one HTTP request a vote; each time the
database must hold exactly the votes the app reported stored). The app mode
needs a database of its own (a fresh SQLite file; for PostgreSQL `--app-postgres`, a throwaway
database, since every open `reviews` battle in it may be served).

Each voter is a thread with its own annotator id and its own battles, and casts one vote on
each. With racing on (the default) every voter also tries, right after each of its own votes,
to vote on the battle its neighbour is voting on at that moment, so two voters race for every
battle: the store must let exactly one vote land and refuse the other. Afterwards the bench
checks that every battle has exactly one vote, that the stored votes are exactly the ones the
voters were told succeeded (count and ids per voter), and that no call failed otherwise. It
prints votes stored per second for each backend and exits 1 if any check failed. Each run
tags its rows with a fresh prompt set, so it can share a database with other data.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._threads import started_together
from storage import Refused, Store, StoreUnavailable, VoteFilter

CONFIGS = ("sampling(temperature=1.0)", "args(k=10, w=1.5)", "rad(beta=30)", "best_of_n(n=4)")
CHOICES = ("left", "right", "tie", "both_bad")
log = logging.getLogger("bench.votes")


@dataclass
class VoterLog:
    """What one voter was told: vote ids per battle for successes, and how many refusals/failures."""

    name: str
    stored: dict[int, int] = field(default_factory=dict)
    refused: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    backend: str
    voters: int
    votes_each: int
    attempts: int
    stored: int
    refused: int
    failed: int
    wall_s: float
    problems: tuple[str, ...]

    @property
    def votes_per_s(self) -> float:
        return self.stored / self.wall_s if self.wall_s else 0.0


def setup(store: Store, battles: int, tag: str, prompts: int = 20) -> list[int]:
    """Generations of every config on `prompts` prompts, and `battles` battles between them."""
    gens: dict[int, list[int]] = {}
    for p in range(prompts):
        gens[p] = [store.save_generation({
            "prompt": f"bench prompt {p}", "prompt_set": tag, "decoder": name.split("(")[0], "label": name,
            "seed": p, "text": f"{name} says {p}", "stop_reason": "eos", "trace": []}) for name in CONFIGS]
    pairs = []
    for n in range(battles):
        row, i = gens[n % prompts], n // prompts % len(CONFIGS)
        pairs.append((row[i], row[(i + 1 + n % 3) % len(CONFIGS)]))
    return store.create_battles(pairs, blind=True)


def vote_loop(store: Store, voter: VoterLog, own: list[int], rival: list[int] | None, start: threading.Barrier) -> None:
    start.wait()
    for i, battle in enumerate(own):
        targets = [battle] if rival is None else [battle, rival[i]]
        for target in targets:
            try:
                vote = store.cast_vote(target, voter.name, CHOICES[(i + target) % 4], f"bench {i}", ms_to_vote=i)
                voter.stored[target] = vote.id
            except Refused:
                voter.refused += 1
            except (StoreUnavailable, Exception) as error:  # every failure is counted, none may hide
                voter.failed.append(f"{type(error).__name__}: {error}")


def check(store: Store, tag: str, battles: list[int], voters: list[VoterLog]) -> list[str]:
    """Every battle exactly once, and the stored ids per voter equal to the ids each was told."""
    rows = store.vote_rows(VoteFilter(prompt_set=tag))
    problems = []
    per_battle = Counter(r.battle_id for r in rows)
    if set(per_battle) != set(battles):
        problems.append(f"{len(set(battles) - set(per_battle))} battles have no vote")
    if any(n != 1 for n in per_battle.values()):
        problems.append(f"{sum(n > 1 for n in per_battle.values())} battles have more than one vote")
    stored_by = {v.name: set() for v in voters}
    for r in rows:
        stored_by.setdefault(r.annotator, set()).add(r.vote_id)
    for v in voters:
        told = set(v.stored.values())
        if told != stored_by[v.name] or len(told) != len(v.stored):
            problems.append(f"{v.name}: told {len(told)} votes stored, database has {len(stored_by[v.name])}")
        problems.extend(f"{v.name}: {f}" for f in v.failed[:3])
    return problems


def run(url: str, voters: int, votes: int, race: bool = True, backend: str | None = None) -> Result:
    """One bench run against `url`."""
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    with Store.open(url, pool_size=min(voters, 40)) as store:
        battles = setup(store, voters * votes, tag)
        logs = [VoterLog(f"{tag}-voter{v:03d}") for v in range(voters)]
        shares = [battles[v * votes:(v + 1) * votes] for v in range(voters)]
        wall = started_together(vote_loop, [(store, logs[v], shares[v], shares[(v + 1) % voters] if race else None)
                                            for v in range(voters)])
        problems = check(store, tag, battles, logs)
    attempts = voters * votes * (2 if race else 1)
    return Result(backend or url.split(":")[0], voters, votes, attempts, sum(len(v.stored) for v in logs),
                  sum(v.refused for v in logs), sum(len(v.failed) for v in logs), wall, tuple(problems))


def table(results: list[Result]) -> str:
    lines = ["| mode, backend | voters | votes each | attempts | stored | refused (dup) | failed | wall s | votes/s "
             "| exactly once |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.backend} | {r.voters} | {r.votes_each} | {r.attempts} | {r.stored} | {r.refused} | "
                     f"{r.failed} | {r.wall_s:.2f} | {r.votes_per_s:.0f} | {'yes' if not r.problems else 'NO'} |")
    return "\n".join(lines)


def _targets(sqlite_file: str | Path, postgres: str | None, how: str) -> list[tuple[str, str]]:
    """(backend, URL) pairs to run: the SQLite file, and PostgreSQL when a URL is given (else say how)."""
    if not postgres:
        log.info("PostgreSQL skipped: %s", how)
    return [("sqlite", f"sqlite:///{sqlite_file}")] + ([("postgresql", postgres)] if postgres else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("store", "app", "both"), default="store",
                        help="store: Store calls in threads; app: gradio_client against app.py on loopback")
    parser.add_argument("--voters", type=int, default=50)
    parser.add_argument("--votes", type=int, default=100, help="votes per voter (store mode)")
    parser.add_argument("--app-votes", type=int, default=20, help="votes per voter (app mode)")
    parser.add_argument("--sqlite", default=None, help="SQLite file (default: a fresh temporary file)")
    parser.add_argument("--postgres", default=os.environ.get("DATABASE_URL_POSTGRES"),
                        help="PostgreSQL URL (default: $DATABASE_URL_POSTGRES; skipped when neither is given)")
    parser.add_argument("--app-postgres", default=None, help="a throwaway PostgreSQL database for the app mode")
    parser.add_argument("--no-race", action="store_true", help="voters touch only their own battles")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("storage.retry", "httpx", "gradio_client"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.mode in ("store", "both"):
            targets = _targets(args.sqlite or Path(tmp) / "bench.db", args.postgres,
                               "pass --postgres URL or set DATABASE_URL_POSTGRES")
            results += [run(url, args.voters, args.votes, not args.no_race, f"store, {name}") for name, url in targets]
        if args.mode in ("app", "both"):
            from bench._votes_app import run_app

            targets = _targets(Path(tmp) / "app.db", args.app_postgres,
                               "in app mode pass --app-postgres URL (a throwaway database)")
            for name, url in targets:
                results += run_app(url, args.voters, args.app_votes, f"app, {name}", setup, Result, Path(tmp))
    print(table(results))
    if args.mode != "store":
        print("app mode: public mode, vote rate limits off (every voter shares the loopback address)")
    for r in results:
        for p in r.problems:
            log.error("%s: %s", r.backend, p)
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
