"""What the controls may offer: rewards whose models load here, and the length slider's bound."""

from __future__ import annotations

import dataclasses

from backends.presets import PRESETS
from playground import availability
from playground.availability import PROMPT_ROOM, length_bound, model_problem, unavailable_rewards


class Context:
    def __init__(self, lengths):
        self.lengths = lengths

    def context_length(self, model_id):
        return self.lengths.get(model_id)


def test_a_zoo_model_that_is_not_built_is_named_with_the_reason():
    assert model_problem("zoo:tiny-sft") is None  # built in assets/zoo
    problem = model_problem("zoo:no-such-model")
    assert problem and "no-such-model" in problem


def test_a_hub_model_absent_offline_is_unavailable_and_online_it_may_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problem = model_problem("someone/absent-model")
    assert problem and "offline" in problem and "someone/absent-model" in problem
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert model_problem("someone/absent-model") is None


def test_preference_is_unavailable_offline_without_its_embedding_model(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(availability, "packaged_minilm", lambda: None)
    missing = unavailable_rewards(PRESETS["embedded"])
    assert "preference" in missing and "all-MiniLM-L6-v2" in missing["preference"]
    assert "sentiment" not in missing and "keywords" not in missing  # zoo model, rule
    monkeypatch.setattr(availability, "packaged_minilm", lambda: str(tmp_path))
    assert "preference" not in unavailable_rewards(PRESETS["embedded"])
    broken = dataclasses.replace(PRESETS["embedded"], baseline="zoo:not-built")
    assert "not-built" in unavailable_rewards(broken)["dpo_implicit"]


def test_the_length_bound_is_the_context_less_room_for_the_prompt():
    preset = PRESETS["embedded"]
    assert length_bound(Context({preset.policy: 128}), preset) == 128 - PROMPT_ROOM
    assert length_bound(Context({}), preset) is None  # not loaded: unknown, nothing is loaded to find out
    assert length_bound(object(), preset) is None
