"""Light streaming: each payload carries only what changed; the end sends all."""

from __future__ import annotations

import json

from backends.decoders import GenerationRequest
from backends.events import Note
from playground.live import LiveRun
from playground.render import summary_html
from playground.runner import PanelView
from tests.playground.fakes import finished, step


def _views(n: int = 2) -> list[PanelView]:
    return [PanelView(GenerationRequest(prompt="p", decoder="sampling")) for _ in range(n)]


def _payload(live: LiveRun, views, final=False) -> dict:
    return json.loads(live.delta(views, "", final))


def test_each_payload_holds_only_the_new_tokens_and_the_pieces_that_changed():
    live, views = LiveRun(), _views()
    first = _payload(live, views)
    assert {"head", "status", "details"} <= set(first["panels"][0]) and "summary" in first
    for i, token in enumerate([5, 6, 7]):
        views[0].apply(step(i, token, reward=0.1 * i))
    second = _payload(live, views)
    p0, p1 = second["panels"]
    assert p0["from"] == 0 and p0["tokens"].count('class="tok"') == 3 and p0["trace"]["x"] == [0, 1, 2]
    assert "head" not in p0 and "head" not in p1 and p1["tokens"] == "" and "status" not in p1
    views[0].apply(step(3, 8))
    third = _payload(live, views)["panels"][0]
    assert third["from"] == 3 and third["tokens"].count('class="tok"') == 1 and third["trace"]["x"] == [3]
    assert third["trace"]["reward"] == [0.5] and 'data-r="0.5"' in third["tokens"]
    assert len({live.run for _ in range(2)}) == 1 and second["run"] == first["run"] and second["seq"] == 1


def test_the_final_payload_sends_every_panel_whole():
    live, views = LiveRun(), _views()
    steps = [step(0, 1), step(1, 2)]
    for v in views:
        for s in steps:
            v.apply(s)
    views[1].apply(Note("a note"))
    _payload(live, views)
    for v in views:
        v.apply(finished(steps))
    end = _payload(live, views, final=True)
    assert end["final"] and "summary" in end
    for panel in end["panels"]:
        assert panel["reset"] and panel["tokens"].count('class="tok"') == 2
        assert "stopped: max_new_tokens" in panel["status"] and "totals" in panel["details"]
    assert "a note" in end["panels"][1]["head"]


def test_the_summary_says_which_panels_failed_and_never_calls_failures_identical():
    ok, bad, worse = _views(3)
    ok.apply(step(0, 1))
    ok.apply(finished([step(0, 1)]))
    for v in (bad, worse):
        v.apply(finished([], reward=None, stop="error", error="no model"))
    every = summary_html([bad, worse], 0.0, 1.0)
    assert "Every panel failed" in every and "identical" not in every and "diverge" not in every
    one = summary_html([ok, bad], 0.0, 1.0)
    assert "Panel 2 failed" in one and "identical" not in one and "diverge" not in one
