"""Public mode and the model allowlist: which ids a visitor may name (no file system is touched)."""

from __future__ import annotations

import pytest

from backends.allowlist import ALLOWLIST_ENV, ModelNotAllowed, allowed_models, check_model_id, public_mode
from backends.presets import PRESETS


def test_public_mode_is_on_on_a_space_and_by_flag():
    assert public_mode({"SPACE_ID": "me/app"}) and public_mode({"PLAYGROUND_PUBLIC": "1"})
    assert not public_mode({}) and not public_mode({"SPACE_ID": "me/app", "PLAYGROUND_PUBLIC": "0"})


def test_the_presets_models_and_the_operators_allowlist_are_allowed():
    allowed = allowed_models(PRESETS.values(), {ALLOWLIST_ENV: " org/extra-rm , ,local-name"})
    embedded = PRESETS["embedded"]
    assert {embedded.policy, embedded.baseline, embedded.sae, "org/extra-rm", "local-name"} <= allowed
    assert {ref.model for ref in embedded.reward_models.values()} <= allowed
    assert check_model_id("org/extra-rm", allowed, public=True) == "org/extra-rm"


def test_a_path_that_exists_and_one_that_does_not_get_the_same_answer(tmp_path):
    allowed = allowed_models(PRESETS.values(), {})
    answers = []
    for probe in (str(tmp_path), str(tmp_path / "missing")):
        with pytest.raises(ModelNotAllowed) as info:
            check_model_id(probe, allowed, field="dpo_implicit.aligned", public=True)
        answers.append(str(info.value))
    assert answers[0] == answers[1] and str(tmp_path) not in answers[0]
    assert answers[0].startswith("dpo_implicit.aligned: folders and paths are not accepted")


def test_a_refusal_names_no_server_folder_of_the_operator():
    allowed = {"zoo:tiny-sft", "org/model", "/srv/models/private-rm", "./runs/dpo/aligned"}
    with pytest.raises(ModelNotAllowed) as info:
        check_model_id("other/model", allowed, field="tqstar.baseline", public=True)
    message = str(info.value)
    assert "zoo:tiny-sft" in message and "org/model" in message and "2 more of the operator's presets" in message
    assert "/srv" not in message and "runs/dpo" not in message
