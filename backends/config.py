"""Frozen configuration dataclasses with typed, bounded, documented fields.

A config field is declared with `param(default, help=..., low=..., high=..., choices=...)`; the
metadata drives eager validation (`Config.__post_init__`), parsing of `key=value` strings from
the command line, and the controls the UI generates. Errors are `ConfigError`, whose message
names the field and the bad value. This module knows nothing about decoders or models.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """A bad value for a named field; the message says which field, which value and why."""

    def __init__(self, field: str, value: Any, why: str):
        self.field, self.value, self.why = field, value, why
        super().__init__(f"{field}={value!r}: {why}")


def param(default: Any, *, help: str, low: float | None = None, high: float | None = None,
          choices: tuple[Any, ...] | None = None, step: float | None = None) -> Any:
    """A dataclass field carrying UI and validation metadata."""
    meta = {"help": help, "low": low, "high": high, "choices": choices, "step": step}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple default, configs are frozen")
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """What the UI and the CLI need to know about one field."""

    name: str
    type: type
    default: Any
    help: str
    low: float | None
    high: float | None
    choices: tuple[Any, ...] | None
    step: float | None


def _base_type(tp: Any) -> type:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return tuple
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0])
    return tp


def fields(cls_or_obj: Any) -> list[FieldSpec]:
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        m = f.metadata
        out.append(FieldSpec(f.name, _base_type(hints[f.name]), f.default, m.get("help", ""),
                             m.get("low"), m.get("high"), m.get("choices"), m.get("step")))
    return out


def _check(spec: FieldSpec, value: Any, prefix: str) -> None:
    name = prefix + spec.name
    if spec.type is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, value, "must be true or false")
        return
    if spec.type in (int, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if spec.type is int:
            ok = ok and float(value).is_integer()
        if not ok:
            raise ConfigError(name, value, f"must be {'an integer' if spec.type is int else 'a number'}")
        if not math.isfinite(value):
            raise ConfigError(name, value, "must be finite (not NaN or infinity)")
        lo = -math.inf if spec.low is None else spec.low
        hi = math.inf if spec.high is None else spec.high
        if not lo <= value <= hi:
            raise ConfigError(name, value, f"out of range, must be in [{spec.low}, {spec.high}] ({spec.help})")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(name, value, f"must be one of {', '.join(map(str, spec.choices))}")
    if spec.type is str and not isinstance(value, str):
        raise ConfigError(name, value, "must be text")
    for text in (value,) if isinstance(value, str) else value if isinstance(value, tuple) else ():
        if isinstance(text, str) and (why := unusable_text(text)):
            raise ConfigError(name, value, why)
    if spec.type is tuple and not isinstance(value, tuple):
        raise ConfigError(name, value, "must be a list")


_UNUSABLE = re.compile("[\x00\ud800-\udfff]")


def unusable_text(text: str) -> str | None:
    """Why `text` cannot be tokenized or stored (a NUL, a lone surrogate from invalid UTF-8), else None."""
    bad = _UNUSABLE.search(text)
    if bad is None:
        return None
    if bad.group() == "\x00":
        return f"contains a NUL character (U+0000) at position {bad.start()}; remove it"
    return (f"is not valid Unicode text: a lone surrogate U+{ord(bad.group()):04X} at position {bad.start()} "
            "(invalid UTF-8 in the input?); send UTF-8 text")


class Config:
    """Mixin for frozen config dataclasses: validates every field on construction.

    Subclasses may override `check()` for constraints across fields (raise `ConfigError`).
    """

    def __post_init__(self) -> None:
        for spec in fields(self):
            _check(spec, getattr(self, spec.name), "")
        self.check()

    def check(self) -> None:
        pass

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


def parse_value(spec: FieldSpec, raw: Any, name: str) -> Any:
    """Turn a CLI/UI string (or an already-typed value) into the field's type."""
    if not isinstance(raw, str):
        if spec.type is tuple and isinstance(raw, list):
            return tuple(raw)
        if spec.type is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        return raw
    text = raw.strip()
    try:
        if spec.type is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if spec.type is int:
            return int(float(text)) if float(text).is_integer() else float(text)
        if spec.type is float:
            return float(text)
        if spec.type is tuple:
            return tuple(w.strip() for w in text.split(",") if w.strip())
    except ValueError:
        raise ConfigError(name, raw, f"cannot be read as {spec.type.__name__}") from None
    return text


def build_config(cls: type[C], values: dict[str, Any], prefix: str = "") -> C:
    """Construct `cls` from user values (strings or typed); unknown keys name the valid ones."""
    specs = {s.name: s for s in fields(cls)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(prefix + unknown[0], values[unknown[0]],
                          f"unknown key; valid keys: {', '.join(specs) or '(none)'}")
    typed = {k: parse_value(specs[k], v, prefix + k) for k, v in values.items()}
    try:
        return cls(**typed)
    except ConfigError as e:
        if not prefix or e.field.startswith(prefix):
            raise
        raise ConfigError(prefix + e.field, e.value, e.why) from None


LABEL_TEXT_CHARS = 24  # of a text value in a label; the full config stays in the tooltip and the exports


def config_label(decoder: str, config: Config) -> str:
    """A readable name: the decoder, then the fields of `config` that differ from its class's defaults.

    Numbers are written compactly (3.0 -> 3, 0.0001 -> 0.0001, 1e-07 -> 1e-07), booleans as
    true/false, lists comma-joined, text quoted only when it has spaces or punctuation, and long
    text cut with an ellipsis, so the label names a configuration but may not spell it out whole.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo(Config):
    ...     k: int = param(10, help="candidates")
    ...     rollout_len: int = param(20, help="tokens")
    ...     beta: float = param(1.0, help="weight")
    >>> config_label("tqstar", Demo(k=5, rollout_len=8))
    'tqstar k=5 rollout_len=8'
    >>> config_label("tqstar", Demo(beta=0.25))
    'tqstar beta=0.25'
    """
    changed = [f"{s.name}={_label_value(getattr(config, s.name))}" for s in fields(config)
               if getattr(config, s.name) != s.default]
    return " ".join([decoder, *changed])


def _label_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple | list):
        return ",".join(_label_value(v) for v in value)
    if isinstance(value, str):
        text = value if len(value) <= LABEL_TEXT_CHARS else value[:LABEL_TEXT_CHARS - 1] + "…"
        return text if text.replace("_", "").replace("-", "").replace(".", "").isalnum() else f'"{text}"'
    return str(value)
