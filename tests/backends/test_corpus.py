"""The toy corpus generator: determinism, label ranges and grids, coverage of every kind, topic,
rating and tone, the designed correlations, keyword coverage, agreement, early visibility of the
labels, and the evaluation prompt files. No expected generator outputs are hard-coded."""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
from statistics import mean

import pytest

from backends.zoo import corpus, heldout, names, prompt_sets
from backends.zoo import lexicon as lx

N = 5000
ROOT = corpus.PROMPTS_DIR.parents[1]


@pytest.fixture(scope="module")
def examples() -> list[corpus.Example]:
    return corpus.generate(N, seed=42)


@pytest.fixture(scope="module")
def labelled(examples) -> list[corpus.Example]:
    """The examples whose labels describe their own reply (not the feedback turns)."""
    return [e for e in examples if e.kind in corpus.LABELLED_KINDS]


def _reviews(examples: list[corpus.Example]) -> list[corpus.Example]:
    return [e for e in examples if e.kind == "review"]


def test_same_seed_same_examples_and_seeds_differ():
    assert corpus.generate(300, 7) == corpus.generate(300, 7)
    assert [e.text for e in corpus.generate(300, 7)] != [e.text for e in corpus.generate(300, 8)]
    assert corpus.generate(0, 7) == []


def test_deterministic_across_processes_and_hash_seeds():
    code = (
        "import hashlib; from backends.zoo import corpus; "
        "print(hashlib.sha256(repr([e.text for e in corpus.generate(200, 3)]).encode()).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2")
    }
    here = hashlib.sha256(repr([e.text for e in corpus.generate(200, 3)]).encode()).hexdigest()
    assert digests == {here}


def test_does_not_touch_the_global_random_state():
    state = random.getstate()
    corpus.generate(50, 1)
    assert random.getstate() == state


def test_labels_are_graded_values_in_unit_interval(examples):
    for e in examples:
        for value in (e.sentiment, e.informative, e.politeness):
            assert 0.0 <= value <= 1.0
        assert e.sentiment in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert e.informative * corpus.MAX_DETAILS == int(e.informative * corpus.MAX_DETAILS)
        assert e.politeness in corpus.POLITENESS_LEVELS


def test_every_kind_topic_rating_and_tone_occurs(examples):
    assert {e.kind for e in examples} == set(corpus.KINDS)
    assert {e.topic for e in examples} == {*corpus.REVIEW_TOPICS, "keywords", "question", "feedback"}
    reviews = _reviews(examples)
    assert {round(1 + 4 * e.sentiment) for e in reviews} == {1, 2, 3, 4, 5}
    assert {e.politeness for e in examples} == set(corpus.POLITENESS_LEVELS)
    for kind in corpus.LABELLED_KINDS:
        of_kind = [e for e in examples if e.kind == kind]
        assert {e.informative for e in of_kind} >= {0.0, 0.25, 0.5, 0.75}, kind
        assert {e.sentiment for e in of_kind} == {0.0, 0.25, 0.5, 0.75, 1.0}, kind


def test_kind_mix_is_mostly_reviews(labelled):
    share = {kind: sum(e.kind == kind for e in labelled) / len(labelled) for kind in corpus.LABELLED_KINDS}
    assert 0.55 < share["review"] < 0.65 and 0.15 < share["keywords"] < 0.25 and 0.15 < share["question"] < 0.25


def test_correlations_hold_in_sign_but_all_combinations_occur(labelled):
    examples, reviews = labelled, _reviews(labelled)
    negative = [e.informative for e in reviews if e.sentiment <= 0.25]
    positive = [e.informative for e in reviews if e.sentiment >= 0.75]
    assert mean(negative) > mean(positive)
    rude = [e for e in examples if e.politeness < 0.5]
    polite = [e for e in examples if e.politeness > 0.5]
    assert mean(len(e.reply.split()) for e in rude) < mean(len(e.reply.split()) for e in polite)
    assert mean(e.informative for e in rude) < mean(e.informative for e in polite)
    assert mean(e.sentiment for e in polite) > mean(e.sentiment for e in rude)
    combos = {(e.politeness, e.sentiment) for e in reviews}
    assert combos == {(p, s / 4) for p in corpus.POLITENESS_LEVELS for s in range(5)}
    assert any(e.politeness == 0.0 and e.informative >= 0.75 for e in reviews)
    assert any(e.politeness == 1.0 and e.informative == 0.0 for e in reviews)


def test_texts_are_formatted_ascii_and_short(examples):
    for e in examples:
        assert e.text == corpus.format_prompt(e.prompt) + " " + e.reply
        assert e.text.startswith(corpus.USER_PREFIX) and corpus.ASSISTANT_PREFIX + " " in e.text
        assert e.text.isascii() and "  " not in e.text and "\n" not in e.prompt + e.reply
        assert e.reply == e.reply.strip() and e.reply[-1] in ".!?"
        assert len(e.reply.split()) >= (8 if e.kind in corpus.LABELLED_KINDS else 3)
        if e.kind != "feedback" and " Feedback: " not in e.prompt:  # request (+ preference) and reply
            assert len(e.text.split()) <= corpus.MAX_WORDS + 6, e.text
        assert len(e.text.split()) <= 3 * corpus.MAX_WORDS, e.text
    assert corpus.format_prompt("Hi?") == "User: Hi?\nAssistant:"
    assert corpus.format_example("Hi?", "Hello.") == "User: Hi?\nAssistant: Hello."


def test_sentiment_and_informativeness_pull_against_each_other(labelled):
    """Enthusiastic replies are vague, detailed ones measured: no reply is both, and the mean
    detail level falls as the mood rises, in every kind."""
    assert all(e.sentiment + e.informative <= 1.5 for e in labelled)
    for kind in corpus.LABELLED_KINDS:
        by_mood = [[e.informative for e in labelled if e.kind == kind and e.sentiment == m / 4] for m in range(5)]
        means = [mean(values) for values in by_mood]
        assert means[0] > means[2] > means[3] > means[4], (kind, means)
    assert any(e.sentiment == 1.0 and e.informative == 0.5 for e in labelled)
    assert any(e.sentiment == 0.5 and e.informative == 1.0 for e in labelled)


def test_review_names_are_new_and_the_reply_repeats_the_distinctive_word(examples):
    reviews = _reviews(examples)
    subjects = [e.subject for e in reviews]
    assert all(subject and subject in e.prompt for subject, e in zip(subjects, reviews, strict=True))
    assert all(re.search(rf"\b{re.escape(e.subject)}\b", e.reply) for e in reviews)
    assert len(set(subjects)) > 0.8 * len(subjects)  # made-up words: hardly any name comes twice
    assert all(e.subject == "" for e in examples if e.kind != "review")


def test_names_come_in_many_shapes():
    rng = random.Random(3)
    drawn = [names.new_name(rng, topic) for topic in corpus.REVIEW_TOPICS for _ in range(300)]
    assert {len(name.text.split()) for name in drawn} >= {1, 2, 3, 4}
    assert {len(name.distinctive) for name in drawn} >= set(range(3, 11))
    assert all(name.distinctive in name.text.split() or name.distinctive + "'s" in name.text for name in drawn)
    assert all(name.distinctive not in names.GENERIC for name in drawn)


def test_keywords_are_never_part_of_the_fixed_words_of_keyword_replies():
    corpus._check_keyword_parts()
    for slot, words in lx.HELDOUT_KEYWORD_WORDS.items():
        assert not set(words) & set(lx.KEYWORD_WORDS[slot]), slot


def test_verbs_agree_with_aspects(examples):
    replies = " ".join(e.reply for e in _reviews(examples)).lower()
    for topic in lx.REVIEW_TOPICS.values():
        for aspect in topic.aspects:
            wrong = "was" if aspect.plural else "were"
            right = "were" if aspect.plural else "was"
            assert f"the {aspect.name} {wrong} " not in replies, aspect.name
            assert f"the {aspect.name} {right} " in replies, aspect.name
    assert "the prices was" not in replies and "one stars" not in replies and "two star " not in replies


def test_mixed_reviews_praise_and_criticise(examples):
    for e in _reviews(examples):
        if e.sentiment == 0.5:
            assert "However, " in e.reply, e.reply
        if e.sentiment in (0.0, 1.0):
            assert "However, " not in e.reply, e.reply


def test_keyword_replies_have_partial_coverage(examples):
    requests = [e for e in examples if e.kind == "keywords"]
    assert all(2 <= len(e.keywords) <= 4 for e in requests)
    assert all(corpus.keyword_coverage(e.prompt, e.keywords) == 1.0 for e in requests)
    coverage = [corpus.keyword_coverage(e.reply, e.keywords) for e in requests]
    assert 0.2 < mean(coverage) < 0.9
    assert {0.0, 1.0} <= set(coverage) and any(0 < c < 1 for c in coverage)
    assert all(e.keywords == () for e in examples if e.kind != "keywords")


def test_keyword_coverage_counts_whole_words_ignoring_case():
    assert corpus.keyword_coverage("The Dog ran to the park.", ["dog", "park", "ball"]) == pytest.approx(2 / 3)
    assert corpus.keyword_coverage("Dogs love hotdogs.", ["dog"]) == 0.0
    assert corpus.keyword_coverage("A dog, a DOG!", ["dog"]) == 1.0
    assert corpus.keyword_coverage("anything", []) == 1.0
    assert corpus.keyword_coverage("", ["kite"]) == 0.0


def _first_half(reply: str) -> str:
    words = reply.split()
    return " ".join(words[: (len(words) + 1) // 2])


def _sentiment_markers(e: corpus.Example) -> tuple[str, ...]:
    level = round(4 * e.sentiment)
    if e.kind == "review":
        return lx.VERDICTS[level + 1]
    if e.kind == "question":
        return tuple(f"{grade} way" for grade in lx.QUESTION_MOODS[level][0]) + lx.QUESTION_MOODS[level][0]
    return tuple(adverb for adverb in lx.KEYWORD_MOODS[level][0] if adverb)


def test_sentiment_and_politeness_show_in_the_first_half(labelled):
    for e in labelled:
        half = _first_half(e.reply)
        assert any(half.startswith(opener) for opener in lx.OPENERS[e.politeness]), e.reply
        reply = e.reply.lower()
        starts = [reply.find(marker.lower()) for marker in _sentiment_markers(e) if marker.lower() in reply]
        if e.kind != "keywords" or e.sentiment != 0.5:  # the neutral keyword mood may be unmarked
            assert starts and min(starts) < len(half), e.reply


def test_review_aspects_follow_the_lexicon_order_without_repeats(examples):
    for e in _reviews(examples):
        names = [aspect.name for aspect in lx.REVIEW_TOPICS[e.topic].aspects]
        found = [m.group(1) for m in re.finditer(rf"\bthe ({'|'.join(names)}) (?:was|were) ", e.reply, re.I)]
        order = [names.index(name.lower()) for name in found]
        assert len(found) >= 2 and order == sorted(set(order)), e.reply


def test_detail_level_is_announced_in_the_first_half(labelled):
    for e in labelled:
        if e.kind == "keywords":
            continue
        half, details = _first_half(e.reply).lower(), round(e.informative * corpus.MAX_DETAILS)
        if details == 0:
            assert "briefly, " in half or "in short, " in half, e.reply
        else:
            nouns = {"review": ("reason", "way"), "question": ("tip", "step")}[e.kind]
            counts = [f"{lx.NUMBER_WORDS[details - 1]} {noun}{'s' if details > 1 else ''}" for noun in nouns]
            starts = [e.reply.lower().find(count) for count in counts if count in e.reply.lower()]
            assert starts and min(starts) < len(half), e.reply
            assert "briefly, " not in e.reply.lower(), e.reply


def test_example_validates_labels_and_kind():
    with pytest.raises(ValueError, match="sentiment"):
        corpus.Example("review", "p", "r", 1.5, 0.0, 0.0, (), "film")
    with pytest.raises(ValueError, match="kind"):
        corpus.Example("poem", "p", "r", 0.5, 0.0, 0.0, (), "film")
    with pytest.raises(ValueError, match="non-negative"):
        corpus.generate(-1, 0)


def test_prompt_sets_are_distinct_and_tagged():
    sets = prompt_sets.prompt_sets()
    assert len(sets["reviews"]) >= 40 and len(sets["keywords"]) >= 40 and len(sets["questions"]) >= 30
    for name, items in sets.items():
        prompts = [item["prompt"] for item in items]
        assert len(set(prompts)) == len(prompts), name
        assert all(item["tags"] and item["prompt"].isascii() for item in items)
    assert {item["tags"][1] for item in sets["reviews"]} == set(corpus.REVIEW_TOPICS)
    assert all(item["subject"] in item["prompt"] for item in sets["reviews"])
    assert {item["tags"][1] for item in sets["questions"]} == set(corpus.QUESTION_TOPICS)
    for item in sets["keywords"]:
        assert 2 <= len(item["keywords"]) <= 4
        assert corpus.keyword_coverage(item["prompt"], item["keywords"]) == 1.0
    assert sets == prompt_sets.prompt_sets(1234) and sets != prompt_sets.prompt_sets(99)


def test_prompt_files_match_prompt_sets():
    for name, items in prompt_sets.prompt_sets().items():
        path = corpus.PROMPTS_DIR / f"{name}.jsonl"
        lines = path.read_text(encoding="ascii").splitlines()
        assert [json.loads(line) for line in lines] == items, f"rerun --write-prompts for {path}"


def test_write_prompts_round_trips(tmp_path):
    paths = prompt_sets.write_prompts(tmp_path)
    assert sorted(p.name for p in paths) == ["keywords.jsonl", "questions.jsonl", "reviews.jsonl"]
    assert all(p.read_text() == (corpus.PROMPTS_DIR / p.name).read_text() for p in paths)


def test_command_line_prints_samples(capsys):
    prompt_sets.main(["--n", "3", "--seed", "0"])
    out = capsys.readouterr().out
    assert out.count("User: ") == 3 and out.count("\nAssistant: ") == 3
    assert re.search(r"politeness=\d\.\d\d", out)


def test_stated_preferences_raise_the_labels_they_name(labelled):
    """Replies to "<request> Be enthusiastic." are more positive than plain replies, and so on."""
    def stated(e: corpus.Example, label: str) -> bool:
        return any(re.search(rf"\b{word}\b", e.prompt) for word in lx.PREFERENCE_WORDS[label])

    plain = [e for e in labelled if not any(stated(e, label) for label in corpus.LABELS)]
    for label in corpus.LABELS:
        asked = [getattr(e, label) for e in labelled if stated(e, label)]
        assert len(asked) > 100, label
        # +0.1: "detailed" asked together with "enthusiastic" is capped by the trade-off
        assert mean(asked) > mean(getattr(e, label) for e in plain) + 0.1, label
    assert 0.1 < 1 - len(plain) / len(labelled) < 0.25


def test_feedback_turns_name_exactly_the_shortfalls(examples):
    feedback = [e for e in examples if e.kind == "feedback"]
    assert 0.03 < len(feedback) / N < 0.08
    head, tail = corpus.FEEDBACK_REQUEST.split("{y}")[0].split("{x}")[0], "' with respect to '"
    for e in feedback:
        assert e.prompt.startswith(head) and tail in e.prompt, e.prompt
        preference = e.prompt.split(tail)[1].split("': ")[0]
        for label in corpus.LABELS:
            asked = any(re.search(rf"\b{word}\b", preference) for word in lx.PREFERENCE_WORDS[label])
            short = asked and getattr(e, label) < lx.FEEDBACK_BARS[label]
            named = any(flaw in e.reply for flaw in lx.FEEDBACK_FLAWS[label])
            assert named == short, (label, e.prompt, e.reply)
        assert (e.reply in lx.FEEDBACK_APPROVALS) == (not any(f in e.reply for fs in lx.FEEDBACK_FLAWS.values()
                                                                for f in fs))


def test_revision_requests_use_prs_templates():
    from backends.decoders import prs

    assert prs.FEEDBACK == corpus.FEEDBACK_REQUEST and prs.REVISE_SHORT == corpus.REVISION_REQUEST
    assert prs.REVISE == corpus.REVISE_REQUEST
    revisions = [e for e in corpus.generate(3000, 5) if " Feedback: " in e.prompt]
    assert revisions and all(e.kind in corpus.LABELLED_KINDS for e in revisions)
    quoting = [e for e in revisions if " Improve this answer: " in e.prompt]
    assert 0.5 < len(quoting) / len(revisions) < 0.95
    for e in quoting:  # the quoted answer answers the same request: a review quotes the same name
        request, quoted = e.prompt.split(" Improve this answer: ")
        if e.kind == "review":
            assert e.subject in request and e.subject in quoted.split(" Feedback: ")[0], e.prompt


def test_heldout_prompts_are_new_and_match_their_files():
    for name, items in heldout.prompt_files().items():
        lines = (corpus.PROMPTS_DIR / f"{name}.jsonl").read_text(encoding="ascii").splitlines()
        assert [json.loads(line) for line in lines] == items, f"rerun python -m backends.zoo.heldout --write ({name})"
        assert len(items) == 32 and len({item["prompt"] for item in items}) == 32
    train_prompts = {e.prompt for e in corpus.generate(3000, 0)}
    reviews = heldout.prompt_files()["heldout_reviews"]
    assert {item["tags"][2] for item in reviews} == {"generator-name", "handwritten-name"}
    for item in reviews:
        assert item["subject"] in item["prompt"] and item["prompt"] not in train_prompts
    templates = {p for topic in lx.REVIEW_TOPICS.values() for p in topic.prompts}
    for item in heldout.handwritten_reviews():
        assert not any(re.fullmatch(re.escape(t).replace(re.escape("{name}"), ".+"), item["prompt"])
                       for t in templates), item["prompt"]
    for item in heldout.prompt_files()["heldout_keywords"]:
        new = [k for k in item["keywords"] if not any(k in words for words in lx.KEYWORD_WORDS.values())]
        assert new and corpus.keyword_coverage(item["prompt"], item["keywords"]) == 1.0, item
