"""A blind battle end to end on tiny models and a SQLite file: plan (seeded), stream, store, vote.

Also the vote's failure modes (a second vote is refused and locks the battle; a locked database is
a failure, never a success), the milliseconds to vote, labels that match the store's, and a
named vote from the Compare tab."""

from __future__ import annotations

import dataclasses
import random
import sqlite3

import pytest

from playground.battles import Arena
from playground.pool import Contender, Pool, PoolError
from playground.runner import run_panels
from playground.votes import Saved, cast, named_vote, progress_line, save_views
from storage import Retry, Store

FAST = Retry(attempts=2, base_s=0.01, max_s=0.02)
POOL = Pool((Contender("sampling", {}, {"sentiment": 1.0}), Contender("args", {"w": 3.0}, {"sentiment": 1.0})),
            max_new_tokens=5)


def played(arena: Arena, prompt_set: str | None = "reviews", typed: str | None = None, annotator: str = "ann"):
    battle = arena.plan(prompt_set, typed, annotator)
    views = list(run_panels(arena.engine, battle.shown()))[-1]
    return arena.finish(battle, views)


def test_a_battle_is_planned_streamed_stored_blind_and_voted(arena_engine, store):
    arena = Arena(arena_engine, store, POOL, "fake", random.Random(0))
    battle, message = played(arena)
    assert battle.open and "Which continuation is better" in message
    stored = store.battle(battle.battle_id, trace=True)
    assert stored.blind and stored.left_side == battle.left and stored.prompt_set == "reviews"
    assert (stored.left.text, stored.right.text) == battle.texts
    assert battle.labels == (stored.left.label, stored.right.label)
    assert {c.label("fake") for c in arena.contenders()} == {stored.a.label, stored.b.label}  # pool labels = stored
    assert stored.a.request["max_new_tokens"] == 5 and stored.a.seed == stored.b.seed
    assert stored.left.trace[-1]["type"] == "finished" and stored.a.model_ids["policy"]

    battle, reply = arena.vote(battle, "left", "ann", "clearer <b>prose</b>")
    assert reply.ok and reply.locked and battle.voted and not battle.open
    vote = store.battle(battle.battle_id).vote
    assert vote.choice == "left" and vote.outcome == battle.left and vote.rationale == "clearer <b>prose</b>"
    assert vote.ms_to_vote is not None and 0 <= vote.ms_to_vote < 60_000

    again, second = arena.vote(dataclasses.replace(battle, voted=False), "right", "other", None)
    assert not second.ok and second.locked and again.voted  # refused by the store: one vote per battle
    assert "already has a vote" in second.message and "one vote per battle" in second.message
    assert store.counts()["votes"] == 1
    assert "You have cast 1 vote; prompt set reviews: 1 of" in progress_line(store, "ann", "reviews", 20)


def test_the_next_battle_prefers_unjudged_prompts_and_unvoted_pairs(arena_engine, store):
    arena = Arena(arena_engine, store, POOL, "fake", random.Random(3))
    battle = arena.plan("reviews", None, "ann")
    assert battle.prompt_set == "reviews" and {r.decoder for r in battle.requests} == {"sampling", "args"}
    assert battle.shown()[0] is battle.requests[0 if battle.left == "a" else 1]
    typed = arena.plan("reviews", "  <script>alert(1)</script>  ", "ann")
    assert typed.prompt == "<script>alert(1)</script>" and typed.prompt_set == ""
    with pytest.raises(PoolError, match="pick a prompt set"):
        arena.plan(None, "", "ann")
    lone = Arena(arena_engine, store, Pool(POOL.contenders[:1]), "fake")
    with pytest.raises(PoolError, match="at least two"):
        lone.plan("reviews", None, "ann")


def test_a_side_that_fails_opens_no_battle(arena_engine, store):
    broken = Pool((POOL.contenders[0], Contender("args", {"w": 3.0}, {"sentiment": 1.0})), max_new_tokens=500)
    arena = Arena(arena_engine, store, broken, "fake", random.Random(0))
    battle, message = played(arena)  # 500 new tokens do not fit the tiny model's context: both sides fail
    assert battle.battle_id is None and not battle.open and "cannot be judged" in message
    assert store.counts()["battles"] == 0
    assert not arena.vote(battle, "left", "ann", None)[1].ok


def test_a_locked_database_is_reported_as_a_failure_never_as_success(arena_engine, store, tmp_path):
    arena = Arena(arena_engine, store, POOL, "fake", random.Random(0))
    battle, _ = played(arena)
    lock = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        battle, reply = arena.vote(battle, "tie", "ann", None)
    finally:
        lock.rollback()
        lock.close()
    assert not reply.ok and not reply.locked and battle.open
    assert "NOT stored" in reply.message and "database is locked" in reply.message
    assert store.counts()["votes"] == 0
    assert arena.vote(battle, "tie", "ann", None)[1].ok  # and voting again works once the lock is gone


def test_refusals_that_the_annotator_can_fix_keep_the_battle_open(arena_engine, store):
    arena = Arena(arena_engine, store, POOL, "fake", random.Random(0))
    battle, _ = played(arena)
    battle, reply = arena.vote(battle, "left", "   ", None)
    assert not reply.ok and not reply.locked and battle.open and "annotator id is required" in reply.message
    battle, reply = arena.vote(battle, "left", "ann", "<script>" * 100)
    assert not reply.ok and battle.open and "at most 500 allowed" in reply.message
    assert cast(store, None, "ann", "left").message.startswith("There is no battle")


def test_a_named_vote_on_two_compare_panels(arena_engine, store):
    requests = [dataclasses.replace(r, seed=1) for r in
                Arena(arena_engine, store, POOL, "fake", random.Random(0)).plan(None, "Review the film", "a").shown()]
    views = list(run_panels(arena_engine, requests))[-1]
    saved = save_views(store, views)
    assert len(saved.ids) == 2 and all(saved.ids) and not saved.error

    reply, battles = named_vote(store, saved, 2, 1, "left", "ann", "panel 2 reads better", {})
    assert reply.ok and len(battles) == 1
    bid, shown_left = next(iter(battles.values()))
    stored = store.battle(bid)
    assert not stored.blind and shown_left == saved.ids[1] and stored.vote.outcome == "a"
    reply, battles = named_vote(store, saved, 1, 2, "right", "ann", None, battles)  # same two generations
    assert not reply.ok and "already has a vote" in reply.message and store.counts()["battles"] == 1
    assert "Run a comparison first" in named_vote(store, None, 1, 2, "tie", "ann", None, {})[0].message
    assert "two different panels" in named_vote(store, saved, 1, 1, "tie", "ann", None, {})[0].message
    assert "did not finish" in named_vote(store, Saved((saved.ids[0], None)), 1, 2, "tie", "a", None, {})[0].message
    assert "not stored" in named_vote(store, Saved((None, None), "the generations were not stored: x"), 1, 2,
                                      "tie", "a", None, {})[0].message


def _stored_battle(store: Store, prompt: str, prompt_set: str, blind: bool = True) -> int:
    ids = []
    for decoder, text in (("args", f"{prompt}: args text"), ("rad", f"{prompt}: rad text")):
        config = {"decoder": decoder}
        finished = {"type": "finished", "text": text, "stop_reason": "eos", "config": config, "seed": 3}
        ids.append(store.save_generation({"prompt": prompt, "prompt_set": prompt_set, "decoder": decoder,
                                          "config": config, "rewards": {}, "preset": "fake", "trace": [finished]}))
    return store.create_battle(*ids, blind=blind)


def test_stored_battles_waiting_for_votes_are_served_one_session_at_a_time(arena_engine, store):
    reviews = {_stored_battle(store, f"review {i}", "reviews") for i in range(2)}
    question = _stored_battle(store, "a question", "questions")
    _stored_battle(store, "named", "reviews", blind=False)  # named battles are not for the Arena
    arena = Arena(arena_engine, store, POOL, "fake", random.Random(0))
    first, second = arena.serve("reviews"), arena.serve("reviews")
    assert {first.battle_id, second.battle_id} == reviews and first.open and first.requests == ()
    view = store.battle(first.battle_id)
    assert first.texts == (view.left.text, view.right.text) and first.labels[0].startswith(view.left.decoder)
    assert arena.serve("reviews") is None  # both are being shown in other sessions
    assert arena.serve("questions").battle_id == question and arena.serve(None) is None

    first, reply = arena.vote(first, "right", "ann", None)
    assert reply.ok and store.battle(first.battle_id).vote.ms_to_vote >= 0
    elsewhere = Arena(arena_engine, store, POOL, "fake", random.Random(1))  # another process: no claims
    assert elsewhere.serve("reviews").battle_id == second.battle_id  # the voted one is no longer offered
