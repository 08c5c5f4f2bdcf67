"""Readable configuration names: `backends.config.config_label` (defaults left out, differing values
shown, numbers compact) and `playground.labels`, which reads the store's full labels back."""

from __future__ import annotations

import doctest
from dataclasses import dataclass

import pytest

import backends.config
from backends.config import Config, ConfigError, config_label, param
from backends.decoders import DECODERS
from playground.labels import parse_label, short_label, short_labels
from playground.pool import Contender
from storage.validate import stored_label


@dataclass(frozen=True)
class Demo(Config):
    k: int = param(10, help="candidates", low=1)
    rollout_len: int = param(20, help="tokens", low=1)
    beta: float = param(1.0, help="weight")
    greedy: bool = param(False, help="argmax")
    mode: str = param("direct", help="how", choices=("direct", "indirect"))
    note: str = param("", help="free text")
    keys: tuple[str, ...] = param((), help="words")


def test_defaults_are_left_out_and_differing_values_shown_in_field_order():
    assert config_label("demo", Demo()) == "demo"
    assert config_label("demo", Demo(rollout_len=8, k=5)) == "demo k=5 rollout_len=8"
    assert config_label("demo", Demo(greedy=True, mode="indirect")) == "demo greedy=true mode=indirect"
    assert config_label("demo", Demo(keys=("good", "fun"))) == "demo keys=good,fun"


@pytest.mark.parametrize(("beta", "shown"), [(3.0, "3"), (0.25, "0.25"), (1 / 3, "0.333333"), (1e-7, "1e-07"),
                                             (2.5e6, "2.5e+06"), (-0.5, "-0.5")])
def test_floats_are_written_compactly(beta, shown):
    assert config_label("demo", Demo(beta=beta)) == f"demo beta={shown}"


def test_text_is_quoted_when_it_has_spaces_and_cut_when_long():
    assert config_label("demo", Demo(note="Be kind")) == 'demo note="Be kind"'
    long = config_label("demo", Demo(note="x" * 40))
    assert long == f'demo note="{"x" * 23}…"' and len(long) < 40


def test_stored_labels_read_back_to_the_same_readable_name():
    tq = Contender("tqstar", {"k": 5, "rollout_len": 8}).label("embedded")
    assert tq.startswith("tqstar(baseline=") and short_label(tq) == "tqstar k=5 rollout_len=8"
    config = DECODERS.get("deal").Config(instruction='Say "hi", then (go)', lam=2.5)
    label = stored_label("deal", config.to_dict(), {"sentiment": 1.0}, "gpt2")
    assert parse_label(label) == ("deal", config.to_dict(), "[sentiment=1.0] @gpt2")
    assert short_label(label) == 'deal lam=2.5 instruction="Say "hi", then (go)" [sentiment=1.0] @gpt2'
    assert short_label(stored_label("rad", {"inverse": True}, {})) == "rad inverse=true"


def test_rewards_and_presets_show_only_where_labels_differ():
    a = stored_label("args", {"w": 3.0}, {"sentiment": 1.0})
    b = stored_label("sampling", {}, {"sentiment": 1.0})
    assert short_labels([a, b]) == {a: "args w=3", b: "sampling"}
    c = stored_label("sampling", {}, {"sentiment": 2.0})
    assert short_labels([a, b, c]) == {a: "args w=3 [sentiment=1.0]", b: "sampling [sentiment=1.0]",
                                       c: "sampling [sentiment=2.0]"}


def test_unreadable_or_colliding_labels_keep_their_full_text():
    odd = ["imported run 3", "nodecoder(k=1)", "args(w=oops)", "args(k=10, w=1.0~0123456789"]
    assert short_labels(odd) == {label: label for label in odd}
    with pytest.raises(ConfigError):
        DECODERS.get("args").Config(w="oops")  # why the third one is unreadable
    same = [stored_label("args", {}, {}), stored_label("args", {"k": 10}, {})]  # both read as "args"
    assert short_labels(same) == {same[0]: same[0], same[1]: same[1]}


def test_the_docstring_example_runs():
    failed, tried = doctest.testmod(backends.config)
    assert tried >= 3 and failed == 0
