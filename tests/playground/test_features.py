"""Feature traces end to end on tiny models and a random sparse autoencoder: the Compare tab's
requests ask for them only when the preset has an SAE, the runner keeps one per token, the plot,
the inspector and the totals show them, and a stored generation keeps them (and replays)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from backends.engine import Engine
from backends.events import FeatureStep, TokenStep, from_dict
from backends.sae import SaeConfig, SparseAutoencoder
from playground.inspector import inspector_html
from playground.metrics import totals_rows
from playground.requests import PanelChoice, SharedChoice, build_requests, wants_features
from playground.runner import PanelView, run_panels
from playground.traces import trace_figure
from playground.votes import save_views
from storage import Retry, Store

PANELS = [PanelChoice("sampling"), PanelChoice("args", {"w": 3.0})]


@pytest.fixture(scope="module")
def traced_engine(fake_preset, tmp_path_factory) -> Engine:
    torch.manual_seed(3)
    sae = SparseAutoencoder(SaeConfig(d_in=32, d_sae=64))  # the tiny policy's hidden size
    with torch.no_grad():
        sae.b_enc.uniform_(-0.2, 0.2)
    folder = tmp_path_factory.mktemp("sae") / "sae"
    sae.save(folder)
    traced = dataclasses.replace(fake_preset, name="traced", sae=str(folder))
    return Engine(device="cpu", presets={"fake": fake_preset, "traced": traced})


def _run(engine: Engine, preset: str) -> list[PanelView]:
    shared = SharedChoice(prompt="review the film", preset=preset, seed=2, max_new_tokens=6,
                          weights={"sentiment": 1.0}, features=wants_features(engine.preset(preset)))
    return list(run_panels(engine, build_requests(shared, PANELS)))[-1]


def test_a_preset_with_an_sae_traces_every_token_into_plot_inspector_and_totals(traced_engine):
    views = _run(traced_engine, "traced")
    for v in views:
        assert v.request.features and v.finished.stop_reason != "error", v.finished.error
        assert sorted(v.features) == [t.index for t in v.tokens] and v.tokens
        assert all(f.distance >= 0 and 0 <= f.overlap <= 1 and len(f.features) <= 8 for f in v.features.values())
    fig = trace_figure(views, ["1: sampling", "2: args"])
    rows = [t for t in fig.data if t.yaxis == "y5"]
    assert [list(r.y) for r in rows] == [[f.distance for f in v.feature_steps()] for v in views]
    first = views[1].features[0]
    out = inspector_html(views, 1, 0)
    assert "Sparse-autoencoder features" in out and f"(id {first.base_token})" in out
    assert all(f">#{f}<" in out for f in first.features + first.base_features)
    assert "tokens off the base's greedy" in dict(totals_rows(views[1]))


def test_a_preset_without_an_sae_asks_for_no_features_and_gets_none(traced_engine):
    views = _run(traced_engine, "fake")
    assert [v.request.features for v in views] == [False, False]
    assert all(v.done and v.tokens and not v.features for v in views)
    assert len(trace_figure(views, ["1", "2"]).layout.annotations) == 4


def test_stored_generations_keep_each_feature_step_after_its_token_and_replay(traced_engine, tmp_path):
    views = _run(traced_engine, "traced")
    fast = Retry(attempts=2, base_s=0.01, max_s=0.02)
    with Store.open("sqlite:///" + str(tmp_path / "t.db"), retry=fast, busy_timeout_ms=50) as store:
        saved = save_views(store, views, "", traced_engine.preset("traced"))
        assert not saved.error and None not in saved.ids
        trace = store.generation(saved.ids[1]).trace
    events = [from_dict(dict(e)) for e in trace]
    for before, event in itertools.pairwise(events):
        if isinstance(event, FeatureStep):
            assert isinstance(before, TokenStep) and before.index == event.index
    replayed = PanelView(views[1].request)
    for event in events:
        replayed.apply(event)
    assert replayed.features == views[1].features and replayed.tokens == views[1].tokens
