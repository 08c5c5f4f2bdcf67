"""Public mode and storage failures as the page shows them: settings from the environment, the
start-up check, votes from ids the server did not issue, signed-in votes, rate limits, and a
database that refuses writes (the reply says NOT stored and why, and shows no server path)."""

from __future__ import annotations

import threading
import time

import gradio as gr
import pytest
from sqlalchemy import event

from playground.battles import ArenaBattle
from playground.escape import markdown_text
from playground.settings import Settings, hide_model_fields, public_models
from playground.ui import PendingStore, build_ui, open_store
from storage import Retry, Store, StoreUnavailable
from storage.access import Forbidden, issue_annotator
from tests.playground.fakes import PresetEngine, scripts

FAST = Retry(attempts=2, base_s=0.01, max_s=0.02)
TOKEN = "operator-token-0123456789"


def _read_only(store: Store) -> Store:
    @event.listens_for(store.engine, "connect")
    def _refuse_writes(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    store.engine.dispose()
    return store


@pytest.fixture
def store(tmp_path):
    with Store.open("sqlite:///" + str(tmp_path / "t.db"), retry=FAST, busy_timeout_ms=50) as s:
        yield s


def _battle(store: Store) -> ArenaBattle:
    ids = []
    for decoder, text in (("args", "one"), ("rad", "two")):
        config = {"decoder": decoder}
        ids.append(store.save_generation({"prompt": "p", "decoder": decoder, "config": config, "rewards": {},
                                          "preset": "fake", "trace": [{"type": "finished", "text": text,
                                                                       "stop_reason": "eos", "config": config,
                                                                       "seed": 1}]}))
    bid = store.create_battle(*ids, blind=True, left="a")
    view = store.battle(bid)
    return ArenaBattle("p", "", (), "a", battle_id=bid, labels=(view.left.label, view.right.label),
                       texts=("one", "two"), ready_at=time.monotonic())


def _vote(demo, choice: str = "left"):
    fn = next(f.fn for f in demo.fns.values() if getattr(f.fn, "choice", None) == choice
              and any(getattr(o, "elem_id", None) == "arena-status" for o in f.outputs))
    return lambda *args, profile=None: {c.elem_id: v for c, v in fn(*args, None, profile).items()
                                        if getattr(c, "elem_id", None)}


def test_public_mode_is_on_on_a_space_and_every_setting_is_read_and_checked():
    local, space = Settings.from_env({}), Settings.from_env({"SPACE_ID": "me/app"})
    assert not local.public and space.public and Settings.from_env({"PLAYGROUND_PUBLIC": "1"}).public
    assert not Settings.from_env({"SPACE_ID": "me/app", "PLAYGROUND_PUBLIC": "0"}).public
    assert space.login and not local.login and Settings.from_env({"PLAYGROUND_HF_LOGIN": "1"}).login
    assert hide_model_fields(space) and not hide_model_fields(local)
    env = {"PLAYGROUND_MODEL_ALLOWLIST": "zoo:a, zoo:b", "PLAYGROUND_OPERATOR_TOKEN": TOKEN,
           "PLAYGROUND_VOTES_PER_MINUTE": "5", "PLAYGROUND_CLIENT_VOTES_PER_MINUTE": "0",
           "PLAYGROUND_TORCH_THREADS": "4"}
    s = Settings.from_env(env)
    assert (s.allowlist, s.exports, s.votes_per_minute, s.client_votes_per_minute, s.torch_threads) \
        == (("zoo:a", "zoo:b"), True, 5, 0, "4")
    assert TOKEN not in repr(s) and not local.exports
    for name, bad in (("PLAYGROUND_QUEUE_SIZE", "many"), ("PLAYGROUND_VOTES_PER_MINUTE", "-1"),
                      ("PLAYGROUND_TORCH_THREADS", "0"), ("PLAYGROUND_HF_LOGIN", "maybe")):
        with pytest.raises(ValueError, match=f"{name}={bad!r}"):
            Settings.from_env({name: bad})
    with pytest.raises(Forbidden, match="shorter than 16 characters"):
        Settings.from_env({"PLAYGROUND_OPERATOR_TOKEN": "short"})


def test_public_messages_show_no_server_path():
    text = ("could not store the vote: the database sqlite:////srv/app/storage/playground.db is read-only; "
            "folder /home/me/models/x or C:\\data\\x; keep a/b and 3/4")
    shown = Settings(public=True).shown(text)
    assert "/srv" not in shown and "/home" not in shown and "C:\\" not in shown and shown.count("[server path]") == 3
    assert "a/b" in shown and "3/4" in shown and Settings().shown(text) == text


def test_the_start_up_check_turns_voting_off_when_the_database_cannot_store(store, tmp_path, monkeypatch):
    opened, note = open_store("sqlite:///" + str(tmp_path / "ok.db"))
    assert opened is not None and note == "" and opened.counts()["annotators"] == 0  # the test row is gone
    opened.close()
    monkeypatch.setattr(Store, "open", classmethod(lambda cls, url=None: _read_only(store)))
    none, note = open_store("sqlite:///" + str(tmp_path / "t.db"), Settings(public=True))
    assert none is None and "cannot store votes, so voting is off" in note and markdown_text("read-only") in note
    assert str(tmp_path) not in note  # public: no server path
    demo = build_ui(PresetEngine(scripts()), Settings(preset="fake"), store=none, store_note=note)
    assert {"arena-off", "lb-off"} <= {b.elem_id for b in demo.blocks.values()}


def _banner(demo) -> dict:
    """What the header's "voting is off" line shows once the page has loaded."""
    off = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "store-off")
    return next(f.fn for f in demo.fns.values() if off in f.outputs)()


def test_a_store_opened_after_the_page_waits_for_its_open_then_serves_the_calls(tmp_path):
    pending = PendingStore("sqlite:///" + str(tmp_path / "late.db"))
    demo = build_ui(PresetEngine(scripts()), Settings(preset="fake"), store=pending)
    ids = {b.elem_id for b in demo.blocks.values()}
    assert "arena-off" not in ids and "lb-off" not in ids and "store-off" in ids  # built as with a store
    got: list = []
    reader = threading.Thread(target=lambda: got.append(pending.counts()))  # a call before the open waits
    reader.start()
    time.sleep(0.2)
    assert reader.is_alive() and not got
    pending.open()
    reader.join(10)
    assert got == [pending.counts()] and got[0]["votes"] == 0 and pending.note == ""
    assert _banner(demo)["visible"] is False
    pending.close()


def test_a_store_that_cannot_be_opened_after_the_page_says_why_on_every_call_and_in_the_header(
        store, tmp_path, monkeypatch):
    monkeypatch.setattr(Store, "open", classmethod(lambda cls, url=None: _read_only(store)))
    settings = Settings(preset="fake", public=True)
    pending = PendingStore("sqlite:///" + str(tmp_path / "t.db"), settings)
    demo = build_ui(PresetEngine(scripts()), settings, store=pending)
    battle = _battle(store)  # stored before the database turns read-only
    pending.open()  # never raises: the reason is kept
    assert "cannot store votes, so voting is off" in pending.note and str(tmp_path) not in pending.note
    with pytest.raises(StoreUnavailable, match="cannot store votes"):
        pending.counts()
    shown = _banner(demo)
    assert shown["visible"] is True and shown["value"] == markdown_text(pending.note) and "read-only" in pending.note
    assert "\\" not in pending.note  # plain text: the Arena's HTML status lines show it as it is
    out = _vote(demo)(battle, issue_annotator(settings.annotator_key), None, None)
    assert "Your vote was NOT stored" in out["arena-status"] and "cannot store votes" in out["arena-status"]
    never = PendingStore("sqlite:///" + str(tmp_path / "never.db"), wait_s=0.05)  # open never called
    with pytest.raises(StoreUnavailable, match="still being opened"):
        never.counts()


def test_a_read_only_database_says_the_vote_was_not_stored_and_why(store):
    settings = Settings(preset="fake", public=True)
    demo = build_ui(PresetEngine(scripts()), settings, store=store)
    battle, who = _battle(store), issue_annotator(settings.annotator_key)
    _read_only(store)
    out = _vote(demo)(battle, who, None, None)
    assert "Your vote was NOT stored (read-only)" in out["arena-status"] and "error" in out["arena-status"]
    assert "[server path]" in out["arena-status"] and "t.db" not in out["arena-status"]
    assert "arena-vote-left" not in out  # still open: the annotator may vote again once it is fixed


def test_a_vote_from_an_id_the_server_did_not_issue_is_not_stored(store):
    settings = Settings(preset="fake")
    demo = build_ui(PresetEngine(scripts()), settings, store=store)
    battle = _battle(store)
    for forged in ("anon-0123456789", issue_annotator(b"x" * 32), "hf:alice"):
        out = _vote(demo)(battle, forged, None, None)
        assert "Your vote was NOT stored: vote.annotator: not an annotator id this server issued" in \
            out["arena-status"]
    assert store.counts()["votes"] == 0
    profile = gr.OAuthProfile({"preferred_username": "alice", "name": "A", "profile": "", "picture": ""})
    out = _vote(demo)(battle, "anon-forged", None, None, profile=profile)
    assert "vote is stored" in out["arena-status"] and store.battle(battle.battle_id).vote.annotator_id == "hf:alice"


def test_votes_over_the_rate_limit_are_refused_with_the_wait(store):
    settings = Settings(preset="fake", votes_per_minute=1)
    demo = build_ui(PresetEngine(scripts()), settings, store=store)
    who = issue_annotator(settings.annotator_key)
    assert "vote is stored" in _vote(demo)(_battle(store), who, None, None)["arena-status"]
    out = _vote(demo, "tie")(_battle(store), who, None, None)
    assert "NOT stored: too many votes per annotator (at most 1 a minute)" in out["arena-status"]
    assert store.counts()["votes"] == 1


def test_a_signed_in_header_has_the_login_button_and_a_read_only_id_box(store, monkeypatch):
    import gradio.oauth

    # As on a Space with `hf_oauth: true` (Gradio reads these when the page gets its login routes).
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "me/app")
    monkeypatch.setattr(gradio.oauth, "OAUTH_CLIENT_ID", "client-id")
    monkeypatch.setattr(gradio.oauth, "OAUTH_CLIENT_SECRET", "client-secret")
    monkeypatch.setattr(gradio.oauth, "OAUTH_SCOPES", "openid profile")
    monkeypatch.setattr(gradio.oauth, "OPENID_PROVIDER_URL", "https://huggingface.co")
    demo = build_ui(PresetEngine(scripts()), Settings(preset="fake", login=True), store=store)
    blocks = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert isinstance(blocks["hf-login"], gr.LoginButton) and blocks["annotator"].interactive is False
    plain = build_ui(PresetEngine(scripts()), Settings(preset="fake"), store=store)
    assert "hf-login" not in {b.elem_id for b in plain.blocks.values()}


def test_public_models_are_the_start_up_presets_the_zoo_the_operators_and_the_allowlist():
    from backends.presets import PRESETS, Preset

    assert public_models(Settings(), PRESETS, PRESETS) is None  # private: any id
    mine = Preset(name="mine", description="from a preset file", policy="runs/dpo/model")
    presets = {**PRESETS, "mine": mine}
    allowed = public_models(Settings(public=True, allowlist=("org/extra",)), presets, PRESETS, ["emb"])
    assert {"zoo:tiny-sft", "runs/dpo/model", "org/extra", "emb"} <= allowed
    hub = {i for name, p in PRESETS.items() for i in (p.policy, p.base) if i and not i.startswith("zoo:")}
    assert hub and not hub & allowed  # a built-in hub preset's models are not downloaded for a visitor
    chosen = next(name for name, p in PRESETS.items() if not p.policy.startswith("zoo:"))
    assert PRESETS[chosen].policy in public_models(Settings(public=True, preset=chosen), PRESETS, PRESETS)
