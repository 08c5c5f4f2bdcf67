"""The streaming runner: interleaving, folding, throttling, cancellation and superseding runs."""

from __future__ import annotations

import threading
import time

from backends.decoders import GenerationRequest
from playground.runner import FairShare, Halted, PanelView, Runs, run_panels, session_stream
from tests.playground.fakes import FakeEngine, events_for, features, finished, scripts, step


def _requests(*decoders: str) -> list[GenerationRequest]:
    return [GenerationRequest(prompt="p", decoder=d, preset="fake") for d in decoders]


class PacedEngine(FakeEngine):
    """Each decoder's events take their own time: `pace[decoder]` seconds of work per event."""

    def __init__(self, scripts, pace):
        super().__init__(scripts)
        self.pace = pace

    def stream(self, request, cancel=None):
        for event in super().stream(request, cancel):
            time.sleep(self.pace[request.decoder])
            yield event


def _panel_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("panel-")]


def test_fair_share_gives_the_next_turn_to_the_live_stream_that_used_least():
    share = FairShare(3)
    share.used[:] = [0.5, 0.2, 0.1]
    order = []

    def take(index):
        with share.turn(index):
            order.append(index)
        share.leave(index)  # a live stream always wants another turn; this one is done

    threads = [threading.Thread(target=take, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    assert order == []  # stream 2 used least: the others wait for it
    share.leave(2)
    for t in threads:
        t.join(2)
    assert order == [1, 0]
    share.halt()
    try:
        with share.turn(0):
            raise AssertionError("a halted share gives no turn")
    except Halted:
        pass


def test_a_fast_panel_is_not_held_to_its_slow_neighbours_pace():
    engine = PacedEngine({"sampling": events_for(range(20)), "tqstar": events_for(range(20))},
                         pace={"sampling": 0.001, "tqstar": 0.03})
    slow_tokens_when_fast_done = None
    for views in run_panels(engine, _requests("sampling", "tqstar"), every_tokens=1, every_ms=1e9):
        if views[0].done and slow_tokens_when_fast_done is None:
            slow_tokens_when_fast_done = len(views[1].tokens)
    assert all(v.done for v in views)
    assert slow_tokens_when_fast_done is not None and slow_tokens_when_fast_done < 10  # lockstep: 20
    assert views[0].compute_s < views[1].compute_s  # each panel's own time, not the wall time it waited


def test_closing_the_run_ends_every_worker():
    engine = PacedEngine({"sampling": events_for(range(500))}, pace={"sampling": 0.002})
    stream = run_panels(engine, _requests("sampling", "sampling", "sampling"), every_tokens=1)
    views = next(stream)
    assert len(_panel_threads()) == 3
    stream.close()
    assert _panel_threads() == []
    assert not all(v.done for v in views)


def test_a_stream_that_raises_ends_its_panel_with_the_error():
    class Broken(FakeEngine):
        def stream(self, request, cancel=None):
            if request.decoder == "boom":
                raise RuntimeError("no such model")
            yield from super().stream(request, cancel)

    views = list(run_panels(Broken(scripts()), _requests("boom", "sampling")))[-1]
    assert views[0].finished.stop_reason == "error" and "no such model" in views[0].finished.error
    assert views[1].done and len(views[1].tokens) == 6


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


def test_feature_steps_are_kept_by_token():
    view = PanelView(_requests("sampling")[0])
    for e in (step(0, 1), features(0, 0.0, base_token=1), step(1, 2), features(1, 0.4), step(2, 3)):
        view.apply(e)  # token 2's trace has not arrived yet
    assert [(f.index, f.distance) for f in view.feature_steps()] == [(0, 0.0), (1, 0.4)]


def test_run_panels_folds_feature_steps_and_throttles_on_tokens_only():
    steps = [step(i, t) for i, t in enumerate([4, 5, 6])]
    script = [e for i, s in enumerate(steps) for e in (s, features(i, 0.1 * i))] + [finished(steps)]
    engine = FakeEngine({"sampling": script, "args": events_for([1, 2, 3])})
    snapshots = list(run_panels(engine, _requests("sampling", "args"), every_tokens=1, every_ms=1e9))
    views = snapshots[-1]
    assert [f.distance for f in views[0].feature_steps()] == [0.0, 0.1, 0.2]
    assert views[1].features == {} and all(v.done for v in views)
    assert len(snapshots) <= 6  # first event, 6 tokens / 2 panels, two Finished, the last (features add none)


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
    assert _panel_threads() == []


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
