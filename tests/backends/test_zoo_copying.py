"""Tests of the copy phase's data (backends.zoo.copying): broad names and composed requests whose
replies repeat the whole name, and none of the on-topic bar's held-out names or phrasings."""

import random
import re

import pytest

from backends.zoo import copying, corpus, heldout


@pytest.fixture(scope="module")
def examples():
    return copying.generate(3000, 21)


def test_same_seed_same_examples_and_seeds_differ():
    assert [e.text for e in copying.generate(50, 3)] == [e.text for e in copying.generate(50, 3)]
    assert [e.text for e in copying.generate(50, 3)] != [e.text for e in copying.generate(50, 4)]
    with pytest.raises(ValueError, match="`n`"):
        copying.generate(-1, 0)


def test_examples_are_labelled_reviews_whose_reply_repeats_the_name(examples):
    assert {e.kind for e in examples} == {"review"}
    assert {e.topic for e in examples} == set(corpus.REVIEW_TOPICS)
    assert all(copying.copied_whole(e) for e in examples)
    for e in examples:
        assert e.text.isascii()
        assert 0 <= e.sentiment <= 1 and 0 <= e.informative <= 1


def test_no_hand_written_held_out_word_is_ever_drawn(examples):
    """No request names anything by a word the hand-written names are judged by (the replies' fixed
    corpus words, such as "the sunset turned the water orange", are the corpus's own)."""
    blocked = {subject.lower() for _, _, subject in heldout.HANDWRITTEN_REVIEWS}
    words = {w.strip(".,?!:;\"-").lower() for e in examples for w in e.prompt.split()}
    assert not words & blocked


def test_no_request_template_matches_a_held_out_phrasing():
    assert copying._template_clashes("Please review the movie {name}.")
    assert copying._template_clashes("Rate {name} for me.")
    assert copying._template_clashes("What do you make of {name}?")
    assert not copying._template_clashes("Thoughts on {name}?")
    rng = random.Random(0)
    for _ in range(3000):
        template = copying.request_template(rng, rng.choice(corpus.REVIEW_TOPICS))
        assert template.count("{name}") == 1
        for lead in copying.LEADS:
            template = template.removeprefix(lead)
        for tail in copying.TAILS:
            template = template.removesuffix(tail)
        assert not copying._template_clashes(template), template


def test_names_come_in_many_shapes():
    rng = random.Random(1)
    made = [copying.broad_name(rng, topic).text for topic in corpus.REVIEW_TOPICS * 500]
    lengths = {len(re.sub(r"^the ", "", text).split()) for text in made}
    assert {1, 2, 3, 4, 5} <= lengths
    assert any(re.search(r"\d", text) for text in made)
    assert any("'s " in text for text in made)
    assert any(re.search(r"[a-z][A-Z]", text) for text in made)  # CamelCase compounds
    assert any(f" {joint} " in text for text in made for joint in ("and", "of", "to"))
    assert len(set(made)) > 0.95 * len(made)


def test_the_corpus_review_writer_is_unchanged_by_default():
    """copying passes its own `ask` to corpus._review; the default still draws the corpus's names."""
    a = corpus._review(random.Random(5))
    b = corpus._review(random.Random(5), ask=corpus._review_prompt)
    assert a == b


def test_a_grown_policy_computes_what_it_computed_and_then_trains():
    import torch

    from backends.zoo import modeling
    from backends.zoo.train import ModelShape

    torch.manual_seed(0)
    small = modeling.new_policy(ModelShape(n_layer=2, n_embd=16, n_head=2, n_positions=32), 50, 0).eval()
    grown = modeling.grow_policy(small, 3)
    assert grown.config.n_layer == 3
    ids = torch.randint(0, 50, (2, 12))
    with torch.no_grad():
        assert torch.allclose(small(input_ids=ids).logits, grown(input_ids=ids).logits, atol=1e-6)
    grown.train()
    grown(input_ids=ids, labels=ids).loss.backward()
    new_block = grown.transformer.h[1]  # 2 -> 3 inserts one block after block 0
    assert new_block.attn.c_proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="`n_layer`"):
        modeling.grow_policy(small, 2)
