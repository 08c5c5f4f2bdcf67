"""Scenarios: each is valid against the registries, and one click's values become the requests it describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.config import ConfigError
from backends.decoders import DECODERS
from backends.presets import PRESETS
from playground.compare import CompareHooks, run_requests
from playground.controls import initial_values
from playground.scenario_ui import KEEP, scenario_outputs, scenario_values
from playground.scenarios import SCENARIOS_FILE, check_scenario, load_scenarios
from playground.settings import Settings
from playground.ui import build_ui
from tests.playground.fakes import PresetEngine, scripts

ZOO = Path(__file__).resolve().parents[2] / "assets" / "zoo"
REQUIRED = {"guided-vs-sampling", "cd-vs-tqstar", "deal-keywords", "bon-vs-prs", "two-objectives"}


def test_every_scenario_is_valid_and_the_required_ones_exist():
    scenarios = load_scenarios()
    assert {s.name for s in scenarios} >= REQUIRED
    for s in scenarios:
        check_scenario(s)
        assert s.look_for.strip() and s.title.strip()
        for panel in s.panels:
            baseline = panel.config.get("baseline", "")
            if baseline.startswith("zoo:"):
                assert (ZOO / baseline[4:]).is_dir(), baseline


def test_the_comparisons_are_fair_where_the_issue_asks():
    by_name = {s.name: s for s in load_scenarios()}
    cd, direct, indirect = by_name["cd-vs-tqstar"].panels
    shared = {(p.config["k"], p.config["rollout_len"], p.config["lam"]) for p in (cd, direct, indirect)}
    assert shared == {(10, 8, 20.0)}
    assert (direct.config.get("transfer", "direct"), indirect.config["transfer"]) == ("direct", "indirect")
    # the same rollout scheme too (CD samples by default, TQ* is greedy): only the rollout model differs
    assert {p.config.get("rollout_temperature", DECODERS.card(p.decoder).Config().rollout_temperature)
            for p in (cd, direct, indirect)} == {0.0}
    bon, prs = by_name["bon-vs-prs"].panels
    assert bon.config["n"] == prs.config["n0"] + prs.config["n1"] == 8
    weights = [p.weights for p in by_name["two-objectives"].panels]
    assert [(w["sentiment"], w["informative"]) for w in weights] == [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]


def _broken(tmp_path, change) -> Path:
    items = json.loads(SCENARIOS_FILE.read_text())
    change(items[0])
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(items))
    return path


@pytest.mark.parametrize(("change", "field", "value"), [
    (lambda s: s["panels"][1].update(decoder="argz"), "panels[1].decoder", "argz"),
    (lambda s: s["panels"][1].update(config={"ww": 3}), "panels[1].config.ww", 3),
    (lambda s: s["panels"][1].update(config={"w": "lots"}), "panels[1].config.w", "lots"),
    (lambda s: s.update(weights={"happiness": 1.0}), "weights.happiness", 1.0),
    (lambda s: s.update(panels=s["panels"][:1]), "panels", 1),
])
def test_a_broken_scenario_is_refused_naming_its_field(tmp_path, change, field, value):
    with pytest.raises(ConfigError) as err:
        load_scenarios(_broken(tmp_path, change))
    assert err.value.field == f"scenario guided-vs-sampling.{field}" and err.value.value == value


def _compare_tab():
    engine = PresetEngine(scripts())
    engine.presets["embedded"] = PRESETS["embedded"]
    found = {}
    build_ui(engine, Settings(preset="embedded"),
             compare_hooks=CompareHooks(below_panels=[lambda t: found.update(tab=t)]))
    return engine, found["tab"]


def test_a_scenario_click_fills_the_form_with_what_it_describes():
    engine, tab = _compare_tab()
    outputs = scenario_outputs(tab)
    for scenario in load_scenarios():
        values = scenario_values(tab, scenario)
        assert len(values) == len(outputs)
        data = {c: c.value for c in tab.run_inputs()} | {tab.preset: "embedded"}
        data |= {w: w.preprocess(v) for w, v in zip(outputs, values, strict=True) if v != KEEP}
        requests = run_requests(tab, engine, data)
        assert [r.decoder for r in requests] == [p.decoder for p in scenario.panels]
        for request, panel in zip(requests, scenario.panels, strict=True):
            assert request.prompt == scenario.prompt
            effective = initial_values(DECODERS.get(panel.decoder)) | dict(request.config)
            assert {k: effective[k] for k in panel.config} == panel.config
            expected = panel.weights if panel.weights is not None else scenario.weights
            assert request.rewards == {k: v for k, v in expected.items() if v}
        if "keywords" in scenario.reward_config:
            assert list(requests[0].keywords) == scenario.reward_config["keywords"]["words"]
