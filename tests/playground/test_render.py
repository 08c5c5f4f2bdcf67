"""Token HTML, rollouts, totals and the summary line: escaped, coloured, complete."""

from __future__ import annotations

from html.parser import HTMLParser

from backends.decoders import GenerationRequest
from backends.events import Note, Rollout
from playground.render import (
    reward_color,
    reward_range,
    rollouts_html,
    summary_html,
    token_html,
    totals_html,
)
from playground.runner import PanelView
from tests.playground.fakes import finished, rollouts_at, step, view

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def _view(*events, **request) -> PanelView:
    v = PanelView(GenerationRequest(prompt=request.pop("prompt", "p"), decoder="args", **request))
    for e in events:
        v.apply(e)
    return v


class _Tags(HTMLParser):
    """Every element and attribute name a browser would build from the HTML."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}


def _no_markup(html_text: str) -> None:
    """No element or event handler came from the text: it is all escaped."""
    parsed = _Tags(html_text)
    assert not parsed.tags & {"script", "img"}, parsed.tags
    assert not any(a.startswith("on") for a in parsed.attributes), parsed.attributes


def test_tokens_are_escaped_coloured_and_carry_panel_and_step():
    steps = [step(0, 5, text=SCRIPT, reward=0.0), step(1, 6, text=IMG, reward=1.0)]
    out = token_html(_view(*steps, Note(IMG), finished(steps)), 0.0, 1.0, panel=2)
    _no_markup(out)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert 'data-panel="2" data-step="0"' in out and 'data-panel="2" data-step="1"' in out
    assert "rgba(215,48,39" in out and "rgba(26,152,80" in out  # red low, green high
    assert "reward 0.000" in out and "reward 1.000" in out  # exact values in the tooltip
    assert "stopped: max_new_tokens" in out


def test_the_panel_head_shows_the_config_as_text():
    out = token_html(_view(config={"preference": SCRIPT + IMG}, rewards={"sentiment": 1.0}), 0, 1)
    _no_markup(out)
    assert "preference=" in out and "&lt;img src=x" in out and "sentiment×1" in out


def test_an_error_is_a_visible_escaped_message():
    out = token_html(_view(finished([], reward=None, stop="error", error=f"model {IMG} not found")), 0, 1)
    _no_markup(out)
    assert 'class="status error"' in out and "not found" in out


def test_waiting_message_before_the_first_token():
    assert "loading model X" in token_html(_view(), 0, 1, waiting="loading model X...")


def test_reward_color_diverges_and_handles_missing_values():
    assert reward_color(None, 0, 1) == "transparent" and reward_color(float("nan"), 0, 1) == "transparent"
    assert reward_color(0.0, 0, 1).startswith("rgba(215,48,39")
    assert reward_color(1.0, 0, 1).startswith("rgba(26,152,80")
    assert reward_color(5.0, 0, 1) == reward_color(1.0, 0, 1)  # clipped
    assert reward_range([]) == (0.0, 1.0)
    assert reward_range([_view(step(0, 1, reward=0.3))]) == (-0.2, 0.8)


def test_sequence_level_rollouts_list_every_sample_and_mark_the_kept_one():
    samples = [Rollout(group=0, index=i, text=f"{IMG} sample {i}", reward=r, kept=i == 1)
               for i, r in enumerate((0.1, 0.9, 0.5))]
    out = rollouts_html(_view(*samples))
    _no_markup(out)
    assert "3 rollouts scored" in out and out.count("<li") == 3 and out.count(">kept<") == 1


def test_unflagged_samples_get_their_best_marked_once_finished():
    samples = [Rollout(group=0, index=i, text=f"s{i}", reward=r) for i, r in enumerate((0.1, 0.9))]
    assert ">best<" not in rollouts_html(_view(*samples))
    assert rollouts_html(_view(*samples, finished([]))).count(">best<") == 1


def test_token_level_rollouts_show_the_latest_step():
    out = rollouts_html(_view(*rollouts_at(0, [1, 2], kept=1), *rollouts_at(1, [3, 4, 5], kept=4)))
    assert "5 rollouts scored; step 1" in out and out.count("<li") == 3 and "rollout after 4" in out


def test_totals_html_and_summary_line():
    v0, v1 = view([1, 2, 3]), view([1, 9, 3])
    assert "diverges at step" in totals_html(v1, 1) and "<td>1</td>" in totals_html(v1, 1)
    out = summary_html([v0, v1], 0.0, 1.0, message="loading model X...")
    assert "diverge at step <b>1</b>" in out and "loading model X" in out
    v2 = PanelView(GenerationRequest(prompt=SCRIPT + IMG))
    out = summary_html([v2, v2], 0.0, 1.0)
    _no_markup(out)
    assert "&lt;script&gt;" in out
