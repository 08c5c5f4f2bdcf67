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
per call on this machine, with nothing of the app's own work); a vote is two calls. Then the
same number of voters vote through the Arena's JSON API (playground/arena_api.py), each on one
keep-alive HTTP connection: an id from `/arena_api/annotator`, a battle from `/arena_api/battle`,
then one `/arena_api/vote` request per vote that also brings the next battle. Used by
bench/votes.py (`--mode app`); not a test: it prints numbers.
"""

from __future__ import annotations

import http.client
import json
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

from bench._threads import started_together
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


class JsonClient:
    """One voter's keep-alive connection to the Arena's JSON API."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, route: str, body: dict) -> tuple[int, dict]:
        self.conn.request("POST", f"/arena_api/{route}", json.dumps(body), {"Content-Type": "application/json"})
        answer = self.conn.getresponse()
        return answer.status, json.loads(answer.read())


def json_loop(port: int, voter: AppVoter, votes: int, start: threading.Barrier) -> None:
    client = JsonClient(port)
    try:
        voter.annotator = client.post("annotator", {})[1]["annotator"]
        code, body = client.post("battle", {"annotator": voter.annotator, "prompt_set": PROMPT_SET})
        battle = body.get("battle") if code == 200 else None
        if battle is None:
            voter.failed.append(f"battle: {code} {body}")
        start.wait()
        for i in range(votes):
            if battle is None:
                voter.failed.append("no stored battle was served")
                break
            code, body = client.post("vote", {"annotator": voter.annotator, "ticket": battle["ticket"],
                                              "choice": CHOICES[i % 4], "rationale": f"bench {i}", "next": True})
            if code == 200 and body.get("stored"):
                voter.stored += 1
                battle = body["battle"]
            else:
                voter.failed.append(f"vote: {code} {str(body)[:160]}")
    except Exception as error:  # every failure is counted, none may hide
        voter.failed.append(f"{type(error).__name__}: {error}")
    finally:
        client.conn.close()


def run_json(port: int, voters: int, votes: int) -> tuple[list[AppVoter], float]:
    logs = [AppVoter() for _ in range(voters)]
    return logs, started_together(json_loop, [(port, v, votes) for v in logs])


def ceiling(clients: list, annotators: list[str], calls: int = 5) -> float:
    """Calls per second of the `/annotator` endpoint from every client at once (`calls` each)."""
    def loop(client: object, who: str, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(calls):
            client.predict(who, api_name="/annotator")

    return len(clients) * calls / started_together(loop, list(zip(clients, annotators, strict=True)))


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


def run_gradio(port: int, voters: int, votes: int, backend: str) -> tuple[list[AppVoter], float]:
    """Voters as gradio_client clients (two calls a vote), then the per-call ceiling for scale."""
    from gradio_client import Client

    logs = [AppVoter() for _ in range(voters)]
    clients = [Client(f"http://127.0.0.1:{port}/", verbose=False) for _ in range(voters)]
    try:
        for client, voter in zip(clients, logs, strict=True):
            voter.annotator = client.predict("", api_name="/annotator")
        wall = started_together(vote_loop, [(c, v, votes) for c, v in zip(clients, logs, strict=True)])
        rate = ceiling(clients, [v.annotator for v in logs])
        log.info("%s: gradio_client calls/s of the no-op-sized /annotator endpoint, %d clients at once: %.0f "
                 "(a vote is 2 calls)", backend, voters, rate)
    finally:
        for client in clients:
            client.close()
    return logs, wall


def run_app(url: str, voters: int, votes: int, backend: str, setup: object, result: type, work: Path) -> list:
    """Two app-API runs against `url` (a database only they use): gradio_client, then the JSON API;
    one `Result` of bench/votes.py each."""
    with Store.open(url) as store:
        setup(store, 2 * (voters * votes + 2 * voters), PROMPT_SET)  # the pool, ready before the first voter
    port = free_port()
    proc = start_app(url, port, work / f"app-{backend}.log")
    runs = []
    try:
        runs.append((f"{backend}, Gradio client", *run_gradio(port, voters, votes, backend)))
        runs.append((f"{backend}, JSON API", *run_json(port, voters, votes)))
    finally:
        proc.terminate()
        proc.wait(30)
    return [result(name, voters, votes, voters * votes, sum(v.stored for v in logs), 0,
                   sum(len(v.failed) for v in logs), wall, tuple(check(url, logs))) for name, logs, wall in runs]
