"""The token inspector: the candidate table of a step and the rollouts behind its values."""

from __future__ import annotations

from backends.events import Candidate, Rollout
from playground.inspector import candidate_rows, inspector_html, step_rollouts
from tests.playground.fakes import features, rollouts_at, step, view

CANDS = (Candidate(7, "<b>x</b>", -0.5, reward=0.9, value=1.2, score=0.3),
         Candidate(8, "y", -1.5, reward=0.1, value=0.2, score=-0.4))


def _panel():
    v = view([], decoder="cd", done=False)
    for e in (*rollouts_at(0, [7, 8], kept=7), step(0, 7, candidates=CANDS), step(1, 3)):
        v.apply(e)
    return v


def test_candidate_rows_mark_the_chosen_token():
    rows = candidate_rows(_panel(), 0)
    assert [r["id"] for r in rows] == [7, 8]
    assert [r["chosen"] for r in rows] == [True, False]
    assert rows[0] | {"token": None} == {"token": None, "id": 7, "log p base": -0.5, "reward": 0.9, "value": 1.2,
                                         "score": 0.3, "chosen": True}
    assert candidate_rows(_panel(), 1) == [] and candidate_rows(_panel(), 99) == []


def test_step_rollouts_select_by_step():
    assert [r.candidate for r in step_rollouts(_panel(), 0)] == [7, 8]
    assert step_rollouts(_panel(), 1) == []


def test_inspector_html_shows_table_and_rollout_texts_escaped():
    out = inspector_html([view([1]), _panel()], 1, 0)
    assert "<b>x</b>" not in out and "&#x27;&lt;b&gt;x&lt;/b&gt;&#x27;" in out
    assert out.count('<tr class="chosen">') == 1
    assert "Rollouts behind the values (2)" in out and "rollout after 7" in out and "(kept)" in out


def test_inspector_html_explains_what_it_cannot_show():
    assert "Run a comparison first" in inspector_html([], 0, 0)
    assert "No panel 3" in inspector_html([view([1])], 2, 0)
    assert "has no step 5" in inspector_html([view([1])], 0, 5)
    assert "did not rank next-token candidates" in inspector_html([view([1])], 0, 0)


def test_inspector_lists_whole_samples_for_sequence_level_decoders():
    v = view([1, 2], decoder="best_of_n", done=False)
    v.apply(Rollout(group=0, index=0, text="<img src=x onerror=alert(1)>", reward=0.4, kept=True))
    out = inspector_html([v], 0, 1)
    assert "Whole samples the decoder ranked (1)" in out and "<img" not in out


def test_rollouts_follow_the_candidate_table_order():
    v = view([], decoder="cd", done=False)
    order = (CANDS[1], CANDS[0])  # the decoder ranked 8 above 7
    for e in (*rollouts_at(0, [7, 8], kept=8), step(0, 8, candidates=order)):
        v.apply(e)
    out = inspector_html([v], 0, 0)
    assert out.index("rollout after 8") < out.index("rollout after 7")


EVIL = "<img src=x onerror=alert(1)>"


def _traced():
    v = view([], decoder="fpo", done=False, features=True)
    for e in (step(0, 7, text="<b>"), features(0, 0.4321, base_token=9, base_text=EVIL, overlap=1 / 3,
                                                mine=(3, 1, 4), theirs=(1, 5, 9, 2)), step(1, 8)):
        v.apply(e)
    return v


def test_inspector_shows_the_features_of_both_sides_escaped_and_marks_the_shared_one():
    out = inspector_html([_traced()], 0, 0)
    section = out[out.index("Sparse-autoencoder features"):]
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in section and "<b>'" not in out
    assert "0.4321" in section and "33%" in section and "(id 9)" in section
    assert "chose &#x27;&lt;b&gt;&#x27; instead" in section
    assert section.count("<mark") == 2  # feature 1 is a top feature of both: marked on each side
    assert '<mark title="a top feature of both">#1</mark>' in section and ">#3<" in section and ">#9<" in section
    rows = section[section.index("<tbody>"):].split("<tr>")[1:]
    assert len(rows) == 4  # the longer side (the base's four features) sets the rows
    assert "<td>2.000</td>" in rows[0] and "<td>1.500</td>" in rows[0]  # activations, descending
    assert rows[3].startswith("<td></td><td></td><td>#2</td>")


def test_inspector_says_when_a_traced_step_has_no_features_and_is_silent_otherwise():
    assert "No feature trace for this step" in inspector_html([_traced()], 0, 1)
    assert "feature" not in inspector_html([view([1, 2])], 0, 1).lower()


def test_same_token_as_the_base_says_so():
    v = view([], done=False, features=True)
    v.apply(step(0, 9))
    v.apply(features(0, 0.0, base_token=9, overlap=1.0, mine=(1, 2), theirs=(1, 2)))
    out = inspector_html([v], 0, 0)
    assert "the decoder took the same token" in out and "100%" in out and out.count("<mark") == 4
