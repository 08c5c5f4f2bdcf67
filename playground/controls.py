"""Gradio controls generated from config metadata, so a new decoder or reward needs no UI code.

`component_for(spec)` picks the widget for one field (slider for bounded numbers, checkbox,
dropdown for choices, text box for text and lists), shows the field's help as its info line and
starts from the field's default or a given value (a decoder's `example_config`).
`values_to_config` turns the widgets' values back into the `key -> value` dict a request takes.
This module builds widgets; it wires no events.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import gradio as gr

from backends.config import FieldSpec, fields

SLIDER_MAX_SPAN = 1000  # wider bounded ranges get a number box instead of a slider


def _shown(spec: FieldSpec, value: Any) -> Any:
    if spec.type is tuple and isinstance(value, tuple | list):
        return ", ".join(map(str, value))
    return value


def component_for(spec: FieldSpec, label_prefix: str = "", value: Any = None,
                  elem_id: str | None = None) -> gr.components.Component:
    """The widget for one config field; `value` (None: the field's default) is its start value."""
    label, value = f"{label_prefix}{spec.name}", _shown(spec, spec.default if value is None else value)
    common = {"label": label, "info": spec.help, "elem_id": elem_id}
    if spec.type is bool:
        return gr.Checkbox(value=value, **common)
    if spec.choices:
        return gr.Dropdown(choices=list(spec.choices), value=value, **common)
    if spec.type in (int, float):
        bounded = spec.low is not None and spec.high is not None
        if bounded and spec.high - spec.low <= SLIDER_MAX_SPAN:
            step = spec.step or (1 if spec.type is int else (spec.high - spec.low) / 100)
            return gr.Slider(minimum=spec.low, maximum=spec.high, value=value, step=step, **common)
        return gr.Number(value=value, minimum=spec.low, maximum=spec.high,
                         precision=0 if spec.type is int else None, **common)
    return gr.Textbox(value=value, lines=1, **common)


def initial_values(card: Any, preset_start: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The values a decoder's or reward's controls start from (`card`: `DECODERS.card(name)` or
    `REWARDS.card(name)`): its config's defaults, then its `example_config` (the settings a first run
    needs, such as PRS's preference), then the preset's starting settings for it
    (`Preset.decoder_defaults`)."""
    values = {s.name: s.default for s in fields(card.Config)}
    values.update(getattr(card, "example_config", {}) or {})
    values.update(preset_start or {})
    return values


def controls_for(card: Any, label_prefix: str = "", id_prefix: str | None = None,
                 preset_start: Mapping[str, Any] | None = None) -> list[gr.components.Component]:
    """One widget per field of `card.Config`, prefilled with `initial_values(card, preset_start)`."""
    start = initial_values(card, preset_start)
    return [component_for(s, label_prefix, start[s.name], None if id_prefix is None else f"{id_prefix}-{s.name}")
            for s in fields(card.Config)]


def values_to_config(specs: Sequence[FieldSpec], values: Sequence[Any], pinned: Collection[str] = ()
                     ) -> dict[str, Any]:
    """Only the values that differ from the defaults (keeps stored configs short and readable), and
    always those `pinned` (settings a preset starts elsewhere: what the page shows is what runs)."""
    out = {}
    for spec, value in zip(specs, values, strict=True):
        if spec.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if spec.type is tuple and isinstance(value, str):
            value = tuple(w.strip() for w in value.split(",") if w.strip())
        if value != spec.default or spec.name in pinned:
            out[spec.name] = value
    return out
