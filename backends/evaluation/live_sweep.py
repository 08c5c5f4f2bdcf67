"""A small trade-off sweep run in one process, its results re-summarised after every generation.

For the app's Sweep view: one decoder, one numeric setting, a few values and prompts. It reuses
the evaluator's pieces (`parse_sweep`-style specs, `check_specs`, `Judge`, `generate_record`,
`results`), so every partial result has the shape of the evaluator's results.json. Not the
CLI, no files, no processes; the caller decides when to stop (stop iterating).

>>> plan_sweep("args", "w", "0, 3", ["Write a review."], {"sentiment": 1.0}).specs[1].label
'args:w=3'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.config import ConfigError, fields
from backends.decoders import DECODERS
from backends.evaluation.inputs import DecoderSpec, Prompt, RunSettings, UsageError, check_limits, check_specs
from backends.rewards import REWARDS

MAX_VALUES, MAX_PROMPTS = 8, 8
# A public server shares one accelerator among its visitors: a sweep there is held to this much.
PUBLIC_GENERATIONS, PUBLIC_TOKENS = 16, 64


@dataclass(frozen=True)
class SweepPlan:
    specs: list[DecoderSpec]
    prompts: list[Prompt]
    settings: RunSettings


def numeric_settings(decoder: str) -> list[str]:
    """The settings of `decoder` a sweep can vary (numbers)."""
    return [s.name for s in fields(DECODERS.card(decoder).Config) if s.type in (int, float)]


def _values(decoder: str, key: str, text: str) -> list[str]:
    spec = {s.name: s for s in fields(DECODERS.card(decoder).Config)}[key]
    values = [v.strip() for v in str(text).split(",") if v.strip()]
    if not 2 <= len(values) <= MAX_VALUES:
        raise UsageError(f"values: give 2 to {MAX_VALUES} comma-separated numbers, got {text!r}")
    for v in values:
        try:
            number = spec.type(float(v)) if spec.type is float or float(v).is_integer() else None
        except ValueError:
            number = None
        if number is None:
            kind = "an integer" if spec.type is int else "a number"
            raise UsageError(f"values: {v!r} is not {kind} (setting {decoder}.{key})")
    if len(set(values)) != len(values):
        raise UsageError(f"values: {text!r} repeats a value")
    return values


def plan_sweep(decoder: str, key: str, values: str, prompts: Sequence[str], rewards: Mapping[str, float], *,
               preset: str = "embedded", max_new_tokens: int = 32, seed: int = 0,
               reward_config: Mapping[str, Mapping[str, str]] | None = None) -> SweepPlan:
    """Check everything (naming the field and value) and lay out one spec per value."""
    if decoder not in DECODERS.names():
        raise UsageError(f"decoder: unknown {decoder!r}; known: {', '.join(DECODERS.names())}")
    if key not in numeric_settings(decoder):
        raise UsageError(f"setting: {decoder} has no numeric setting {key!r}; "
                         f"choose one of {', '.join(numeric_settings(decoder))}")
    texts = [p.strip() for p in prompts if p and p.strip()]
    if not 1 <= len(texts) <= MAX_PROMPTS:
        raise UsageError(f"prompts: give 1 to {MAX_PROMPTS} prompts, got {len(texts)}")
    weights = {k: float(w) for k, w in rewards.items() if w}
    if not weights:
        raise UsageError("reward weights: every weight is 0; a sweep needs a reward to score and guide with")
    for name in weights:
        try:
            REWARDS.card(name)
        except LookupError as e:
            raise UsageError(f"reward weights: {e.args[0] if e.args else e}") from None
    check_limits(max_new_tokens, seed)
    specs = [DecoderSpec(label=f"{decoder}:{key}={v}", decoder=decoder, config={key: v}, sweep_key=key,
                         sweep_value=v) for v in _values(decoder, key, values)]
    try:
        check_specs(specs)
    except ConfigError as e:
        raise UsageError(f"values: {e}") from None
    settings = RunSettings(preset=preset, rewards=weights, reward_config={k: dict(v) for k, v in
                                                                           (reward_config or {}).items()},
                           samples=1, seed=seed, max_new_tokens=max_new_tokens)
    return SweepPlan(specs, [Prompt(index=i, text=t) for i, t in enumerate(texts)], settings)


def check_public(plan: SweepPlan) -> None:
    """A public server's limits on one sweep (values x prompts generations, new tokens each)."""
    n = len(plan.specs) * len(plan.prompts)
    if n > PUBLIC_GENERATIONS:
        raise UsageError(f"values x prompts: {len(plan.specs)} x {len(plan.prompts)} = {n} generations; this public "
                         f"server runs at most {PUBLIC_GENERATIONS} a sweep (fewer values or prompts)")
    if plan.settings.max_new_tokens > PUBLIC_TOKENS:
        raise UsageError(f"max new tokens: {plan.settings.max_new_tokens}; this public server sweeps at most "
                         f"{PUBLIC_TOKENS} a generation")


def run_info(plan: SweepPlan, engine, done: int) -> dict[str, Any]:
    s, preset = plan.settings, engine.preset(plan.settings.preset)
    expected = len(plan.specs) * len(plan.prompts)
    return {"prompts_file": None, "prompts": len(plan.prompts), "preset": s.preset,
            "models": {"policy": preset.policy, "base": preset.base_id, "baseline": preset.baseline},
            "rewards": s.rewards, "reward_config": s.reward_config, "samples": s.samples, "seed": s.seed,
            "max_new_tokens": s.max_new_tokens, "judge": "reward", "processes": 1, "device": str(engine.device),
            "device_map": None, "coherence_model": None, "complete": done == expected, "generations": done,
            "expected": expected}


def run_sweep(engine, plan: SweepPlan) -> Iterator[dict[str, Any]]:
    """Yield the evaluator's results dict after each generation (value by value, prompt by prompt)."""
    from backends.evaluation.loop import NOTES, Judge, generate_record  # torch: with the first sweep, not the page
    from backends.evaluation.results import results

    judge = Judge(engine, engine.preset(plan.settings.preset), plan.settings, None)
    judge.check(plan.prompts)
    records: list[dict[str, Any]] = []
    for spec in plan.specs:
        for prompt in plan.prompts:
            records.append(generate_record(engine, judge, spec, prompt, 0, plan.settings, rank=0))
            yield results(records, plan.specs, [], "reward", run_info(plan, engine, len(records)),
                          [judge.coherence_note, *NOTES])
