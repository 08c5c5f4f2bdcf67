"""Gradio controls generated from config metadata, so a new decoder or reward needs no UI code.

`component_for(spec)` picks the widget for one field (slider for bounded numbers, checkbox,
dropdown for choices, text box for text and lists) and shows the field's help as its info line.
`values_to_config` turns the widgets' values back into the `key -> value` dict a request takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from backends.config import FieldSpec

SLIDER_MAX_SPAN = 1000  # wider bounded ranges get a number box instead of a slider


def component_for(spec: FieldSpec, label_prefix: str = "") -> gr.components.Component:
    label = f"{label_prefix}{spec.name}"
    if spec.type is bool:
        return gr.Checkbox(value=spec.default, label=label, info=spec.help)
    if spec.choices:
        return gr.Dropdown(choices=list(spec.choices), value=spec.default, label=label, info=spec.help)
    if spec.type in (int, float):
        bounded = spec.low is not None and spec.high is not None
        if bounded and spec.high - spec.low <= SLIDER_MAX_SPAN:
            step = spec.step or (1 if spec.type is int else (spec.high - spec.low) / 100)
            return gr.Slider(minimum=spec.low, maximum=spec.high, value=spec.default, step=step,
                             label=label, info=spec.help)
        return gr.Number(value=spec.default, label=label, info=spec.help, minimum=spec.low, maximum=spec.high,
                         precision=0 if spec.type is int else None)
    if spec.type is tuple:
        return gr.Textbox(value=", ".join(spec.default), label=label, info=spec.help)
    return gr.Textbox(value=spec.default, label=label, info=spec.help)


def values_to_config(specs: Sequence[FieldSpec], values: Sequence[Any]) -> dict[str, Any]:
    """Only the values that differ from the defaults (keeps stored configs short and readable)."""
    out = {}
    for spec, value in zip(specs, values, strict=True):
        if spec.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if spec.type is tuple and isinstance(value, str):
            value = tuple(w.strip() for w in value.split(",") if w.strip())
        if value != spec.default:
            out[spec.name] = value
    return out
