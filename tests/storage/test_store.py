"""The Store API: saving generations, battles, votes, the reads the UI needs, and every refusal
(each names the field and the value, and stores nothing). Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from storage import Refused, Store, VoteFilter
from storage.validate import FROM_REQUEST
from tests.storage.conftest import FAST, battle, record

ROOT = Path(__file__).resolve().parents[2]


def test_a_generation_round_trips_with_its_trace_and_reproduction_fields(store):
    gid = store.save_generation(record(text="hello", config={"k": 10, "w": 1.5}, prompt_set="reviews"))
    gen = store.generation(gid)
    assert (gen.prompt, gen.prompt_set, gen.decoder, gen.text, gen.seed) == ("Write a review", "reviews", "args",
                                                                            "hello", 7)
    assert gen.config == {"decoder": "args", "k": 10, "w": 1.5} and gen.rewards == {"rm": 1.0}
    assert gen.label == "args(k=10, w=1.5) [rm=1.0]"
    assert (gen.stop_reason, gen.reward, gen.reward_parts) == ("eos", 0.5, {"rm": 0.5})  # read from Finished
    assert gen.cost["lm_tokens"] == 12 and gen.model_ids == {"policy": "zoo:policy"}
    assert gen.trace[-1]["type"] == "finished" and gen.trace[0]["token_id"] == 5
    assert gen.finished and gen.created_at.tzinfo is not None
    assert store.generation(gid, trace=False).trace == ()


def test_prompts_are_shared_per_prompt_set_and_nan_becomes_null(store):
    a = store.save_generation(record(reward=float("nan")))
    b = store.save_generation(record())
    c = store.save_generation(record(prompt_set="other"))
    assert store.counts()["prompts"] == 2 and store.generation(a).reward is None
    assert store.prompt_sets() == ["", "other"]
    with pytest.raises(Refused, match="generation_b"):
        store.create_battle(a, c)  # different prompt (set)
    assert store.create_battle(a, b) >= 1


def test_battle_view_resolves_left_and_right(store):
    bid = battle(store, texts=("from a", "from b"), left="b")
    view = store.battle(bid)
    assert (view.left.text, view.right.text, view.status, view.blind, view.vote) == ("from b", "from a", "open",
                                                                                    True, None)


def test_a_vote_is_stored_once_and_translated_to_sides(store):
    bid = battle(store, left="b")
    vote = store.cast_vote(bid, "  ann-1 ", "left", "  clearer  ", ms_to_vote=4200)
    assert (vote.annotator_id, vote.choice, vote.outcome, vote.rationale, vote.ms_to_vote) == (
        "ann-1", "left", "b", "clearer", 4200)
    view = store.battle(bid)
    assert view.status == "voted" and view.vote == vote
    [row] = store.vote_rows()
    assert (row.outcome, row.left_side, row.annotator, row.vote_id) == ("b", "b", "ann-1", vote.id)
    assert row.config_a == "args(k=10) [rm=1.0]" and row.config_b == "args(k=20) [rm=1.0]"


def refused(store: Store, field: str, *args, **kwargs) -> Refused:
    before = store.counts()
    with pytest.raises(Refused) as info:
        store.cast_vote(*args, **kwargs)
    assert info.value.field == field and field in str(info.value)
    assert store.counts() == before  # nothing stored
    return info.value


def test_votes_that_are_refused_store_nothing(store):
    bid = battle(store)
    assert "no such battle" in str(refused(store, "vote.battle_id", 999, "ann", "left"))
    assert "'maybe'" in str(refused(store, "vote.choice", bid, "ann", "maybe"))
    refused(store, "vote.choice", bid, "ann", "LEFT")
    assert "an annotator id is required" in str(refused(store, "vote.annotator", bid, "   ", "left"))
    refused(store, "vote.annotator", bid, None, "left")
    refused(store, "vote.annotator", bid, "x" * 65, "left")
    error = refused(store, "vote.rationale", bid, "ann", "left", "x" * 501)
    assert "501 characters, at most 500" in str(error)
    refused(store, "vote.ms_to_vote", bid, "ann", "left", None, -5)
    refused(store, "vote.battle_id", "1", "ann", "left")
    store.cast_vote(bid, "ann", "left", "y" * 500)
    assert "already has a vote" in str(refused(store, "vote.battle_id", bid, "other", "right"))
    assert store.battle(bid).vote.annotator_id == "ann"


@pytest.mark.parametrize("stops", [("eos", None), ("error", "eos"), ("max_new_tokens", "cancelled")])
def test_a_vote_on_unfinished_generations_is_refused(store, stops):
    bid = battle(store, stops=stops)
    error = refused(store, "vote.battle_id", bid, "ann", "tie")
    assert "not finished" in str(error)
    assert store.battles_needing_votes() == [] and store.battle(bid).status == "open"


def test_the_unique_constraint_backs_the_one_vote_rule(store):
    bid = battle(store)
    store.cast_vote(bid, "ann", "left")
    with pytest.raises(exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(text("INSERT INTO votes (battle_id, annotator_id, choice, created_at) "
                          "VALUES (:b, 'ann', 'right', :t)"), {"b": bid, "t": datetime.now(UTC)})
    assert store.counts()["votes"] == 1


def test_concurrent_double_votes_land_once(db_url):
    with Store.open(db_url, retry=FAST, busy_timeout_ms=5000) as store:
        bid = battle(store)
        start, results = threading.Barrier(8), []

        def vote(i: int) -> None:
            start.wait()
            try:
                results.append(store.cast_vote(bid, f"ann-{i}", "left"))
            except Refused as error:
                results.append(error)
        threads = [threading.Thread(target=vote, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wins = [r for r in results if not isinstance(r, Refused)]
        assert len(results) == 8 and len(wins) == 1
        assert store.counts()["votes"] == 1 and store.battle(bid).vote.id == wins[0].id


def test_battle_refusals(store):
    gid = store.save_generation(record())
    for args, field in [((gid, gid), "battle.generation_b"), ((gid, 999), "battle.generation_b"),
                        ((0, gid), "battle.generation_a"), ((True, gid), "battle.generation_a")]:
        with pytest.raises(Refused) as info:
            store.create_battle(*args)
        assert info.value.field == field
    with pytest.raises(Refused) as info:
        store.create_battle(gid, store.save_generation(record()), left="c")
    assert info.value.field == "battle.left"
    assert store.counts()["battles"] == 0


@pytest.mark.parametrize("bad, field", [({"prompt": ""}, "generation.prompt"),
                                        ({"stop_reason": "done"}, "generation.stop_reason"),
                                        ({"seed": "7"}, "generation.seed"), ({"colour": 1}, "generation"),
                                        ({"decoder": "", "config": {}}, "generation.decoder"),
                                        ({"config": {"x": object()}}, "generation.config.x")])
def test_generation_refusals(store, bad, field):
    with pytest.raises(Refused) as info:
        store.save_generation({**record(), **bad})
    assert info.value.field == field
    assert store.counts()["generations"] == 0


def test_progress_needs_and_filters(store):
    old = battle(store, prompt="p1", configs=({"k": 1}, {"k": 2}), prompt_set="set1")
    named = battle(store, prompt="p2", configs=({"k": 1}, {"k": 3}), blind=False)
    fresh = [battle(store, prompt="p3", configs=({"k": 1}, {"k": 2})), battle(store, prompt="p4",
                                                                              configs=({"k": 2}, {"k": 3}))]
    store.cast_vote(old, "ann", "left")
    store.cast_vote(named, "ann", "right")
    needs = store.battles_needing_votes()
    assert [n.battle_id for n in needs] == [fresh[1], fresh[0]]  # the (k=2, k=3) pair has no votes yet
    assert (needs[0].pair_votes, needs[0].weight, needs[1].pair_votes) == (0, 1.0, 1)
    progress = store.annotator_progress("ann")
    assert (progress.votes, progress.open_battles) == (2, 2) and progress.first_vote_at <= progress.last_vote_at
    assert store.annotator_progress("nobody").votes == 0
    store.ensure_annotator("viewer")
    assert store.annotator_count() == 2
    assert [r.battle_id for r in store.vote_rows(VoteFilter(blind_only=True))] == [old]
    assert [r.battle_id for r in store.vote_rows(VoteFilter(prompt_set="set1"))] == [old]
    now = datetime.now(UTC)
    assert len(store.vote_rows(VoteFilter(since=now - timedelta(minutes=5), until=now + timedelta(minutes=5)))) == 2
    assert store.vote_rows(VoteFilter(until=now - timedelta(minutes=5))) == []
    assert len(store.vote_rows(VoteFilter(since=(now - timedelta(minutes=5)).replace(tzinfo=None)))) == 2
    assert store.pair_votes() == {("args(k=1) [rm=1.0]", "args(k=2) [rm=1.0]"): 1,
                                  ("args(k=1) [rm=1.0]", "args(k=3) [rm=1.0]"): 1}


def request_fields() -> set[str]:
    """GenerationRequest's field names (its module imports no torch)."""
    from backends.decoders.request import GenerationRequest

    return {f.name for f in dataclasses.fields(GenerationRequest)}


def test_a_record_built_from_a_request_and_real_events(store):
    """What the UI hands over: `asdict(GenerationRequest)` and `to_dict` of each event."""
    from backends.events import Cost, Finished, TokenStep, to_dict

    request = {"prompt": "Tell a story", "decoder": "args", "config": {"w": 2.0}, "rewards": {"rm": 1.0},
               "reward_config": {}, "preset": "embedded", "seed": 11, "max_new_tokens": 32, "raw_prompt": False,
               "keywords": ("dog",), "features": True}
    assert set(request) == request_fields() and set(FROM_REQUEST) <= request_fields()
    events = [TokenStep(index=0, token_id=3, text="Once", logprob_base=-1.2, logprob_decoder=-0.7, reward=0.1),
              Finished(text="Once", stop_reason="max_new_tokens", reward=float("nan"), cost=Cost(4, 8, 1.5),
                       new_tokens=1, seed=11, config={"decoder": "args", "k": 10, "w": 2.0})]
    gid = store.save_generation({"request": request, "trace": [to_dict(e) for e in events],
                                 "model_ids": {"policy": "zoo:policy"}, "prompt_set": "stories"})
    gen = store.generation(gid)
    assert (gen.prompt, gen.decoder, gen.seed, gen.text, gen.stop_reason) == ("Tell a story", "args", 11, "Once",
                                                                               "max_new_tokens")
    assert gen.label == "args(k=10, w=2.0) [rm=1.0]"  # the full config from Finished, not the overrides
    assert gen.request["max_new_tokens"] == 32 and gen.request["keywords"] == ["dog"]
    assert gen.reward is None and gen.cost == {"lm_tokens": 4, "reward_tokens": 8, "wall_ms": 1.5}
    assert [e["type"] for e in gen.trace] == ["token", "finished"]
