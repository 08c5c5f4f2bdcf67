"""The plotly figures: one line per panel per trace, honest titles, the final reward marked."""

from __future__ import annotations

from playground.runner import PanelView
from playground.traces import TRACES, reward_kl_figure, trace_figure
from tests.playground.fakes import events_for, step, view


def _rewarded(ids, value=None) -> PanelView:
    v = view([], done=False)
    steps = [step(i, t, reward=0.1 * i, value=value) for i, t in enumerate(ids)]
    for s in steps:
        v.apply(s)
    v.apply(events_for([])[-1].__class__(text="", stop_reason="eos", reward=0.9))
    return v


def test_trace_figure_has_one_line_per_panel_and_trace():
    fig = trace_figure([_rewarded([1, 2, 3], value=1.0), _rewarded([4, 5])], ["1: cd", "2: args"])
    names = [(t.name, t.yaxis) for t in fig.data]
    assert len(fig.data) == 4 + 3  # panel 2 has no value trace
    assert ("1: cd", "y2") in names and ("2: args", "y2") not in names
    assert [t.showlegend for t in fig.data].count(True) == 2  # one legend entry per panel
    assert list(fig.data[0].x) == [0, 1, 2]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [title for _, title in TRACES]
    assert "not a value function" in titles[0]


def test_trace_figure_of_nothing_is_empty():
    assert len(trace_figure([], []).data) == 0


def test_reward_kl_figure_marks_the_final_reward_at_the_total_kl():
    fig = reward_kl_figure([_rewarded([1, 2, 3])], ["1: args"])
    line, star = fig.data
    assert list(line.x) == [0.1, 0.2, 0.30000000000000004] and list(line.y) == [0.0, 0.1, 0.2]
    assert star.marker.symbol == "star" and list(star.y) == [0.9]
    assert "cumulative KL" in fig.layout.xaxis.title.text
