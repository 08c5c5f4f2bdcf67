"""Security cases at the UI's boundaries in public mode: path probing through the free-text model
fields (refused by the Engine before anything is resolved, the same answer whether a path exists,
no path in the message), a visitor's vote under another annotator's id or a made-up one, exports
and annotator ids without the operator's token, and a public leaderboard that names no annotator.
Runs on the embedded zoo (offline) and SQLite."""

from __future__ import annotations

import pytest

from backends.allowlist import allowed_models
from backends.decoders import GenerationRequest
from backends.engine import Engine
from backends.presets import PRESETS
from playground.leaderboard import ALL
from playground.settings import Settings
from playground.ui import build_ui
from storage import Store
from storage.access import issue_annotator
from tests.playground.fakes import PresetEngine, scripts

PROBES = ("../../../../etc/passwd", "/etc", "/home", "/no/such/folder", "~/.ssh", "C:\\Windows")
TOKEN = "operator-token-0123456789"


@pytest.fixture(scope="module")
def public_engine():
    preset = PRESETS["embedded"]
    return Engine(device="cpu", presets={"embedded": preset}, allowed_models=allowed_models([preset], {}))


def _request(decoder: str = "sampling", config: dict | None = None, rewards: dict | None = None,
             reward_config: dict | None = None) -> GenerationRequest:
    return GenerationRequest(prompt="Hello", decoder=decoder, config=config or {}, rewards=rewards or {},
                             reward_config=reward_config or {}, preset="embedded", seed=1, max_new_tokens=2)


FIELDS = {  # the free-text model fields a visitor can type, as requests
    "tqstar.baseline": lambda probe: _request("tqstar", {"baseline": probe}, {"sentiment": 1.0}),
    "dpo_implicit.aligned": lambda probe: _request("args", {}, {"dpo_implicit": 1.0},
                                                   {"dpo_implicit": {"aligned": probe}}),
    "dpo_implicit.reference": lambda probe: _request("args", {}, {"dpo_implicit": 1.0},
                                                     {"dpo_implicit": {"reference": probe}}),
    "preference.model": lambda probe: _request("args", {}, {"preference": 1.0},
                                               {"preference": {"preference": "kind", "model": probe}}),
}


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_model_field_cannot_probe_paths_in_public_mode(public_engine, field):
    answers = []
    for probe in PROBES:
        finished = public_engine.generate(FIELDS[field](probe))
        assert finished.stop_reason == "error" and "not accepted on this public server" in finished.error
        assert probe not in finished.error and "/etc" not in finished.error and "/home" not in finished.error
        answers.append(finished.error)
    assert len(set(answers)) == 1  # the same answer whether the path exists or not


def test_a_hub_id_outside_the_allowlist_is_refused_before_any_download(public_engine):
    finished = public_engine.generate(FIELDS["tqstar.baseline"]("someone/any-model"))
    assert finished.stop_reason == "error" and "'someone/any-model' is not offered on this public server" in \
        finished.error
    assert ("lm", "someone/any-model") not in public_engine._models


def test_the_presets_models_still_run_in_public_mode(public_engine):
    assert public_engine.generate(_request()).stop_reason in ("eos", "max_new_tokens")


@pytest.fixture
def store(tmp_path):
    with Store.open("sqlite:///" + str(tmp_path / "t.db")) as s:
        yield s


def _voted_store(store: Store, annotator: str) -> None:
    ids = []
    for decoder in ("args", "rad"):
        config = {"decoder": decoder}
        ids.append(store.save_generation({"prompt": "p", "decoder": decoder, "config": config, "rewards": {},
                                          "preset": "fake", "trace": [{"type": "finished", "text": decoder,
                                                                       "stop_reason": "eos", "config": config,
                                                                       "seed": 1}]}))
    store.cast_vote(store.create_battle(*ids, blind=True, left="a"), annotator, "left")


def test_exports_and_annotator_ids_are_closed_to_visitors(store):
    secret_id = issue_annotator(b"k" * 32)
    _voted_store(store, secret_id)
    open_public = build_ui(PresetEngine(scripts()), Settings(preset="fake", public=True), store=store)
    assert not {"export-dpo", "export-battles", "lb-annotators"} & {b.elem_id for b in open_public.blocks.values()}
    refresh = next(f.fn for f in open_public.fns.values() if getattr(f.fn, "__name__", "") == "refresh")
    board = "".join(str(v) for v in refresh(False, ALL, None, None, False).values())
    assert secret_id not in board and "annotator 1" in board
    guarded = build_ui(PresetEngine(scripts()), Settings(preset="fake", public=True, operator_token=TOKEN),
                       store=store)
    battles = next(f.fn for f in guarded.fns.values() if getattr(f.fn, "format", None) == "battles")
    for guess in (None, "", "x" * 40, TOKEN.upper(), TOKEN + " x"):
        out = {c.elem_id: v for c, v in battles(guess, False, ALL, None, None).items()}
        assert out["export-file"] is None and "Nothing was exported" in out["lb-status"]


def test_a_visitor_cannot_vote_as_another_annotator_or_make_ids_up(store):
    settings = Settings(preset="fake", public=True)
    demo = build_ui(PresetEngine(scripts()), settings, store=store)
    vote = next(f.fn for f in demo.fns.values() if getattr(f.fn, "choice", None) == "left"
                and any(getattr(o, "elem_id", None) == "arena-status" for o in f.outputs))
    resolve = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "resolve")
    mine = resolve("", None)
    assert resolve(mine, None) == mine and resolve("hf:someone", None).startswith("anon-")  # cannot claim hf:
    assert resolve(issue_annotator(b"other-key-0123456789"), None) != mine
    for made_up in ("anon-aaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbb", "hf:someone", "annotator 1", mine + "x"):
        out = {getattr(c, "elem_id", None): v for c, v in vote(None, made_up, None, None, None, None).items()}
        assert "NOT stored" in out["arena-status"]
    assert store.counts()["votes"] == 0
