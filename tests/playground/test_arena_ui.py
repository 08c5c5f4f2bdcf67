"""The Arena tab's wiring and rendering: the page's parts with and without a store, the vote handler
as Gradio calls it (success and reveal, a refused second vote, a locked database, an id the server
did not issue), serving stored battles outside the generation queue, and escaping of everything
typed (prompt, rationale, configuration labels, store messages)."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest

from playground.arena_render import prompt_html, side_html, status_html, verdict_text
from playground.battles import ArenaBattle
from playground.settings import Settings
from playground.ui import TABS, build_ui
from storage import Retry, Store
from storage.access import issue_annotator
from tests.playground.fakes import PresetEngine, scripts

SCRIPT = "<script>alert(1)</script>"
FAST = Retry(attempts=2, base_s=0.01, max_s=0.02)


def _record(prompt: str, decoder: str, text: str) -> dict:
    config = {"decoder": decoder, "k": 10}
    finished = {"type": "finished", "text": text, "stop_reason": "eos", "config": config, "seed": 1}
    return {"prompt": prompt, "decoder": decoder, "config": config, "rewards": {}, "preset": "fake",
            "trace": [finished]}


@pytest.fixture
def store(tmp_path):
    with Store.open("sqlite:///" + str(tmp_path / "t.db"), retry=FAST, busy_timeout_ms=50) as s:
        yield s


SETTINGS = Settings(preset="fake")
ANN, OTHER = issue_annotator(SETTINGS.annotator_key), issue_annotator(SETTINGS.annotator_key)


@pytest.fixture
def demo(store):
    return build_ui(PresetEngine(scripts()), SETTINGS, store=store)


class _Vote:
    """The Arena's vote handler bound to `choice`, called as Gradio calls it (no request, not signed in)."""

    def __init__(self, fn):
        self.fn_block = fn

    def fn(self, battle, who, why, prompt_set, profile=None):
        return self.fn_block.fn(battle, who, why, prompt_set, None, profile)


def _vote_fn(demo, choice: str) -> _Vote:
    for fn in demo.fns.values():
        if getattr(fn.fn, "choice", None) == choice and \
                any(getattr(o, "elem_id", None) == "arena-status" for o in fn.outputs):
            return _Vote(fn)
    raise AssertionError(f"no arena vote handler for {choice}")


def _by_id(out: dict) -> dict:
    return {c.elem_id: v for c, v in out.items() if getattr(c, "elem_id", None)}


def _battle(store: Store, prompt: str = SCRIPT) -> ArenaBattle:
    a = store.save_generation(_record(prompt, "args", "first <b>text</b>"))
    b = store.save_generation(_record(prompt, "rad", "second"))
    bid = store.create_battle(a, b, blind=True, left="b")
    view = store.battle(bid)
    return ArenaBattle(prompt, "", (None, None), "b", battle_id=bid, labels=(view.left.label, view.right.label),
                       texts=(view.left.text, view.right.text), ready_at=time.monotonic())


def test_the_page_has_every_part_with_a_store_and_notices_without(store, demo):
    ids = {b.elem_id for b in demo.blocks.values()}
    assert {"tab-arena", "tab-leaderboard", "annotator", "arena-next", "arena-set", "arena-typed", "arena-rationale",
            "arena-vote-left", "arena-vote-right", "arena-vote-tie", "arena-vote-both_bad", "arena-side-a",
            "arena-side-b", "arena-guidelines", "arena-status", "arena-progress", "lb-refresh", "lb-wins", "lb-table",
            "lb-battles", "export-dpo", "export-kto", "export-battles", "export-file", "compare-vote-left",
            "vote-first", "vote-second"} <= ids
    assert [t.id for t in TABS] == ["compare", "arena", "leaderboard"]
    votes = [f for f in demo.fns.values() if getattr(f.fn, "choice", None)
             and any(getattr(o, "elem_id", None) == "arena-status" for o in f.outputs)]
    assert sorted(f.fn.choice for f in votes) == ["both_bad", "left", "right", "tie"]
    assert len({f.fn.__code__ for f in votes}) == 1  # one handler, bound once per choice
    assert all(not f.queue for f in votes)  # votes never wait in the generation queue
    bare = build_ui(PresetEngine(scripts()), Settings(preset="fake"))
    bare_ids = {b.elem_id for b in bare.blocks.values()}
    assert {"arena-off", "lb-off"} <= bare_ids and not {"arena-next", "annotator", "compare-vote-left"} & bare_ids


def test_a_vote_reveals_the_names_and_locks_and_a_second_is_refused(store, demo):
    battle = _battle(store)
    out = _by_id(_vote_fn(demo, "left").fn(battle, ANN, SCRIPT, None))
    assert "vote is stored" in out["arena-status"] and "A was rad k=10; B was args." in out["arena-status"]
    assert '>rad k=10</div>' in out["arena-side-a"] and '>args</div>' in out["arena-side-b"]  # left was b
    assert 'title="rad(k=10) @fake"' in out["arena-side-a"]  # the full label in the tooltip
    assert out["arena-guidelines"]["open"] is False  # the first vote folds the guidelines
    assert "first &lt;b&gt;text&lt;/b&gt;" in out["arena-side-b"]
    assert all(out[f"arena-vote-{c}"]["interactive"] is False for c in ("left", "right", "tie", "both_bad"))
    voted = store.battle(battle.battle_id).vote
    assert voted.rationale == SCRIPT and voted.outcome == "b" and voted.ms_to_vote >= 0  # stored as typed

    again = _by_id(_vote_fn(demo, "tie").fn(battle, OTHER, None, None))
    assert "already has a vote" in again["arena-status"] and 'class="arena-status error"' in again["arena-status"]
    assert again["arena-vote-tie"]["interactive"] is False and store.counts()["votes"] == 1


def test_a_locked_database_shows_a_failure_and_keeps_the_buttons(store, demo, tmp_path):
    battle = _battle(store)
    lock = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        out = _by_id(_vote_fn(demo, "right").fn(battle, ANN, None, None))
    finally:
        lock.rollback()
        lock.close()
    assert "NOT stored" in out["arena-status"] and "error" in out["arena-status"]
    assert "vote is stored" not in out["arena-status"] and "arena-vote-right" not in out
    assert store.counts()["votes"] == 0


def test_messages_that_quote_typed_text_are_escaped(store, demo):
    battle = _battle(store)
    out = _by_id(_vote_fn(demo, "left").fn(battle, ANN, SCRIPT * 60, None))  # too long: refused
    assert "Vote refused" in out["arena-status"] and "&lt;script&gt;" in out["arena-status"]
    assert "<script>" not in out["arena-status"] and "arena-vote-left" not in out  # still open
    out = _by_id(_vote_fn(demo, "left").fn(dataclasses.replace(battle, battle_id=None), ANN, None, None))
    assert "no battle to vote on" in out["arena-status"]


def test_renderers_escape_prompt_text_labels_and_messages():
    assert "<script>" not in prompt_html(SCRIPT, "my<set>") and "&lt;script&gt;" in prompt_html(SCRIPT, "")
    side = side_html(0, SCRIPT, "writing...", label="args(x=\"<img>\")", error="<b>boom</b>")
    assert "<script>" not in side and "<img>" not in side and "<b>boom" not in side and "error: &lt;b&gt;" in side
    assert "&lt;script&gt;" in status_html(SCRIPT, "error") and 'role="alert"' in status_html("x", "error")
    assert verdict_text("both_bad", ("l", "r")) == "You voted both bad. A was l; B was r."


def test_next_battle_serves_a_stored_battle_waiting_for_votes(store, demo):
    a = store.save_generation({**_record(SCRIPT, "args", "<i>left?</i>"), "prompt_set": "reviews"})
    b = store.save_generation({**_record(SCRIPT, "rad", "right?"), "prompt_set": "reviews"})
    bid = store.create_battle(a, b, blind=True, left="a")
    block = next(f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "next_battle")
    assert block.api_name == "next_battle" and block.concurrency_id == "arena"  # a queue of its own
    generate = next(f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "generate")
    assert generate.concurrency_id == "accelerator" and block.concurrency_limit is None
    raw = block.fn("reviews", "", ANN, 0, None)  # one update: nothing to generate
    assert block.outputs[-1] not in raw  # the generation ticket is not bumped: nothing enters the queue
    out = _by_id(raw)
    assert "&lt;i&gt;left?&lt;/i&gt;" in out["arena-side-a"] and "right?" in out["arena-side-b"]
    assert "args" not in out["arena-side-a"] + out["arena-side-b"]  # still blind
    assert "&lt;script&gt;" in out["arena-prompt"] and "<script>" not in out["arena-prompt"]
    assert out["arena-vote-left"]["interactive"] is True and "Which continuation" in out["arena-status"]
    (battle,) = [v for v in raw.values() if isinstance(v, ArenaBattle)]
    assert battle.battle_id == bid
    voted = _by_id(_vote_fn(demo, "right").fn(battle, ANN, None, "reviews"))
    assert "B was rad k=10." in voted["arena-status"] and "1 of" in voted["arena-progress"]
    assert store.battle(bid).vote.outcome == "b"


def test_serving_looks_past_battles_other_sessions_claimed_meanwhile(store):
    """50 sessions asking at once all read the same oldest open battles: the ones that lose the race for
    those must look further instead of falling back to generating (which would wait for the accelerator)."""
    from playground.battles import SERVE_SCAN, Arena
    from playground.pool import load_pool

    ids = []
    for i in range(SERVE_SCAN + 5):
        a = store.save_generation({**_record(f"p{i}", "args", "x"), "prompt_set": "reviews"})
        b = store.save_generation({**_record(f"p{i}", "rad", "y"), "prompt_set": "reviews"})
        ids.append(store.create_battle(a, b, blind=True))
    arena = Arena(PresetEngine(scripts()), store, load_pool(None), "fake")
    read = store.battles_needing_votes

    def racing(limit, **kw):  # other sessions claim every battle this one has just read
        found = read(limit, **kw)
        for need in found:
            arena.claim(need.battle_id)
        store.battles_needing_votes = read  # only once
        return found

    store.battles_needing_votes = racing
    served = arena.serve("reviews")
    assert served is not None and served.battle_id in ids[SERVE_SCAN:]
    assert arena.serve("reviews") is not None  # the rest
    for _ in range(3):
        arena.serve("reviews")
    assert arena.serve("reviews") is None  # every open battle is held: now (and only now) nothing to serve


def test_the_progress_line_counts_a_vote_without_reading_every_battle_again(store, demo):
    from playground.battles import Arena
    from playground.pool import load_pool

    arena = Arena(PresetEngine(scripts()), store, load_pool(None), "fake")
    first = _battle(store, "p1")
    assert arena.judged_by(ANN, "") == set()  # read once from the store
    _, reply = arena.vote(first, "left", ANN, None)
    assert reply.ok and arena.judged_by(ANN, "") == {"p1"}  # kept up to date by the vote
    fresh = Arena(PresetEngine(scripts()), store, load_pool(None), "fake")
    assert fresh.judged_by(ANN, "") == {"p1"}  # what the store says agrees
