"""The app's live sweep: planning refuses bad input naming the field and value; a run yields the evaluator's
results after each generation, with the sweep's points."""

from __future__ import annotations

import pytest

from backends.evaluation.inputs import UsageError
from backends.evaluation.live_sweep import PUBLIC_GENERATIONS, check_public, numeric_settings, plan_sweep, run_sweep

PROMPTS = ["Write a review of the film"]


def test_a_plan_has_one_spec_per_value_with_the_sweep_key():
    plan = plan_sweep("args", "w", " 0, 1.5 ,3", PROMPTS * 2, {"sentiment": 1.0, "politeness": 0}, max_new_tokens=8)
    assert [s.label for s in plan.specs] == ["args:w=0", "args:w=1.5", "args:w=3"]
    assert {(s.sweep_key, s.config["w"]) for s in plan.specs} == {("w", "0"), ("w", "1.5"), ("w", "3")}
    assert [p.index for p in plan.prompts] == [0, 1]
    assert plan.settings.rewards == {"sentiment": 1.0} and plan.settings.max_new_tokens == 8
    assert "w" in numeric_settings("args") and "mode" not in numeric_settings("args")


@pytest.mark.parametrize(("args", "named"), [
    (("argz", "w", "0,1"), "decoder: unknown 'argz'"),
    (("args", "mode", "0,1"), "setting: args has no numeric setting 'mode'"),
    (("args", "w", "0,lots"), "values: 'lots' is not a number"),
    (("args", "k", "2,2.5"), "values: '2.5' is not an integer"),
    (("args", "k", "0,5"), "k"),  # below the field's range: the config's own message names it
    (("args", "w", "3"), "values: give 2 to"),
    (("args", "w", "1,1"), "repeats a value"),
])
def test_bad_input_is_refused_naming_the_field_and_value(args, named):
    with pytest.raises(UsageError) as err:
        plan_sweep(*args, PROMPTS, {"sentiment": 1.0})
    assert named in str(err.value), str(err.value)
    if args[2] == "0,5":
        assert str(err.value).startswith("values:") and "0" in str(err.value)


def test_a_public_server_holds_a_sweep_to_its_budget():
    check_public(plan_sweep("args", "w", "0,1,3,5", PROMPTS * 4, {"sentiment": 1.0}, max_new_tokens=64))
    big = plan_sweep("args", "w", "0,1,3,5,8", PROMPTS * 4, {"sentiment": 1.0}, max_new_tokens=24)
    assert len(big.specs) * len(big.prompts) > PUBLIC_GENERATIONS
    with pytest.raises(UsageError, match=r"values x prompts: 5 x 4 = 20 generations"):
        check_public(big)
    with pytest.raises(UsageError, match="max new tokens: 65"):
        check_public(plan_sweep("args", "w", "0,1", PROMPTS, {"sentiment": 1.0}, max_new_tokens=65))


def test_no_prompt_or_no_reward_is_refused():
    with pytest.raises(UsageError, match="prompts: give 1 to"):
        plan_sweep("args", "w", "0,1", ["  "], {"sentiment": 1.0})
    with pytest.raises(UsageError, match="reward weights"):
        plan_sweep("args", "w", "0,1", PROMPTS, {"sentiment": 0.0})
    with pytest.raises(UsageError, match="reward weights: unknown reward 'happiness'"):
        plan_sweep("args", "w", "0,1", PROMPTS, {"happiness": 1.0})


def test_a_run_yields_results_after_each_generation(engine, fake_preset):
    plan = plan_sweep("args", "w", "0,3", PROMPTS, {"sentiment": 1.0}, preset=fake_preset.name, max_new_tokens=4)
    partials = list(run_sweep(engine, plan))
    assert [p["run"]["generations"] for p in partials] == [1, 2]
    assert [p["run"]["complete"] for p in partials] == [False, True]
    final = partials[-1]
    (sweep,) = final["sweeps"]
    assert (sweep["decoder"], sweep["key"], [pt["value"] for pt in sweep["points"]]) == ("args", "w", ["0", "3"])
    assert all(pt["reward"]["mean"] is not None and pt["kl"]["mean"] is not None for pt in sweep["points"])
    assert [d["generations"] for d in final["decoders"]] == [1, 1]
    assert partials[0]["decoders"][1]["generations"] == 0  # the second value has not run yet
