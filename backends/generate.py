"""Command line: stream one generation to the terminal (text, or one JSON object per event).

    python -m backends.generate --prompt "Write a review of the film Moon Harbor." \\
        --decoder best_of_n --set n=8 --reward sentiment=1 --seed 0
    python -m backends.generate --prompt "..." --decoder sampling --json
    python -m backends.generate --preset-file my_preset.json --prompt "..." --decoder args --set w=1.5 \\
        --reward helpfulness=1 --reward-set helpfulness.output=raw
    python -m backends.generate --list

Bad arguments exit with status 2 and one line naming the problem and the valid choices.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from backends.config import fields
from backends.decoders import DECODERS, GenerationRequest
from backends.devices import set_cpu_threads
from backends.evaluation.inputs import (
    UsageError,
    check_limits,
    load_preset_file,
    parse_pairs,
    parse_reward_settings,
    parse_rewards,
)
from backends.events import Finished, Rollout, TokenStep, to_dict
from backends.presets import PRESETS
from backends.rewards import REWARDS


def parse_request(argv: Sequence[str] | None = None) -> tuple[GenerationRequest, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m backends.generate", description=__doc__.split("\n")[0])
    p.add_argument("--prompt", help="the user's prompt (wrapped in the preset's chat template)")
    p.add_argument("--decoder", default="sampling", help=f"one of: {', '.join(DECODERS.names())}")
    p.add_argument("--preset", default=None,
                   help=f"one of: {', '.join(PRESETS)} (or the --preset-file's name; default embedded)")
    p.add_argument("--preset-file", default=None, help="JSON describing a Preset (name, policy, base, ...)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="decoder setting, repeatable (see --list)")
    p.add_argument("--reward", action="append", default=[], metavar="NAME=WEIGHT",
                   help="reward and its weight; a decoder's weight (args.w, rad.beta, cd.lam, ...) multiplies the "
                        "reward on the scale its model is read with (see --reward-set)")
    p.add_argument("--reward-set", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="reward setting, e.g. sentiment.output=raw reads the reward model's raw logit (the ARGS "
                        "paper's scale) instead of the preset's squashed one (zoo: sigmoid, 0..1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--raw-prompt", action="store_true", help="do not apply the chat template")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--list", action="store_true", help="list decoders, their settings, and rewards")
    args = p.parse_args(argv)
    if args.list:
        return None, args  # type: ignore[return-value]
    if args.prompt is None:
        raise UsageError("--prompt is required")
    DECODERS.card(args.decoder)  # an unknown name raises, listing the known ones
    weights = parse_rewards(args.reward)
    presets = dict(PRESETS)
    if args.preset_file:
        loaded = load_preset_file(args.preset_file)
        presets[loaded.name] = loaded
        args.preset = args.preset or loaded.name
    args.preset = args.preset or os.environ.get("PLAYGROUND_PRESET", "embedded")
    args.presets = presets
    preset = presets.get(args.preset)
    check_limits(args.max_new_tokens, args.seed)
    max_new = args.max_new_tokens if args.max_new_tokens is not None else (preset.max_new_tokens if preset else 64)
    request = GenerationRequest(
        prompt=args.prompt, decoder=args.decoder, config=parse_pairs(args.settings, "--set"), rewards=weights,
        reward_config=parse_reward_settings(args.reward_set), preset=args.preset, seed=args.seed,
        max_new_tokens=max_new, raw_prompt=args.raw_prompt)
    return request, args


def print_catalogue() -> None:
    """Every decoder and reward, with where it came from (this project or a plugin's distribution)."""
    for name in DECODERS.names():
        card = DECODERS.card(name)
        print(f"decoder {name} (from {DECODERS.origin(name)}): {card.summary}"
              + (" [needs a reward]" if card.needs_reward else ""))
        for f in fields(card.Config):
            print(f"    {f.name}={f.default!r}  {f.help}")
    for name in REWARDS.names():
        card = REWARDS.card(name)
        print(f"reward {name} (from {REWARDS.origin(name)}): {card.help}")
        for f in fields(card.Config):
            print(f"    {name}.{f.name}={f.default!r}  {f.help}")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        request, args = parse_request(argv)
    except (UsageError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        print_catalogue()
        return 0
    from backends.engine import Engine

    engine = Engine(device=args.device, presets=args.presets)
    set_cpu_threads(os.environ.get("PLAYGROUND_TORCH_THREADS", "auto"), engine.device)
    last = None
    for event in engine.stream(request):
        last = event
        if args.json:
            print(json.dumps(to_dict(event)), flush=True)
        elif isinstance(event, Rollout):
            print(f"[rollout {event.index} reward={event.reward:.3f}{' kept' if event.kept else ''}] "
                  f"{event.text!r}", file=sys.stderr, flush=True)
        elif isinstance(event, TokenStep):
            print(event.text, end="", flush=True)
    assert isinstance(last, Finished)
    if last.stop_reason == "error":
        print(f"error: {last.error}", file=sys.stderr)
        return 2
    if not args.json:
        reward = "" if last.reward is None else f" reward={last.reward:.3f} " + " ".join(
            f"{k}={v:.3f}" for k, v in last.reward_parts.items())
        print(f"\n[{last.stop_reason}: {last.new_tokens} tokens in {last.elapsed_s:.2f}s{reward}]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
