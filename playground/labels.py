"""Readable names for stored configuration labels: `tqstar k=5 rollout_len=8` for
`tqstar(baseline="", ..., k=5, ..., rollout_len=8, ...) [sentiment=1.0]`.

The store names a configuration by its full label (`storage.validate.stored_label`: every config
value, the reward weights, a non-default preset); the leaderboard ranks by it and the exports
keep it. This module reads such a label back and names it by `backends.config.config_label`
(the decoder and the settings that differ from its defaults). Shown next to other labels
(`short_labels`), reward weights and preset are added only where the labels differ in them, and
labels whose short names would collide keep their full text. A label it cannot read (clipped
with a digest, typed by an importer, an unknown decoder) is shown as it is. Pure: no store, no UI.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from backends.config import ConfigError, build_config, config_label, fields
from backends.decoders import DECODERS
from backends.registry import UnknownName

NAME = re.compile(r"([A-Za-z_][\w.-]*)\(")
KEY = re.compile(r"([A-Za-z_]\w*)=")
BARE = re.compile(r"[^,)]*")
_JSON = json.JSONDecoder()


def parse_label(label: str) -> tuple[str, dict[str, Any], str] | None:
    """(decoder, config values, the rest: reward weights and preset) of a stored label, or None."""
    m = NAME.match(label)
    if m is None:
        return None
    decoder, values, i = m.group(1), {}, m.end()
    try:
        while label[i] != ")":
            key = KEY.match(label, i)
            if key is None:
                return None
            i = key.end()
            if label[i] in '"[{':
                values[key.group(1)], i = _JSON.raw_decode(label, i)
            else:
                token = BARE.match(label, i)
                values[key.group(1)], i = _bare(token.group()), token.end()
            if label.startswith(", ", i):
                i += 2
            elif label[i] != ")":
                return None
    except (IndexError, ValueError):
        return None
    return decoder, values, label[i + 1:].strip()


def _bare(token: str) -> Any:
    if token in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[token]
    for kind in (int, float):
        try:
            return kind(token)
        except ValueError:
            pass
    return token


def _named(label: str) -> tuple[str, str] | None:
    """(config_label, reward/preset suffix) of a stored label, or None when it cannot be read."""
    parsed = parse_label(label)
    if parsed is None:
        return None
    decoder, values, rest = parsed
    try:
        cls = DECODERS.card(decoder).Config
        known = {s.name for s in fields(cls)}
        config = build_config(cls, {k: v for k, v in values.items() if k in known})
    except (UnknownName, ConfigError, TypeError):
        return None
    extra = [f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in values.items() if k not in known]
    return " ".join([config_label(decoder, config), *extra]), rest


def short_label(label: str) -> str:
    """One label's readable name, its reward weights and preset included (the label itself if unreadable)."""
    named = _named(label)
    return label if named is None else " ".join(p for p in named if p)


def short_labels(labels: Iterable[str]) -> dict[str, str]:
    """Each label's readable name among `labels`: reward weights and preset only where they differ."""
    labels = list(dict.fromkeys(labels))
    named = {label: _named(label) for label in labels}
    suffixes = {n[1] for n in named.values() if n is not None}
    same = len(suffixes) <= 1
    out = {label: label if n is None else (n[0] if same or not n[1] else f"{n[0]} {n[1]}")
           for label, n in named.items()}
    taken = Counter(out.values())
    return {label: label if taken[name] > 1 else name for label, name in out.items()}
