"""Checking what callers hand the store, before any transaction: every problem is a `Refused`
that names the field and the value. Also the canonical label of a decoder configuration.

A generation record is a plain dict (the UI builds it from `dataclasses.asdict(request)` and the
event trace); what it leaves out is read from the trace's final `finished` event (text, stop
reason, reward, cost, full config) or from the request. Text nobody can store is refused with the
field named: NUL in typed text (PostgreSQL cannot hold it), lone surrogates anywhere (invalid
UTF-8); a NUL a model generated stays verbatim in the trace and is U+FFFD in the text column.
Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from storage.errors import Refused
from storage.records import ANNOTATOR_CHARS, CHOICES, LABEL_CHARS, RATIONALE_CHARS, STOP_REASONS

MAX_MS = 2**31 - 1
RECORD_KEYS = {"request", "prompt", "prompt_set", "decoder", "config", "reward_config", "rewards", "preset",
               "model_ids", "seed", "text", "trace", "reward", "reward_parts", "cost", "stop_reason", "error", "label"}
FROM_FINISHED = ("config", "text", "stop_reason", "reward", "reward_parts", "cost", "error", "seed")
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8)
SURROGATE = re.compile("[\ud800-\udfff]")  # JSON escapes a NUL (both databases hold "\\u0000"), not these


def storable(value: str, field: str) -> str:
    """`value` if every database can hold it; else `Refused` naming the field and the first bad character.

    NUL cannot be stored in PostgreSQL text; a lone surrogate (what Python makes of invalid UTF-8
    read with `surrogateescape`) cannot be encoded as UTF-8 at all.
    """
    bad = UNSTORABLE.search(value)
    if bad is None:
        return value
    char, at = bad.group(), bad.start()
    if char == "\x00":
        why = f"contains a NUL character (U+0000) at position {at}; NUL cannot be stored, remove it"
    else:
        why = (f"is not valid Unicode text: a lone surrogate U+{ord(char):04X} at position {at} "
               "(invalid UTF-8 in the input?); send UTF-8 text")
    raise Refused(field, value, why)


def text_value(value: Any, field: str) -> str:
    """A `str` that can be stored; bytes are refused (decode them as UTF-8 first), like any other type."""
    if isinstance(value, bytes | bytearray):
        raise Refused(field, value, "must be text, got bytes (decode them as UTF-8 first)")
    if not isinstance(value, str):
        raise Refused(field, value, "must be text")
    return storable(value, field)


def row_id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise Refused(field, value, "must be a positive integer id (below 2**63)")
    return value


def annotator(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused("vote.annotator", value, "an annotator id is required (a non-empty string)")
    value = storable(value.strip(), "vote.annotator")
    if len(value) > ANNOTATOR_CHARS or not value.isprintable():
        raise Refused("vote.annotator", value, f"must be at most {ANNOTATOR_CHARS} printable characters")
    return value


def choice(value: Any) -> str:
    if value not in CHOICES:
        raise Refused("vote.choice", value, f"must be one of {', '.join(CHOICES)}")
    return value


def rationale(value: Any) -> str | None:
    if value is None:
        return None
    value = text_value(value, "vote.rationale").strip()
    if len(value) > RATIONALE_CHARS:
        raise Refused("vote.rationale", value, f"{len(value)} characters, at most {RATIONALE_CHARS} allowed")
    return value or None


def ms_to_vote(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MS:
        raise Refused("vote.ms_to_vote", value, f"must be an integer number of milliseconds in [0, {MAX_MS}]")
    return value


def clean_json(value: Any, field: str) -> Any:
    """A JSON-safe copy: tuples become lists, NaN and infinities None; anything else is refused.

    Text inside (keys too) must be valid Unicode (a NUL is fine: JSON writes it as an escape); a
    refusal names the path, e.g. `generation.trace[3].text`.
    """
    try:
        return _json(value)
    except _Bad as bad:
        raise Refused(field + "".join(reversed(bad.path)), bad.value, bad.why) from None


class _Bad(Exception):
    def __init__(self, value: Any, why: str):
        self.value, self.why, self.path = value, why, []


def _json(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if SURROGATE.search(value):
            try:
                storable(value, "")
            except Refused as e:
                raise _Bad(value, e.why) from None
        return value
    if value is None or isinstance(value, int | bool):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            try:
                out[_json(str(k))] = _json(v)
            except _Bad as bad:
                bad.path.append(f"[{str(k)!r}]" if not str(k).isidentifier() else f".{k}")
                raise
        return out
    if isinstance(value, list | tuple):
        out_list = []
        for i, v in enumerate(value):
            try:
                out_list.append(_json(v))
            except _Bad as bad:
                bad.path.append(f"[{i}]")
                raise
        return out_list
    raise _Bad(value, f"{type(value).__name__} is not JSON data")


def _text(record: Mapping[str, Any], key: str, *, limit: int | None = None, required: bool = False) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Refused(f"generation.{key}", value, "must be non-empty text" if required else "must be text")
    storable(value, f"generation.{key}")
    if limit is not None and len(value) > limit:
        raise Refused(f"generation.{key}", value, f"at most {limit} characters")
    return value


def _generated(record: Mapping[str, Any], key: str) -> str:
    """What a model wrote, for a text column: a NUL it generated becomes U+FFFD, which PostgreSQL
    can hold; the trace keeps the exact text (JSON escapes the NUL). Lone surrogates are refused."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refused(f"generation.{key}", value, "must be text")
    return storable(value.replace("\x00", "\ufffd"), f"generation.{key}")


FROM_REQUEST = ("prompt", "decoder", "config", "rewards", "reward_config", "preset", "seed")


def _merged(record: Mapping[str, Any], request: dict[str, Any], trace: list[Any]) -> dict[str, Any]:
    """The record's own values, else the trace's closing `finished` event's, else the request's.

    The Finished event's config is the decoder's full, validated config (defaults included), so
    it beats the request's overrides: equal configurations then get equal labels.
    """
    last = trace[-1] if trace and isinstance(trace[-1], Mapping) and trace[-1].get("type") == "finished" else {}
    merged = {k: request[k] for k in FROM_REQUEST if request.get(k) not in (None, {})}
    merged.update({k: last[k] for k in FROM_FINISHED if last.get(k) not in (None, {})})
    merged.update({k: v for k, v in record.items() if v is not None})
    return merged


def _number(merged: Mapping[str, Any], key: str, kind: type | tuple[type, ...], why: str) -> Any:
    value = clean_json(merged.get(key), f"generation.{key}")
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)
                              or (kind is int and abs(value) >= 2**63)):
        raise Refused(f"generation.{key}", value, why)
    return value


def _config(merged: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    config = clean_json(dict(merged.get("config") or {}), "generation.config")
    decoder = merged.get("decoder") or config.get("decoder")
    if not isinstance(decoder, str) or not decoder.strip() or len(decoder) > 64:
        raise Refused("generation.decoder", decoder, "a decoder name of 1 to 64 characters is required")
    storable(decoder, "generation.decoder")
    if merged.get("reward_config"):
        config["reward_config"] = clean_json(dict(merged["reward_config"]), "generation.reward_config")
    return decoder, config


def generation(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record -> column values plus `prompt` and `prompt_set` (refused with the first bad field).

    Keys: `request` (the `GenerationRequest` as a dict; prompt, decoder, config, rewards, preset
    and seed default from it), `trace` (`to_dict` of every event; text, stop reason, reward, cost
    and config default from its final `finished` event), and any of RECORD_KEYS to override.
    """
    if not isinstance(record, Mapping):
        raise Refused("generation", type(record).__name__, "must be a dict")
    unknown = sorted(set(record) - RECORD_KEYS)
    if unknown:
        raise Refused("generation", unknown, f"unknown keys; known: {', '.join(sorted(RECORD_KEYS))}")
    request = clean_json(dict(record.get("request") or {}), "generation.request")
    trace = clean_json(list(record.get("trace") or ()), "generation.trace")
    merged = _merged(record, request, trace)
    decoder, config = _config(merged)
    rewards = clean_json(dict(merged.get("rewards") or {}), "generation.rewards")
    preset = _text(merged, "preset", limit=64) or "embedded"
    stop = merged.get("stop_reason")
    if stop is not None and stop not in STOP_REASONS:
        raise Refused("generation.stop_reason", stop, f"must be one of {', '.join(STOP_REASONS)} or None")
    reward = _number(merged, "reward", int | float, "must be a number or None")
    label = _text(merged, "label", limit=LABEL_CHARS) or stored_label(decoder, config, rewards, preset)
    return dict(
        prompt=_text(merged, "prompt", required=True), prompt_set=_text(merged, "prompt_set", limit=64),
        decoder=decoder, label=label, config=config, rewards=rewards, preset=preset, request=request,
        model_ids=clean_json(dict(merged.get("model_ids") or {}), "generation.model_ids"),
        seed=_number(merged, "seed", int, "must be a 64-bit integer or None"), text=_generated(merged, "text"),
        trace=trace, reward=None if reward is None else float(reward),
        reward_parts=clean_json(dict(merged.get("reward_parts") or {}), "generation.reward_parts"),
        cost=clean_json(dict(merged.get("cost") or {}), "generation.cost"), stop_reason=stop,
        error=_generated(merged, "error") if isinstance(merged.get("error"), str) else None)


def stored_label(decoder: str, config: Mapping[str, Any], rewards: Mapping[str, Any], preset: str = "embedded") -> str:
    """`args(k=10, w=1.5) [sentiment=1.0]`: decoder, every config value, reward weights, non-default preset.

    Labels longer than the column are clipped and made unique with a hash of the full text.
    """
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(config.items()) if k != "decoder")
    label = f"{decoder}({params})"
    if rewards:
        label += " [" + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(rewards.items())) + "]"
    if preset != "embedded":
        label += f" @{preset}"
    if len(label) > LABEL_CHARS:
        digest = hashlib.sha256(label.encode()).hexdigest()[:10]
        label = f"{label[:LABEL_CHARS - 12]}~{digest}"
    return label


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":")) if isinstance(value, dict | list) else str(value)


def prompt_digest(text: str, prompt_set: str) -> str:
    return hashlib.sha256(f"{prompt_set}\x00{text}".encode()).hexdigest()


def pair(ids: Sequence[Any]) -> tuple[int, int]:
    a, b = (row_id(x, f"battle.generation_{side}") for x, side in zip(ids, "ab", strict=True))
    if a == b:
        raise Refused("battle.generation_b", b, "a battle needs two different generations")
    return a, b
