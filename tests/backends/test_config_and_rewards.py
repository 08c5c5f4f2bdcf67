"""Config validation, the registries, and the programmatic and weighted rewards."""

from __future__ import annotations

import math

import pytest
import torch

from backends.config import ConfigError, build_config
from backends.decoders import DECODERS, GenerationRequest
from backends.decoders.configs import SamplingParams
from backends.registry import UnknownName
from backends.rewards import REWARDS, WeightedReward
from backends.rewards.configs import KeywordsConfig, LengthConfig, RegexConfig
from backends.rewards.programmatic import KeywordCoverage, keyword_coverage
from backends.sampling import process, top_p_filter


class Ctx:
    def __init__(self, keywords=()):
        self.keywords = keywords

    def request_keywords(self):
        return self.keywords

    def count_tokens(self, text):
        return len(text.split())


def test_config_errors_name_the_field_and_value():
    cls = DECODERS.get("best_of_n").Config
    with pytest.raises(ConfigError, match=r"best_of_n\.n=0: out of range"):
        build_config(cls, {"n": "0"}, prefix="best_of_n.")
    with pytest.raises(ConfigError, match=r"best_of_n\.n=100000"):
        build_config(cls, {"n": 100000}, prefix="best_of_n.")
    with pytest.raises(ConfigError, match=r"temperature='hot': cannot be read as float"):
        build_config(cls, {"temperature": "hot"})
    with pytest.raises(ConfigError, match=r"temperature=nan: must be finite"):
        build_config(cls, {"temperature": "nan"})
    with pytest.raises(ConfigError, match=r"unknown key; valid keys: temperature"):
        build_config(cls, {"tempreature": "1"})
    assert build_config(cls, {"n": "8", "temperature": "1"}).n == 8


def test_unknown_names_list_the_choices_and_the_closest():
    with pytest.raises(UnknownName) as err:
        DECODERS.get("best_of_m")
    assert "best_of_n" in str(err.value) and "Did you mean 'best_of_n'" in str(err.value)
    with pytest.raises(UnknownName, match="sentiment"):
        REWARDS.get("sentimnt")


def test_keyword_coverage_counts_whole_words_only():
    assert keyword_coverage("The dog ran to the park.", ["dog", "park", "ball"]) == pytest.approx(2 / 3)
    assert keyword_coverage("dogs everywhere", ["dog"]) == 0.0
    assert keyword_coverage("anything", []) == 1.0
    reward = KeywordCoverage(KeywordsConfig(words=("dog", "ball")), Ctx())
    assert reward.score("prompt with dog", ["a ball", "no"]).tolist() == [0.5, 0.0]
    assert KeywordCoverage(KeywordsConfig(), Ctx(("river",))).score("", ["the river"]).tolist() == [1.0]
    with pytest.raises(ConfigError, match=r"keywords\.words"):
        KeywordCoverage(KeywordsConfig(), Ctx())


def test_length_and_regex_rewards():
    length = REWARDS.get("length")(LengthConfig(min_tokens=2, max_tokens=4, softness=2), Ctx())
    assert length.score("", ["a", "a b c", "a b c d e", "a b c d e f g h"]).tolist() == [0.5, 1.0, 0.5, 0.0]
    with pytest.raises(ConfigError, match="min_tokens"):
        LengthConfig(min_tokens=5, max_tokens=4)
    regex = REWARDS.get("regex")(RegexConfig(words=("great",), saturate=2), Ctx())
    assert regex.score("", ["great, just great", "greatest", "Great"]).tolist() == [1.0, 0.0, 0.5]
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        RegexConfig(pattern="(")


def test_weighted_reward_reports_every_part_and_rejects_bad_weights():
    kw = KeywordCoverage(KeywordsConfig(words=("dog", "ball")), Ctx())
    ln = REWARDS.get("length")(LengthConfig(min_tokens=1, max_tokens=3, softness=1), Ctx())
    mix = WeightedReward({"keywords": (kw, 2.0), "length": (ln, -1.0)})
    total, parts = mix.score_parts("", ["dog ball", "dog and a big ball"])
    assert set(parts) == {"keywords", "length"}
    torch.testing.assert_close(total, 2 * parts["keywords"] - parts["length"])
    for bad in (math.nan, math.inf, "x", 1e9):
        with pytest.raises(ConfigError, match="reward weight keywords"):
            WeightedReward({"keywords": (kw, bad)})


def test_processing_is_pure_and_top_p_keeps_the_nucleus():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    history = torch.tensor([[0, 1]])
    copy = logits.clone()
    out = process(logits, history, SamplingParams(temperature=0.5, repetition_penalty=2.0, no_repeat_ngram=1))
    torch.testing.assert_close(logits, copy)
    assert torch.isinf(out[0, :2]).all() and torch.isfinite(out[0, 2:]).all()
    kept = top_p_filter(torch.tensor([[0.0, -1.0, -5.0]]), 0.6)
    assert torch.isfinite(kept).tolist() == [[True, False, False]]


@pytest.mark.parametrize("field,value,match", [
    ("prompt", "   ", "prompt"), ("max_new_tokens", 0, "max_new_tokens"), ("seed", -1, "seed"),
    ("max_new_tokens", 500, "max_new_tokens=500: the prompt takes"),
])
def test_engine_turns_bad_requests_into_error_events(engine, field, value, match):
    done = engine.generate(GenerationRequest(**{"prompt": "hi", "preset": "fake", field: value}))
    assert done.stop_reason == "error" and match in done.error


def test_engine_reports_bad_reward_settings(engine):
    bad = [({"sentiment": float("nan")}, {}, "reward weight sentiment=nan"),
           ({"keywords": 1.0}, {}, "keywords.words=()"),
           ({"keywords": 1.0}, {"keywords": {"wrds": "a"}}, "keywords.wrds"),
           ({}, {"keywords": {"words": "a"}}, "without a weight"),
           ({"informative": 1.0}, {}, "no 'informative' reward model")]
    for rewards, settings, match in bad:
        done = engine.generate(GenerationRequest(prompt="hi", preset="fake", rewards=rewards, reward_config=settings))
        assert done.stop_reason == "error" and match in done.error, done.error


def test_a_preset_starts_a_decoder_elsewhere_and_says_so(fake_preset):
    import dataclasses

    from backends.engine import Engine
    from backends.events import Finished, Note

    preset = dataclasses.replace(fake_preset, decoder_defaults={"args": {"w": 4.0, "k": 3}},
                                 defaults_reason="its rewards are probabilities")
    engine = Engine(device="cpu", presets={"fake": preset})

    def run(config):
        events = list(engine.stream(GenerationRequest(prompt="Hi", decoder="args", config=config,
                                                      rewards={"sentiment": 1.0}, preset="fake", max_new_tokens=3)))
        return [e.text for e in events if isinstance(e, Note)], events[-1]

    notes, done = run({})
    assert isinstance(done, Finished) and done.stop_reason != "error", done
    assert done.config["w"] == 4.0 and done.config["k"] == 3
    assert any("starts from w = 4.0, k = 3 on preset fake" in n and "probabilities" in n for n in notes), notes
    notes, done = run({"w": 1.0})  # the request's own setting wins; only k comes from the preset
    assert done.config["w"] == 1.0 and done.config["k"] == 3 and any("starts from k = 3" in n for n in notes)
    notes, done = run({"w": 1.0, "k": 10})
    assert done.config["k"] == 10 and not any("starts from" in n for n in notes)
