"""The streaming runner: interleaving, folding, throttling, cancellation and superseding runs."""

from __future__ import annotations

import threading
import time

from backends.decoders import GenerationRequest
from backends.events import Rewind
from playground.runner import PanelView, Runs, interleave, run_panels, session_stream
from tests.playground.fakes import FakeEngine, events_for, features, finished, scripts, step


def _requests(*decoders: str) -> list[GenerationRequest]:
    return [GenerationRequest(prompt="p", decoder=d, preset="fake") for d in decoders]


def test_interleave_is_round_robin_until_every_stream_ends():
    out = list(interleave([iter("ab"), iter("wxyz"), iter("")]))
    assert out == [(0, "a"), (1, "w"), (0, "b"), (1, "x"), (1, "y"), (1, "z")]


def test_run_panels_folds_every_event_and_ends_with_all_finished():
    engine = FakeEngine(scripts())
    snapshots = [[len(v.tokens) for v in views] for views in run_panels(engine, _requests("sampling", "args"))]
    views = list(run_panels(engine, _requests("sampling", "args")))[-1]
    assert all(v.done for v in views)
    assert [t.token_id for t in views[0].tokens] == [1, 2, 3, 4, 5, 6]
    assert views[1].notes == ["a note"] and views[1].text == "t1 t2 t9 t9 "
    assert snapshots[-1] == [6, 4]
    assert snapshots == sorted(snapshots)  # views only grow


def test_run_panels_throttles_by_tokens():
    engine = FakeEngine({"sampling": events_for(range(40))})
    many = list(run_panels(engine, _requests("sampling"), every_tokens=1, every_ms=1e9))
    few = list(run_panels(engine, _requests("sampling"), every_tokens=10, every_ms=1e9))
    assert len(many) > 40 and 4 <= len(few) <= 7


def test_a_failing_panel_does_not_stop_the_others():
    views = list(run_panels(FakeEngine(scripts()), _requests("boom", "sampling")))[-1]
    assert views[0].finished.stop_reason == "error" and "boom" in views[0].finished.error
    assert views[1].finished.stop_reason == "max_new_tokens" and len(views[1].tokens) == 6


def test_rewind_cuts_the_view_back():
    view = PanelView(_requests("sampling")[0])
    for e in (step(0, 1), step(1, 2), step(2, 3), Rewind(1), step(1, 7)):
        view.apply(e)
    assert [t.token_id for t in view.tokens] == [1, 7]


def test_feature_steps_are_kept_by_token_and_a_rewind_drops_those_past_the_cut():
    view = PanelView(_requests("sampling")[0])
    for e in (step(0, 1), features(0, 0.0, base_token=1), step(1, 2), features(1, 0.4), step(2, 3),
              features(2, 0.9)):
        view.apply(e)
    assert [f.distance for f in view.feature_steps()] == [0.0, 0.4, 0.9]
    view.apply(Rewind(1))
    assert sorted(view.features) == [0] and [t.token_id for t in view.tokens] == [1]
    for e in (step(1, 7), features(1, 0.2), step(2, 8)):  # token 2's trace has not arrived yet
        view.apply(e)
    assert [(f.index, f.distance) for f in view.feature_steps()] == [(0, 0.0), (1, 0.2)]


def test_run_panels_folds_feature_steps_and_throttles_on_tokens_only():
    steps = [step(i, t) for i, t in enumerate([4, 5, 6])]
    script = [e for i, s in enumerate(steps) for e in (s, features(i, 0.1 * i))] + [finished(steps)]
    engine = FakeEngine({"sampling": script, "args": events_for([1, 2, 3])})
    snapshots = list(run_panels(engine, _requests("sampling", "args"), every_tokens=1, every_ms=1e9))
    views = snapshots[-1]
    assert [f.distance for f in views[0].feature_steps()] == [0.0, 0.1, 0.2]
    assert views[1].features == {} and all(v.done for v in views)
    assert len(snapshots) <= 5  # 6 tokens / 2 panels, the two Finished, the last (feature steps add none)


def test_cancel_ends_every_panel_promptly():
    engine = FakeEngine({"sampling": events_for(range(200))}, delay=0.002)
    cancel = threading.Event()
    started = time.perf_counter()
    for views in run_panels(engine, _requests("sampling", "sampling"), cancel, every_tokens=1):
        if len(views[0].tokens) >= 3:
            cancel.set()
    assert all(v.finished.stop_reason == "cancelled" for v in views)
    assert all(len(v.tokens) < 20 for v in views)
    assert time.perf_counter() - started < 2


def test_runs_stop_and_finish_only_touch_their_own_session():
    runs = Runs()
    a, b = runs.start("a"), runs.start("b")
    runs.stop("a")
    assert a.is_set() and not b.is_set()
    newer = runs.start("a")
    runs.finish("a", a)  # an old run ending must not forget the newer one
    runs.stop("a")
    assert newer.is_set()


def test_a_second_run_supersedes_the_first_without_corrupting_either():
    engine = FakeEngine({"sampling": events_for(range(300)), "args": events_for([7, 8, 9])}, delay=0.002)
    runs, first_views, first_done = Runs(), [], threading.Event()

    def first():
        for views, _ in session_stream(engine, runs, "s", _requests("sampling", "sampling"), every_tokens=1):
            first_views[:] = views
        first_done.set()

    worker = threading.Thread(target=first)
    worker.start()
    while not first_views or len(first_views[0].tokens) < 5:
        time.sleep(0.005)
    second = [views for views, _ in session_stream(engine, runs, "s", _requests("args", "args"))][-1]
    worker.join(5)
    assert first_done.is_set()
    assert [v.finished.stop_reason for v in first_views] == ["cancelled", "cancelled"]
    assert all([t.token_id for t in v.tokens] == list(range(len(v.tokens))) for v in first_views)
    assert [v.finished.stop_reason for v in second] == ["max_new_tokens", "max_new_tokens"]
    assert all([t.token_id for t in v.tokens] == [7, 8, 9] for v in second)
    assert runs.flags == {}


def test_session_stream_reports_slow_model_loading_first():
    engine = FakeEngine(scripts(), warm_delay=0.5)
    out = list(session_stream(engine, Runs(), "s", _requests("sampling")))
    messages = [m for _, m in out if m]
    assert messages and "loading policy model tiny" in messages[0]
    assert out[-1][0][0].done and out[-1][1] == ""


def test_session_stream_says_when_a_model_cannot_load_and_still_runs():
    engine = FakeEngine(scripts(), warm_error=FileNotFoundError("zoo:tiny-sft not found in assets/zoo"))
    out = list(session_stream(engine, Runs(), "s", _requests("sampling")))
    assert any("could not load" in m and "zoo:tiny-sft" in m for _, m in out)
    assert out[-1][0][0].done and "could not load" in out[-1][1]  # the notice stays up
