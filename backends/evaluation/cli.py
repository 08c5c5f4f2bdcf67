"""Command line: run decoders over a prompt file and report the papers' metrics.

    python -m backends.evaluate --prompts assets/prompts/reviews.jsonl --decoder sampling \\
        --decoder args:w=3 --reward sentiment=1 --samples 2 --out runs/reviews
    python -m backends.evaluate --prompts p.txt --sweep args:w=0,1,3 --compare args:w=3 args:w=0 --out runs/w
    torchrun --nproc_per_node 2 -m backends.evaluate ...   # prompts sharded over processes / GPUs

Prints a table per configuration (mean and 95% bootstrap interval over prompts of the reward and
its parts, diversity, coherence, KL to base, log ratio, length, tokens/s, LM and reward-model
tokens per generated token), sweeps (reward vs KL) and paired win rates; writes `results.json`,
`generations.jsonl` (every generation with seed, config, request and trace) and `report.html`.
An interrupted run (Ctrl-C) keeps what it made, writes the results so far and exits 130;
rerunning the same command continues where it stopped. Bad arguments exit 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.config import ConfigError, build_config
from backends.decoders import DECODERS
from backends.devices import set_cpu_threads
from backends.engine import Engine
from backends.evaluation import report
from backends.evaluation.inputs import (
    DecoderSpec,
    Prompt,
    UsageError,
    check_specs,
    load_preset_file,
    load_prompts,
    parse_decoder,
    parse_reward_settings,
    parse_rewards,
    parse_sweep,
)
from backends.evaluation.loop import NOTES, SEED_STRIDE, Judge, RunSettings, check_resume, make_request, run_shard
from backends.evaluation.output_format import REPORT, RESULTS
from backends.evaluation.results import WEIGHTED, render_text, results
from backends.evaluation.sharding import (
    JsonlWriter,
    Processes,
    existing_records,
    gather,
    keys,
    record_key,
    shard_path,
    write_atomic,
)
from backends.loading import ModelNotFound
from backends.presets import PRESETS, Preset
from backends.registry import UnknownName
from backends.rewards.configs import DEFAULT_EMBEDDER

log = logging.getLogger(__name__)
USAGE_ERRORS = (UsageError, ConfigError, UnknownName)


@dataclass(frozen=True)
class Plan:
    """Everything the run was asked to do, checked."""

    prompts_file: str
    prompts: list[Prompt]
    specs: list[DecoderSpec]
    settings: RunSettings
    presets: dict[str, Preset]
    comparisons: list[tuple[str, str]]
    judge: str
    embedder: str
    out: Path
    device: str
    device_map: str | None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backends.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--prompts", required=True, help="JSONL ({\"prompt\", \"keywords\"?, \"preference\"?, "
                   "\"tags\"?} per line) or plain text, one prompt per line")
    p.add_argument("--decoder", action="append", default=[], metavar="NAME[:KEY=VALUE,...]",
                   help=f"a configuration to run, repeatable; decoders: {', '.join(DECODERS.names())}")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME:KEY=V1,V2,...",
                   help="one configuration per value of a hyperparameter (ARGS's w, TQ*'s lam, RAD's beta)")
    p.add_argument("--preset", default=None, help=f"one of: {', '.join(PRESETS)} (or the --preset-file's name)")
    p.add_argument("--preset-file", default=None, help="JSON describing a Preset (name, policy, base, ...)")
    p.add_argument("--reward", action="append", default=[], metavar="NAME=WEIGHT",
                   help="the run's reward (steers guided decoders, judges all); default: the preset's")
    p.add_argument("--reward-set", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="reward setting; NAME.output=raw reads a reward model's raw logit (the ARGS paper's scale "
                        "for args.w) instead of the preset's squashed one (zoo: sigmoid 0..1), which every "
                        "decoder weight (args.w, rad.beta, cd.lam, tqstar.lam, deal.lam) then multiplies")
    p.add_argument("--samples", type=int, default=1, help="generations per prompt and configuration")
    p.add_argument("--seed", type=int, default=0, help="run seed; a generation's seed depends on prompt and sample")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: the preset's")
    p.add_argument("--limit", type=int, default=None, help="only the first N prompts of the file")
    p.add_argument("--compare", nargs=2, action="append", default=[], metavar=("A", "B"),
                   help="paired win rate of configuration A over B (labels as given), repeatable")
    p.add_argument("--judge", default=WEIGHTED, help="reward that judges --compare: 'weighted' or a reward name")
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER,
                   help="sentence-embedding model for coherence (hub id or folder; 'none' to skip)")
    p.add_argument("--device", default="auto", help="auto: cuda:LOCAL_RANK when there is a GPU, else cpu")
    p.add_argument("--device-map", default=None, choices=("auto",), help="spread large models over GPUs")
    p.add_argument("--out", required=True, help="output folder (an existing run there is resumed)")
    return p


def _number(value: int | None, name: str, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise UsageError(f"{name} {value}: must be in [{low}, {high}]")


def _preset(args: argparse.Namespace) -> tuple[str, dict[str, Preset]]:
    presets = dict(PRESETS)
    name = args.preset
    if args.preset_file:
        preset = load_preset_file(args.preset_file)
        presets[preset.name] = preset
        name = name or preset.name
    name = name or os.environ.get("PLAYGROUND_PRESET", "embedded")
    if name not in presets:
        raise UnknownName("preset", name, sorted(presets))
    return name, presets


def _specs(args: argparse.Namespace) -> list[DecoderSpec]:
    specs = [parse_decoder(s) for s in args.decoder] + [p for s in args.sweep for p in parse_sweep(s)]
    if not specs:
        raise UsageError("give at least one --decoder NAME[:KEY=VALUE,...] or --sweep NAME:KEY=V1,V2")
    check_specs(specs)
    return specs


def make_plan(argv: Sequence[str] | None) -> Plan:
    args = parser().parse_args(argv)
    for value, name, low, high in ((args.samples, "--samples", 1, SEED_STRIDE - 1), (args.limit, "--limit", 1, 10**9),
                                   (args.max_new_tokens, "--max-new-tokens", 1, 1024), (args.seed, "--seed", 0, 2**62)):
        _number(value, name, low, high)
    preset_name, presets = _preset(args)
    preset = presets[preset_name]
    rewards = parse_rewards(args.reward) or dict(preset.default_rewards)
    specs = _specs(args)
    needy = [s.label for s in specs if DECODERS.card(s.decoder).needs_reward]
    if needy and not rewards:
        raise UsageError(f"{needy[0]} needs a reward; add --reward NAME=WEIGHT (preset {preset_name} has no default)")
    labels = [s.label for s in specs]
    for pair in args.compare:
        for label in pair:
            if label not in labels:
                raise UsageError(f"--compare {label!r}: not a configuration of this run; labels: {', '.join(labels)}")
    if args.judge != WEIGHTED and args.judge not in rewards:
        raise UsageError(f"--judge {args.judge!r}: choose {WEIGHTED!r} or one of the run's rewards: "
                         f"{', '.join(rewards) or '(none)'}")
    settings = RunSettings(preset=preset_name, rewards=rewards, reward_config=parse_reward_settings(args.reward_set),
                           samples=args.samples, seed=args.seed,
                           max_new_tokens=args.max_new_tokens or preset.max_new_tokens)
    return Plan(prompts_file=args.prompts, prompts=load_prompts(args.prompts, args.limit), specs=specs,
                settings=settings, presets=presets, comparisons=[tuple(p) for p in args.compare], judge=args.judge,
                embedder=args.embedder, out=Path(args.out), device=args.device, device_map=args.device_map)


def preflight(engine, plan: Plan, judge: Judge) -> None:
    """Load every model and check every request's settings before the first generation."""
    judge.check(plan.prompts)
    for spec in plan.specs:
        for prompt in plan.prompts:
            request = make_request(spec, prompt, 0, plan.settings)
            build_config(DECODERS.card(spec.decoder).Config, dict(request.config), prefix=f"{spec.decoder}.")
        engine.prepare(make_request(spec, plan.prompts[0], 0, plan.settings))


def run_info(plan: Plan, judge: Judge, procs, engine) -> dict[str, Any]:
    s = plan.settings
    preset = plan.presets[s.preset]
    return {"prompts_file": plan.prompts_file, "prompts": len(plan.prompts), "preset": s.preset,
            "models": {"policy": preset.policy, "base": preset.base_id, "baseline": preset.baseline},
            "rewards": s.rewards, "reward_config": s.reward_config, "samples": s.samples, "seed": s.seed,
            "max_new_tokens": s.max_new_tokens, "judge": plan.judge, "processes": procs.count,
            "device": str(engine.device), "device_map": plan.device_map,
            "coherence_model": judge.embedder.name if judge.embedder else None}


def finalize(plan: Plan, info: dict[str, Any], judge: Judge, complete: bool) -> dict[str, Any]:
    """Rank 0: gather the shards, write results.json and report.html, print the tables."""
    order = {spec.label: i for i, spec in enumerate(plan.specs)}
    records = gather(plan.out, lambda r: (order.get(r["label"], len(order)), r["label"], r["prompt_index"],
                                          r["sample"]), remove_shards=complete)
    wanted = [r for r in records if r["label"] in order and r["prompt_index"] < len(plan.prompts)
              and r["sample"] < plan.settings.samples]
    expected = len(order) * len(plan.prompts) * plan.settings.samples
    info = {**info, "complete": len(wanted) == expected, "generations": len(wanted), "expected": expected}
    res = results(wanted, plan.specs, plan.comparisons, plan.judge, info, [judge.coherence_note, *NOTES])
    write_atomic(plan.out / RESULTS, json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    write_atomic(plan.out / REPORT, report.render(res))
    print(render_text(res), flush=True)
    if not complete:
        print(f"\ninterrupted: {len(wanted)} of {expected} generations are in {plan.out}; "
              "rerun the same command to continue", flush=True)
    return res


def execute(plan: Plan, engine=None, on_record: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Run (or resume) the plan on this process's share; rank 0 writes the outputs."""
    procs = Processes(plan.device)
    if plan.device_map and procs.count > 1:
        raise UsageError("--device-map auto spreads one model over every GPU: run it in one process, not torchrun")
    engine = engine or Engine(device=procs.device, device_map=plan.device_map, presets=plan.presets)
    set_cpu_threads(os.environ.get("PLAYGROUND_TORCH_THREADS", "auto"), engine.device)
    judge = Judge(engine, plan.presets[plan.settings.preset], plan.settings, plan.embedder)
    preflight(engine, plan, judge)
    plan.out.mkdir(parents=True, exist_ok=True)
    old = existing_records(plan.out)
    check_resume({record_key(r): r for r in old}, plan.specs, plan.prompts, plan.settings)
    writer = JsonlWriter(shard_path(plan.out, procs.index, procs.count))
    complete = False
    try:
        run_shard(engine, judge, plan.specs, plan.prompts, plan.settings, procs, writer, keys(old), on_record)
        complete = True
    except KeyboardInterrupt:
        log.warning("interrupted: the generations so far are kept; rerun the same command to continue")
    finally:
        writer.close()
    if complete:
        procs.barrier()
    if procs.is_main:
        finalize(plan, run_info(plan, judge, procs, engine), judge, complete)
    return 0 if complete else 130


def main(argv: Sequence[str] | None = None, *, engine=None,
         on_record: Callable[[dict[str, Any]], None] | None = None) -> int:
    """`engine` and `on_record` (called after each stored generation) let tests inject fakes."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        plan = make_plan(argv)
        return execute(plan, engine, on_record)
    except (*USAGE_ERRORS, ModelNotFound) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the first generation: nothing to keep
        print("interrupted", file=sys.stderr)
        return 130

