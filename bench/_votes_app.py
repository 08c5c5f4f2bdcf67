"""The app-API mode of bench/votes.py: voters as Gradio clients of the real app on loopback.

Starts `python app.py` in a subprocess (public mode, the given database, the embedded preset,
vote rate limits off because every voter shares the loopback address), fills the database with
blind battles of the prompt set `reviews` first (the battle pool is ready before the first
voter), then runs `voters` threads, each with its own `gradio_client.Client` (its own session):
it asks the app for a signed annotator id (`/annotator`), then `votes` times asks for the next
battle (`/next_battle`, which must serve a stored one: a battle that would need generating counts
as a failure) and votes on it (`/vote_left`, ...). Afterwards the database must hold, per voter,
exactly the votes the app said were stored, and no battle more than one vote. For scale it also
times the same clients calling `/annotator` (an HMAC check: what Gradio and gradio_client cost
per call on this machine, with nothing of the app's own work); a vote is two calls. Used by
bench/votes.py (`--mode app`); not a test: it prints numbers.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from storage import Store, VoteFilter

ROOT = Path(__file__).resolve().parents[1]
PROMPT_SET = "reviews"
CHOICES = ("left", "right", "tie", "both_bad")
STORED, READY = "vote is stored", "Both finished"
log = logging.getLogger("bench.votes")


@dataclass
class AppVoter:
    """What the app told one voter: its id, votes it said were stored, and every other answer."""

    annotator: str = ""
    stored: int = 0
    failed: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(url: str, port: int, log_path: Path) -> subprocess.Popen:
    """`python app.py` on 127.0.0.1:`port` with votes in `url`; returns once it answers HTTP."""
    env = {**os.environ, "DATABASE_URL": url, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "PLAYGROUND_PUBLIC": "1", "PLAYGROUND_VOTES_PER_MINUTE": "0", "PLAYGROUND_CLIENT_VOTES_PER_MINUTE": "0",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log_path.open("w"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"app.py did not answer within 180 s; see {log_path}")


def vote_loop(client: object, voter: AppVoter, votes: int, start: threading.Barrier) -> None:
    start.wait()
    for i in range(votes):
        try:
            shown = client.predict(PROMPT_SET, "", voter.annotator, api_name="/next_battle")
            if READY not in shown[3]:
                voter.failed.append(f"next_battle did not serve a stored battle: {shown[3][:120]}")
                continue
            answer = client.predict(voter.annotator, f"bench {i}", PROMPT_SET, api_name=f"/vote_{CHOICES[i % 4]}")
            if STORED in answer[1]:
                voter.stored += 1
            else:
                voter.failed.append(f"vote: {answer[1][:160]}")
        except Exception as error:  # every failure is counted, none may hide
            voter.failed.append(f"{type(error).__name__}: {error}")


def ceiling(clients: list, annotators: list[str], calls: int = 5) -> float:
    """Calls per second of the `/annotator` endpoint from every client at once (`calls` each)."""
    start = threading.Barrier(len(clients) + 1)

    def loop(client: object, who: str) -> None:
        start.wait()
        for _ in range(calls):
            client.predict(who, api_name="/annotator")

    threads = [threading.Thread(target=loop, args=pair) for pair in zip(clients, annotators, strict=True)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return len(clients) * calls / (time.perf_counter() - began)


def check(url: str, voters: list[AppVoter]) -> list[str]:
    """Per voter, the stored votes equal what the app said; no battle has two votes."""
    problems = []
    with Store.open(url, migrate=False) as store:
        seen: dict[int, int] = {}
        for v in voters:
            rows = store.vote_rows(VoteFilter(annotator=v.annotator))
            if len(rows) != v.stored:
                problems.append(f"{v.annotator}: the app said {v.stored} votes were stored, the database has "
                                f"{len(rows)}")
            for r in rows:
                seen[r.battle_id] = seen.get(r.battle_id, 0) + 1
        problems += [f"battle {b} has {n} votes" for b, n in seen.items() if n > 1]
    problems += [f"{v.annotator}: {f}" for v in voters for f in v.failed[:2]]
    return problems


def run_app(url: str, voters: int, votes: int, backend: str, setup: object, result: type, work: Path) -> object:
    """One app-API run against `url` (a database only this run uses): a `Result` of bench/votes.py."""
    from gradio_client import Client

    with Store.open(url) as store:
        setup(store, voters * votes + 2 * voters, PROMPT_SET)  # the pool, ready before the first voter
    port = free_port()
    proc = start_app(url, port, work / f"app-{backend}.log")
    try:
        logs = [AppVoter() for _ in range(voters)]
        clients = [Client(f"http://127.0.0.1:{port}/", verbose=False) for _ in range(voters)]
        for client, voter in zip(clients, logs, strict=True):
            voter.annotator = client.predict("", api_name="/annotator")
        start = threading.Barrier(voters + 1)
        threads = [threading.Thread(target=vote_loop, args=(c, v, votes, start)) for c, v in zip(clients, logs,
                                                                                                   strict=True)]
        for t in threads:
            t.start()
        start.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        rate = ceiling(clients, [v.annotator for v in logs])
        log.info("%s: gradio_client calls/s of the no-op-sized /annotator endpoint, %d clients at once: %.0f "
                 "(a vote is 2 calls)", backend, voters, rate)
        for client in clients:
            client.close()
    finally:
        proc.terminate()
        proc.wait(30)
    problems = check(url, logs)
    return result(backend, voters, votes, voters * votes, sum(v.stored for v in logs), 0,
                  sum(len(v.failed) for v in logs), wall, tuple(problems))
