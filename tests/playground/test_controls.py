"""Controls generated from config metadata, for every registered decoder and reward."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import gradio as gr
import pytest

from backends.config import Config, build_config, fields, param
from backends.decoders import DECODERS
from backends.rewards import REWARDS
from playground.controls import component_for, controls_for, initial_values, values_to_config


@dataclass(frozen=True)
class Demo(Config):
    k: int = param(10, low=1, high=100, help="candidates")
    big: int = param(5, low=0, high=100_000, help="too wide for a slider")
    w: float = param(1.0, low=-2.0, high=2.0, step=0.5, help="weight")
    free: float = param(0.5, help="unbounded")
    mode: str = param("greedy", choices=("greedy", "sample"), help="how")
    flag: bool = param(False, help="a switch")
    words: tuple[str, ...] = param(("a", "b"), help="a list")
    text: str = param("", help="some text")


class WithExample:
    Config = Demo
    example_config: ClassVar[dict] = {"text": "hello", "k": 3}


def test_component_for_picks_the_widget_from_the_metadata():
    widgets = {s.name: component_for(s) for s in fields(Demo)}
    assert isinstance(widgets["k"], gr.Slider) and (widgets["k"].minimum, widgets["k"].maximum) == (1, 100)
    assert widgets["k"].step == 1 and widgets["w"].step == 0.5
    assert isinstance(widgets["big"], gr.Number) and isinstance(widgets["free"], gr.Number)
    assert isinstance(widgets["mode"], gr.Dropdown) and isinstance(widgets["flag"], gr.Checkbox)
    assert isinstance(widgets["words"], gr.Textbox) and widgets["words"].value == "a, b"
    assert widgets["k"].info == "candidates" and widgets["k"].label == "k"


def test_component_for_starts_from_a_given_value():
    spec = next(s for s in fields(Demo) if s.name == "text")
    box = component_for(spec, "prs.", value="be kind", elem_id="x")
    assert box.value == "be kind" and box.label == "prs.text" and box.elem_id == "x"


def test_initial_values_apply_example_config():
    assert initial_values(WithExample)["text"] == "hello" and initial_values(WithExample)["k"] == 3
    widgets = controls_for(WithExample)
    assert [w.value for w in widgets][:1] == [3]
    assert initial_values(DECODERS.get("prs"))["preference"]  # PRS needs a preference to run


def test_values_to_config_round_trips_through_build_config():
    specs = fields(Demo)
    values = [3.0, 5, 1.0, 0.5, "sample", True, "x, y ,", "hi"]  # sliders give floats, text gives lists
    config = values_to_config(specs, values)
    assert config == {"k": 3, "mode": "sample", "flag": True, "words": ("x", "y"), "text": "hi"}
    assert isinstance(config["k"], int)
    built = build_config(Demo, config)
    assert built.k == 3 and built.words == ("x", "y")
    specs = fields(Demo)  # defaults are left out: only what differs goes into a request
    assert values_to_config(specs, [10 if s.name == "k" else "x" if s.name == "text" else s.default
                                    for s in specs]) == {"text": "x"}


@pytest.mark.parametrize("name", DECODERS.names())
def test_every_decoder_gets_controls_that_rebuild_its_config(name):
    cls = DECODERS.get(name)
    widgets = controls_for(cls)
    assert len(widgets) == len(fields(cls.Config))
    assert all(w.info for w in widgets)  # help text as info
    config = values_to_config(fields(cls.Config), [w.value for w in widgets])
    assert config == {k: v for k, v in initial_values(cls).items() if v != cls.Config.__dataclass_fields__[k].default}
    build_config(cls.Config, config)  # what the widgets start with is valid


@pytest.mark.parametrize("name", REWARDS.names())
def test_every_reward_gets_controls(name):
    assert len(controls_for(REWARDS.get(name), f"{name}.")) == len(fields(REWARDS.get(name).Config))
