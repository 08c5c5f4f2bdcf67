"""The sweep view's pure parts: reward weights typed as text, and figures from the evaluator's results."""

from __future__ import annotations

import pytest

from backends.evaluation import UsageError
from playground.sweep_ui import parse_weights, sweep_figures


def test_weights_are_parsed_and_a_bad_piece_is_named():
    assert parse_weights(" sentiment=1, informative=0.5 ,") == {"sentiment": 1.0, "informative": 0.5}
    for bad in ("sentiment", "sentiment=lots"):
        with pytest.raises(UsageError, match=f"reward weights: '{bad}' is not NAME=NUMBER"):
            parse_weights(bad)


def _decoder(value: str, reward: float, kl: float, parts: dict[str, float], generations: int = 1) -> dict:
    m = {"reward": {"mean": reward}, "kl": {"mean": kl}, "lm_tokens_per_token": {"mean": 2.0}}
    return {"label": f"args:w={value}", "decoder": "args", "sweep_key": "w", "sweep_value": value,
            "generations": generations, "metrics": m, "reward_parts": {k: {"mean": v} for k, v in parts.items()}}


def test_figures_have_one_curve_per_decoder_and_skip_values_not_run_yet():
    res = {"decoders": [_decoder("0", 0.1, 1.0, {"sentiment": 0.2, "informative": 0.9}),
                        _decoder("3", 0.8, 5.0, {"sentiment": 0.9, "informative": 0.3}),
                        _decoder("9", 0.0, 0.0, {}, generations=0)]}
    kl, cost, ab = sweep_figures(res)
    (curve,) = kl.data
    assert list(curve.x) == [1.0, 5.0] and list(curve.y) == [0.1, 0.8] and list(curve.text) == ["w=0", "w=3"]
    assert list(cost.data[0].x) == [2.0, 2.0]
    assert list(ab.data[0].x) == [0.9, 0.3] and list(ab.data[0].y) == [0.2, 0.9]  # informative vs sentiment
    assert ab.layout.xaxis.title.text == "reward: informative" and ab.layout.yaxis.title.text == "reward: sentiment"
