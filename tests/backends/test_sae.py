"""Sparse autoencoders: SAELens folder round trip, loading errors, training on known sparse data,
and FPO's feature distance on hand-made vectors."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from backends.loading import ModelNotFound
from backends.sae import (
    CFG_NAME,
    SaeConfig,
    SaeTrainConfig,
    SparseAutoencoder,
    feature_distance,
    load_sae,
    read_sae,
    sae_metrics,
    train_sae,
)


def _random_sae(d_in: int = 8, d_sae: int = 32, activation: str = "relu") -> SparseAutoencoder:
    torch.manual_seed(0)
    sae = SparseAutoencoder(SaeConfig(d_in=d_in, d_sae=d_sae, activation=activation))
    with torch.no_grad():
        sae.b_enc.normal_()
        sae.threshold.uniform_(0, 0.5)
    return sae


@pytest.mark.parametrize("activation", ["relu", "jumprelu"])
def test_saelens_folder_round_trips(tmp_path, activation):
    sae = _random_sae(activation=activation)
    sae.save(tmp_path / "sae")
    cfg = json.loads((tmp_path / "sae" / CFG_NAME).read_text())
    assert cfg["d_in"] == 8 and cfg["d_sae"] == 32 and cfg["hook_name"] == "final"
    loaded = load_sae(str(tmp_path / "sae"))
    h = torch.randn(5, 8)
    assert torch.allclose(loaded.encode(h), sae.encode(h), atol=1e-6)
    assert torch.allclose(loaded.decode(loaded.encode(h)), sae.decode(sae.encode(h)), atol=1e-5)
    if activation == "jumprelu":  # below-threshold pre-activations are cut, not just negative ones
        pre = (h - sae.b_dec) @ sae.W_enc + sae.b_enc
        assert torch.equal(sae.encode(h) > 0, pre > sae.threshold.clamp(min=0))


def test_saelens_configs_map_to_layers_or_are_refused():
    base = {"d_in": 4, "d_sae": 8}
    assert SaeConfig.from_cfg({**base, "hook_name": "blocks.11.hook_resid_post"}).layer == 12
    assert SaeConfig.from_cfg({**base, "hook_name": "blocks.8.hook_resid_pre"}).layer == 8
    assert SaeConfig.from_cfg({**base, "metadata": {"hook_name": "blocks.3.hook_resid_post"}}).layer == 4  # v6
    assert SaeConfig.from_cfg(base).layer == -1
    assert SaeConfig.from_cfg({**base, "architecture": "jumprelu"}).activation == "jumprelu"
    assert not SaeConfig.from_cfg({**base, "apply_b_dec_to_input": False}).apply_b_dec_to_input
    for bad, field in (({"architecture": "topk"}, "architecture"), ({"normalize_activations": "expected_average_"
                       "only_in"}, "normalize_activations"), ({"hook_name": "blocks.2.attn.hook_z"}, "hook_name")):
        with pytest.raises(ValueError, match=field):
            SaeConfig.from_cfg({**base, **bad})


def test_b_dec_is_subtracted_only_when_the_config_says_so():
    sae = _random_sae()
    with torch.no_grad():
        sae.b_dec.normal_()
    h = torch.randn(2, 8)
    plain = SparseAutoencoder(dataclasses.replace(sae.config, apply_b_dec_to_input=False))
    plain.load_state_dict(sae.state_dict())
    assert torch.allclose(plain.encode(h + sae.b_dec), sae.encode(h + sae.b_dec)) is False
    assert torch.allclose(plain.encode(h), torch.relu(h @ sae.W_enc + sae.b_enc))


def test_bad_folders_and_ids_say_what_is_wrong(tmp_path):
    with pytest.raises(ModelNotFound, match=CFG_NAME):
        read_sae(tmp_path)
    (tmp_path / CFG_NAME).write_text(json.dumps({"d_in": 0, "d_sae": 4}))
    with pytest.raises(ModelNotFound, match="d_in"):
        read_sae(tmp_path)
    _random_sae().save(tmp_path / "ok")
    cfg = json.loads((tmp_path / "ok" / CFG_NAME).read_text())
    (tmp_path / "ok" / CFG_NAME).write_text(json.dumps({**cfg, "d_sae": 16}))
    with pytest.raises(ModelNotFound, match="W_enc should have shape"):
        read_sae(tmp_path / "ok")
    (tmp_path / "ok" / CFG_NAME).write_text(json.dumps({**cfg, "architecture": "jumprelu", "activation": "jumprelu"}))
    with pytest.raises(ModelNotFound, match="threshold"):  # a JumpReLU SAE needs its thresholds
        read_sae(tmp_path / "ok")
    with pytest.raises(ModelNotFound, match="empty"):
        load_sae(" ")
    with pytest.raises(ModelNotFound, match="no such folder"):
        load_sae("./missing-sae")
    with pytest.raises(ModelNotFound, match="zoo:not-a-sae"):
        load_sae("zoo:not-a-sae")
    with pytest.raises(ModelNotFound, match="hub"):  # HF_HUB_OFFLINE=1 in the tests
        load_sae("someone/some-sae/layer_3")


def test_training_recovers_sparse_codes():
    """Data made of 2-3 of 24 directions in 12 dimensions: the SAE reconstructs it with few features."""
    gen = torch.Generator().manual_seed(0)
    atoms = torch.nn.functional.normalize(torch.randn(24, 12, generator=gen), dim=-1)
    codes = torch.zeros(6000, 24)
    for row in codes:
        row[torch.randperm(24, generator=gen)[:3]] = torch.rand(3, generator=gen) * 2 + 0.5
    acts = codes @ atoms
    sae, stats = train_sae(acts[:5000], SaeTrainConfig(expansion=4, steps=600, batch_size=512, l1=1e-3, lr=3e-3))
    metrics = sae_metrics(sae, acts[5000:])
    assert stats["d_sae"] == 48
    assert metrics["explained_variance"] > 0.9, metrics
    assert metrics["l0"] < 24, metrics  # sparse: far fewer than the 48 features are active per vector


def test_feature_distance_is_the_mean_squared_difference_on_the_top_features():
    a = torch.tensor([3.0, 0.0, 1.0, 0.0, 0.5])
    b = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.5])
    assert float(feature_distance(a, a, 2)) == 0.0
    # top-2 of a: {0, 2}; of b: {1, 0}; union {0, 1, 2}: ((3-1)^2 + (0-2)^2 + (1-0)^2) / k
    assert float(feature_distance(a, b, 2)) == pytest.approx((4 + 4 + 1) / 2)
    batch = torch.stack([a, b])
    assert feature_distance(batch, batch.flip(0), 2).shape == (2,)


def test_a_hub_id_loads_from_the_local_hub_cache(tmp_path, monkeypatch):
    """`owner/name/subfolder` resolves through huggingface_hub's cache when the hub is offline."""
    import huggingface_hub.constants as hub_constants

    snapshot = tmp_path / "models--someone--tiny-saes" / "snapshots" / ("a" * 40)
    _random_sae().save(snapshot / "layer_3")
    (tmp_path / "models--someone--tiny-saes" / "refs").mkdir()
    (tmp_path / "models--someone--tiny-saes" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    sae = load_sae("someone/tiny-saes/layer_3")
    h = torch.randn(3, 8)
    assert torch.allclose(sae.encode(h), _random_sae().encode(h), atol=1e-6)
