"""PRS: rounds of samples, feedback, revisions, and the best of all."""

from __future__ import annotations

import pytest

from backends.decoders import GenerationRequest
from backends.events import Note, Rollout, TokenStep


def _req(config: dict, **kw) -> GenerationRequest:
    base = dict(prompt="Write a review of the film.", decoder="prs", preset="fake", seed=2, max_new_tokens=8,
                rewards={"sentiment": 1.0}, config={"preference": "Be kind.", **config})
    return GenerationRequest(**{**base, **kw})


def test_prs_rounds_feedback_and_best_of_all(engine):
    events = list(engine.stream(_req({"n0": 3, "n1": 2, "depth": 2})))
    done = events[-1]
    assert done.stop_reason != "error", done.error
    rollouts = [e for e in events if isinstance(e, Rollout)]
    assert [r.group for r in rollouts] == [0, 0, 0, 1, 1, 2, 2]
    notes = [e.text for e in events if isinstance(e, Note)]
    assert sum(n.startswith("feedback (round") for n in notes) == 2
    best = max(rollouts, key=lambda r: r.reward)
    assert done.text == best.text
    assert done.reward == pytest.approx(best.reward, abs=1e-5)
    steps = [e for e in events if isinstance(e, TokenStep)]
    assert "".join(s.text for s in steps) == done.text and all(s.kl >= 0 for s in steps)


@pytest.mark.parametrize("preference", ["", "   "])
def test_prs_needs_a_preference(engine, preference):
    done = engine.generate(_req({"preference": preference}))
    assert done.stop_reason == "error" and "prs.preference" in done.error


def test_prs_bounds(engine):
    for key, value in (("n0", 0), ("n0", 10**6), ("depth", 9)):
        done = engine.generate(_req({key: value}))
        assert done.stop_reason == "error" and f"prs.{key}={value}" in done.error


def test_prompts_too_long_are_cut_from_the_front_with_a_note_or_refused(engine):
    """A preference that just fits beside the prompt makes the feedback request and the revision prompt
    overflow the context (128 tokens here): each is cut from the front and a Note says so; a revision
    prompt whose quoted answer and feedback alone do not fit is refused, never silently shortened."""
    lm = engine.language_model(engine.preset("fake").policy)
    prompt = "Write a review of the film."
    n = max(n for n in range(1, 60) if len(lm.encode(f"User: {prompt} {'Be kind. ' * n}\nAssistant:")) + 8 <= 128)
    config = {"n0": 2, "n1": 1, "feedback_tokens": 200, "preference": "Be kind. " * n, "revision": "feedback"}
    events = list(engine.stream(_req(config, prompt=prompt)))
    assert events[-1].stop_reason != "error", events[-1].error
    notes = [e.text for e in events if isinstance(e, Note)]
    assert any(t.startswith("feedback (round 1)") for t in notes)
    assert any("feedback request was cut from the front" in t for t in notes)
    assert any("revision prompt of round 1 was cut from the front" in t for t in notes)
    assert any("feedback limited to 64 tokens" in t for t in notes)
    done = engine.generate(_req({**config, "revision": "answer"}, prompt=prompt))
    assert done.stop_reason == "error" and "would drop the answer or feedback" in done.error


def test_the_revision_setting_offers_exactly_the_revision_prompts():
    from backends.config import fields
    from backends.decoders import DECODERS, prs

    [revision] = [f for f in fields(DECODERS.card("prs").Config) if f.name == "revision"]
    assert revision.choices == tuple(prs.REVISIONS)
