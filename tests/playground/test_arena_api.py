"""The Arena's JSON API (playground/arena_api.py) over HTTP, on a SQLite file and stored battles.

Served the way the app serves it (the routes in a FastAPI app, driven by Starlette's test client):
ids come from the server and are checked, a ticket is only its annotator's, one request votes and
brings the next battle, bad input is refused naming the field, and the database holds exactly the
votes the API said were stored.
"""

from __future__ import annotations

import random

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from playground.arena_api import ArenaApi
from playground.battles import Arena
from playground.identity import Identity
from playground.pool import Contender, Pool
from storage import Store, VoteFilter

POOL = Pool((Contender("sampling", {}, {"sentiment": 1.0}), Contender("args", {"w": 3.0}, {"sentiment": 1.0})),
            max_new_tokens=5)


def stored_battles(store: Store, n: int, prompt_set: str = "reviews") -> set[int]:
    ids = set()
    for i in range(n):
        gens = [store.save_generation({"prompt": f"prompt {i}", "prompt_set": prompt_set, "decoder": d,
                                       "config": {"decoder": d}, "rewards": {}, "preset": "fake",
                                       "trace": [{"type": "finished", "text": f"{d} text {i}", "stop_reason": "eos",
                                                  "config": {"decoder": d}, "seed": 3}]})
                for d in ("args", "rad")]
        ids.add(store.create_battle(*gens, blind=True))
    return ids


def client_for(arena_engine, store, votes_per_minute: int = 0) -> tuple[TestClient, ArenaApi]:
    identity = Identity(b"k" * 32, votes_per_minute=votes_per_minute, client_votes_per_minute=0)
    api = ArenaApi(Arena(arena_engine, store, POOL, "fake", random.Random(0)), identity)
    return TestClient(FastAPI(routes=api.routes())), api


def post(client: TestClient, route: str, body) -> tuple[int, dict]:
    answer = client.post(f"/arena_api/{route}", json=body)
    return answer.status_code, answer.json()


def test_votes_one_request_each_and_the_database_holds_exactly_those(arena_engine, store):
    battles = stored_battles(store, 3)
    client, _ = client_for(arena_engine, store)
    code, body = post(client, "annotator", {})
    who = body["annotator"]
    assert code == 200 and post(client, "annotator", {"annotator": who})[1]["annotator"] == who  # kept when signed
    code, body = post(client, "battle", {"annotator": who, "prompt_set": "reviews"})
    assert code == 200
    seen, stored = [], 0
    battle = body["battle"]
    while battle is not None:
        assert battle["prompt"].startswith("prompt ") and {battle["left"], battle["right"]} <= {
            f"{d} text {battle['prompt'][7:]}" for d in ("args", "rad")}
        seen.append(battle["prompt"])
        code, body = post(client, "vote", {"annotator": who, "ticket": battle["ticket"], "choice": "left",
                                           "rationale": "clearer", "next": True})
        assert code == 200 and body["stored"] and len(body["labels"]) == 2
        stored += 1
        battle = body["battle"]
    assert len(seen) == len(set(seen)) == 3 and stored == 3
    votes = store.vote_rows(VoteFilter(annotator=who))
    assert {v.battle_id for v in votes} == battles and all(v.choice == "left" for v in votes)
    assert post(client, "battle", {"annotator": who, "prompt_set": "reviews"})[0] == 404  # none left to vote on


def test_ids_and_tickets_belong_to_their_annotator(arena_engine, store):
    stored_battles(store, 2)
    client, _ = client_for(arena_engine, store)
    alice, bob = (post(client, "annotator", {})[1]["annotator"] for _ in range(2))
    assert alice != bob
    ticket = post(client, "battle", {"annotator": alice, "prompt_set": "reviews"})[1]["battle"]["ticket"]
    code, body = post(client, "vote", {"annotator": bob, "ticket": ticket, "choice": "tie"})
    assert code == 403 and "another annotator" in body["error"]
    code, body = post(client, "vote", {"annotator": "anon-made-up.0000", "ticket": ticket, "choice": "tie"})
    assert code == 403 and "NOT stored" in body["error"] and "anon-made-up.0000" in body["error"]
    assert post(client, "vote", {"annotator": alice, "ticket": ticket, "choice": "tie"})[0] == 200
    code, body = post(client, "vote", {"annotator": alice, "ticket": ticket, "choice": "tie"})
    assert code == 404 and "unknown or expired" in body["error"]  # a ticket votes once
    assert len(store.vote_rows(VoteFilter())) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"ticket": "t", "choice": "sideways"}, "choice"),
    ({"ticket": 7, "choice": "left"}, "ticket"),
    ({"choice": "left"}, "ticket"),
    ({"ticket": "t", "choice": "left", "next": "yes"}, "next"),
    ([1, 2], "request body"),
])
def test_bad_input_names_the_field_and_stores_nothing(arena_engine, store, body, field):
    stored_battles(store, 1)
    client, _ = client_for(arena_engine, store)
    if isinstance(body, dict):
        body = {"annotator": post(client, "annotator", {})[1]["annotator"], **body}
    code, answer = post(client, "vote", body)
    assert code == 400 and answer["error"].startswith(field)
    assert store.vote_rows(VoteFilter()) == []


def test_a_rationale_the_store_refuses_keeps_the_ticket_for_a_retry(arena_engine, store):
    stored_battles(store, 1)
    client, _ = client_for(arena_engine, store)
    who = post(client, "annotator", {})[1]["annotator"]
    ticket = post(client, "battle", {"annotator": who, "prompt_set": "reviews"})[1]["battle"]["ticket"]
    code, body = post(client, "vote", {"annotator": who, "ticket": ticket, "choice": "right", "rationale": "a\x00b"})
    assert code == 400 and "rationale" in body["error"], body
    assert post(client, "vote", {"annotator": who, "ticket": ticket, "choice": "right"})[0] == 200


def test_the_page_rate_limit_applies(arena_engine, store):
    stored_battles(store, 3)
    client, _ = client_for(arena_engine, store, votes_per_minute=1)
    who = post(client, "annotator", {})[1]["annotator"]
    battle = post(client, "battle", {"annotator": who, "prompt_set": "reviews"})[1]["battle"]
    code, body = post(client, "vote", {"annotator": who, "ticket": battle["ticket"], "choice": "left", "next": True})
    assert code == 200
    code, body = post(client, "vote", {"annotator": who, "ticket": body["battle"]["ticket"], "choice": "left"})
    assert code == 429 and "NOT stored" in body["error"]
    assert len(store.vote_rows(VoteFilter(annotator=who))) == 1


def test_the_app_serves_the_routes_beside_gradio_and_can_turn_them_off(arena_engine, store):
    from playground.settings import Settings
    from playground.ui import build_ui, launch_kwargs

    for on in (True, False):
        settings = Settings(preset="fake", arena_api=on)
        demo = build_ui(arena_engine, settings, store=store)
        routes = launch_kwargs(settings, demo).get("app_kwargs", {}).get("routes", [])
        assert sorted(r.path for r in routes) == (
            ["/arena_api/annotator", "/arena_api/battle", "/arena_api/vote"] if on else [])
