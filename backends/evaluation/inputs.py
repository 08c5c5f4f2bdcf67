"""What an evaluation run is given: prompt files, decoder and sweep specs, a preset from JSON.

Parses and checks the evaluator's inputs into frozen records; every problem is a `UsageError`
whose message names the file and line, or the spec and the key. It loads no model and runs
nothing (`backends.evaluate` does).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.config import build_config
from backends.decoders import DECODERS
from backends.presets import Preset
from backends.rewards import REWARDS, RewardModelRef

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")


class UsageError(ValueError):
    """A bad command-line argument or input file; the CLI prints it on one line and exits 2."""


@dataclass(frozen=True)
class Prompt:
    """One prompt of the set: its position in the file, text, and what the prompt set adds."""

    index: int
    text: str
    keywords: tuple[str, ...] = ()
    preference: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecoderSpec:
    """One decoder configuration of the run, named by its label (e.g. `args:w=3`)."""

    label: str
    decoder: str
    config: dict[str, str]
    sweep_key: str | None = None  # set for the points of a --sweep
    sweep_value: str | None = None


@dataclass(frozen=True)
class RunSettings:
    """What every request of the run shares."""

    preset: str
    rewards: dict[str, float]
    reward_config: dict[str, dict[str, str]]
    samples: int
    seed: int
    max_new_tokens: int


def _prompt_from_json(line: str, where: str, index: int) -> Prompt:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise UsageError(f"{where}: not JSON ({e.msg}); use one JSON object or plain text per line") from None
    if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        raise UsageError(f"{where}: expected an object with a non-empty \"prompt\" text")
    keywords, tags, pref = row.get("keywords") or [], row.get("tags") or [], row.get("preference")
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise UsageError(f"{where}: \"keywords\" must be a list of words")
    if pref is not None and not isinstance(pref, str):
        raise UsageError(f"{where}: \"preference\" must be text")
    return Prompt(index, row["prompt"], tuple(keywords), pref or None, tuple(map(str, tags)))


def load_prompts(path: str | Path, limit: int | None = None) -> list[Prompt]:
    """JSONL (`{"prompt", "keywords"?, "preference"?, "tags"?}`) by suffix, else one prompt per line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UsageError(f"--prompts {path}: cannot read it ({e.strerror or e})") from None
    as_json = path.suffix.lower() in JSONL_SUFFIXES
    prompts: list[Prompt] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if limit is not None and len(prompts) >= limit:
            break
        where = f"{path.name} line {number}"
        prompts.append(_prompt_from_json(line, where, len(prompts)) if as_json else Prompt(len(prompts), line.strip()))
    if not prompts:
        raise UsageError(f"--prompts {path}: no prompts in the file")
    return prompts


def _items(rest: str, spec: str) -> list[tuple[str, list[str]]]:
    """`k=1,w=0,1,3` -> [("k", ["1"]), ("w", ["0", "1", "3"])]: a piece without `=` continues a value."""
    items: list[tuple[str, list[str]]] = []
    for piece in rest.split(","):
        key, sep, value = piece.partition("=")
        if sep and key.strip().isidentifier():
            items.append((key.strip(), [value]))
        elif items:
            items[-1][1].append(piece)
        elif piece.strip():
            raise UsageError(f"{spec!r}: expected NAME:KEY=VALUE,..., got {piece!r}")
    return items


def _decoder_name(spec: str) -> tuple[str, str]:
    name, _, rest = spec.partition(":")
    name = name.strip()
    DECODERS.card(name)  # an unknown name lists the known ones
    return name, rest


def parse_decoder(spec: str) -> DecoderSpec:
    """`NAME[:key=value,...]`; a value may contain commas (`prs:preference=Warm, kind.`)."""
    name, rest = _decoder_name(spec)
    config = {key: ",".join(values).strip() for key, values in _items(rest, spec)}
    return DecoderSpec(label=spec.strip(), decoder=name, config=config)


def parse_sweep(spec: str) -> list[DecoderSpec]:
    """`NAME:key=v1,v2,v3[,other=x]` -> one DecoderSpec per value of the swept key."""
    name, rest = _decoder_name(spec)
    items = [(key, [v.strip() for v in values if v.strip()]) for key, values in _items(rest, spec)]
    swept = [key for key, values in items if len(values) > 1]
    if len(swept) > 1 or not items:
        raise UsageError(f"--sweep {spec}: give one key with several values, e.g. args:w=0,1,3")
    key = swept[0] if swept else items[-1][0]
    points = []
    for value in dict(items)[key]:
        config = {k: (value if k == key else vs[0]) for k, vs in items}
        label = f"{name}:" + ",".join(f"{k}={v}" for k, v in config.items())
        points.append(DecoderSpec(label=label, decoder=name, config=config, sweep_key=key, sweep_value=value))
    return points


def check_specs(specs: list[DecoderSpec]) -> None:
    """Unique labels, and configs the decoder accepts (a preference may come from the prompts)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.label in seen:
            raise UsageError(f"decoder configuration {spec.label!r} is given twice")
        seen.add(spec.label)
        card = DECODERS.card(spec.decoder)
        config = dict(spec.config)
        if spec.decoder == "prs" and "preference" not in config:
            config["preference"] = "(from the prompt set)"  # checked per prompt when requests are built
        build_config(card.Config, config, prefix=f"{spec.decoder}.")


MAX_NEW_TOKENS = 1024  # the engine's limit (backends.engine.MAX_NEW_TOKENS)
SEED_LIMIT = 2**63  # seeds are stored as signed 64-bit integers; larger ones are refused, never wrapped


def check_limits(max_new_tokens: int | None, seed: int) -> None:
    """`--max-new-tokens` in [1, 1024] (None: the preset's) and `--seed` in [0, 2**63); else `UsageError`."""
    if max_new_tokens is not None and not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise UsageError(f"--max-new-tokens {max_new_tokens}: must be an integer in [1, {MAX_NEW_TOKENS}]")
    if not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"--seed {seed}: must be an integer in [0, 2**63) ({SEED_LIMIT - 1} at most); "
                         "larger seeds are refused, not wrapped")


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def parse_rewards(items: list[str]) -> dict[str, float]:
    weights = {}
    for name, value in parse_pairs(items, "--reward").items():
        REWARDS.card(name)
        try:
            weights[name] = float(value)
        except ValueError:
            raise UsageError(f"--reward {name}={value}: the weight must be a number") from None
    return weights


def parse_reward_settings(items: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in parse_pairs(items, "--reward-set").items():
        name, dot, field = key.partition(".")
        if not dot or not field:
            raise UsageError(f"--reward-set {key}={value}: expected NAME.KEY=VALUE, e.g. keywords.words=dog,park")
        REWARDS.card(name)
        out.setdefault(name, {})[field] = value
    return out


def load_preset_file(path: str | Path) -> Preset:
    """A Preset from JSON: name, policy, base, baseline, reward_models {name: {model, label, output,
    include_prompt}}, arm_models, prompt_template, max_new_tokens, ... (the Preset fields)."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"--preset-file {path}: cannot read it as JSON ({e})") from None
    known = {f.name for f in dataclasses.fields(Preset)}
    if not isinstance(data, dict) or not {"name", "policy"} <= set(data):
        raise UsageError(f"--preset-file {path}: expected an object with at least \"name\" and \"policy\"")
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"--preset-file {path}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    try:
        refs = {name: RewardModelRef(**ref) for name, ref in (data.get("reward_models") or {}).items()}
    except TypeError as e:
        raise UsageError(f"--preset-file {path}: reward_models: {e}") from None
    data = {**data, "reward_models": refs, "prompt_sets": tuple(data.get("prompt_sets") or ())}
    data.setdefault("description", f"from {path}")
    return Preset(**data)
