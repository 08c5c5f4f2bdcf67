"""Feature traces: one FeatureStep per token, equal to an uncached forward + SAE, zero distance
where the decoder took the base's greedy token, steps in order, and graceful failure."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from backends.decoders import GenerationRequest
from backends.engine import Engine
from backends.events import FeatureStep, Note, TokenStep
from backends.feature_trace import FeatureTracer
from backends.sae import SaeConfig, SparseAutoencoder, feature_distance


@pytest.fixture(scope="module")
def sae_folder(tmp_path_factory):
    torch.manual_seed(3)
    sae = SparseAutoencoder(SaeConfig(d_in=32, d_sae=64))
    with torch.no_grad():
        sae.b_enc.uniform_(-0.2, 0.2)
    folder = tmp_path_factory.mktemp("sae") / "sae"
    sae.save(folder)
    return folder


@pytest.fixture(scope="module")
def traced(fake_preset, sae_folder):
    return Engine(device="cpu", presets={"fake": dataclasses.replace(fake_preset, sae=str(sae_folder))})


def _run(engine, decoder="sampling", config=None, features=True, **kw):
    request = GenerationRequest(prompt="review the film", decoder=decoder, config=config or {}, preset="fake",
                                max_new_tokens=10, seed=4, features=features, **kw)
    return list(engine.stream(request))


def test_every_token_gets_its_features_equal_to_an_uncached_forward(traced):
    events = _run(traced)
    assert events[-1].stop_reason != "error", events[-1].error
    tokens = [e for e in events if isinstance(e, TokenStep)]
    steps = [e for e in events if isinstance(e, FeatureStep)]
    assert [s.index for s in steps] == [t.index for t in tokens] and tokens
    for i, e in enumerate(events[:-1]):  # each FeatureStep follows its TokenStep
        if isinstance(e, FeatureStep):
            assert isinstance(events[i - 1], TokenStep) and events[i - 1].index == e.index
    lm = traced.language_model(traced.preset("fake").policy)
    sae = traced.sae(traced.preset("fake").sae)
    prompt = lm.encode("User: review the film\nAssistant:")
    ids = [t.token_id for t in tokens]
    with torch.no_grad():
        hidden = lm.model(input_ids=torch.tensor([prompt + ids]), output_hidden_states=True).hidden_states[-1][0]
        for s, t in zip(steps, tokens, strict=True):
            f_dec = sae.encode(hidden[len(prompt) + t.index])
            top = f_dec.topk(len(s.features))
            assert s.features == top.indices.tolist()
            assert s.activations == pytest.approx(top.values.tolist(), abs=1e-3)
            logits = lm.model(input_ids=torch.tensor([prompt + ids[: t.index]])).logits[0, -1]
            assert s.base_token == int(logits.argmax())
            alt = lm.model(input_ids=torch.tensor([prompt + ids[: t.index] + [s.base_token]]),
                           output_hidden_states=True).hidden_states[-1][0, -1]
            assert s.distance == pytest.approx(float(feature_distance(f_dec, sae.encode(alt), s.k)), abs=1e-4)
            if s.base_token == t.token_id:
                assert s.distance == 0 and s.features == s.base_features


def test_greedy_like_sampling_stays_on_the_base_features(traced):
    steps = [e for e in _run(traced, config={"temperature": 0.01}) if isinstance(e, FeatureStep)]
    assert steps and all(s.distance == 0 and s.overlap == 1.0 for s in steps)


def test_no_trace_unless_asked_and_available(traced, engine):
    assert not any(isinstance(e, FeatureStep) for e in _run(traced, features=False))
    assert not any(isinstance(e, FeatureStep) for e in _run(engine))  # the preset has no SAE


def test_token_steps_must_come_in_order(traced):
    lm = traced.language_model(traced.preset("fake").policy)
    tracer = FeatureTracer(lm, lm, traced.sae(traced.preset("fake").sae), lm.encode("User: hi\nAssistant:"))
    first = [tracer.step(i, tok) for i, tok in enumerate([5, 9])]
    assert tracer.length == 2 and len(first) == 2
    with pytest.raises(ValueError, match="token step 1 after 2"):
        tracer.step(1, 9)


def test_a_mismatched_sae_is_reported_and_the_run_goes_on(fake_preset, tmp_path):
    SparseAutoencoder(SaeConfig(d_in=16, d_sae=32)).save(tmp_path / "wrong")
    engine = Engine(device="cpu", presets={"fake": dataclasses.replace(fake_preset, sae=str(tmp_path / "wrong"))})
    events = _run(engine)
    assert isinstance(events[0], Note) and "hidden size 32" in events[0].text
    assert events[-1].stop_reason == "max_new_tokens" and not any(isinstance(e, FeatureStep) for e in events)
