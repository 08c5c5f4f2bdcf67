"""Command line: train a causal LM from preference rows with DPO or FPO, resumably.

    python -m backends.train --data prefs.jsonl --loss dpo --base zoo:tiny-sft --out runs/dpo
    python -m backends.train --data prefs.jsonl --loss fpo --base zoo:tiny-sft --sae zoo:tiny-sft-sae --out runs/fpo

`--data` holds TRL preference rows, one JSON object per line (what `python -m storage.export
--format dpo` writes): `prompt`, `chosen`, `rejected`, each a string or a TRL conversation (a list
of {"role", "content"}). Prompts are wrapped in the `--preset`'s template unless `--template raw`.

DPO or FPO (`backends.training.loop`, which also says how a run is split into phases).
Both use an offline reference: its log-probs (and, for FPO, its top-k features) are computed
once, before the first step, and kept in OUT/reference.pt, so the reference model is never run
during training and a resumed run does not recompute them.

OUT receives checkpoints (every --save-every steps, and on Ctrl-C: exit 130), then the model and
tokenizer, `train_config.json`, `metrics.json`, and `preset.json`: the `--preset` with the trained
model as its Transfer Q* baseline (load it with `--preset-file`, or PLAYGROUND_PRESET_FILES in the
app). Running the same command again resumes; other settings with the same OUT are refused.
Bad arguments exit with status 2 and one line naming the argument and the value.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence

from backends.evaluation.inputs import UsageError
from backends.loading import ModelNotFound
from backends.training.loop import DEFAULT_BETA, LOSSES, train

MAX_STEPS = 1_000_000


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m backends.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="TRL preference rows (JSONL): prompt, chosen, rejected")
    p.add_argument("--loss", required=True, choices=LOSSES)
    p.add_argument("--base", required=True, help="the model to train: zoo:NAME, a folder or a hub id")
    p.add_argument("--out", required=True, help="output folder (a run there with the same settings resumes)")
    p.add_argument("--reference", default=None, help="reference policy (default: --base)")
    p.add_argument("--sae", default=None, help="FPO's sparse autoencoder (default: the preset's sae)")
    p.add_argument("--preset", default=None, help="preset whose prompt template wraps the prompts and whose "
                   "baseline the trained model becomes (default: embedded for zoo models)")
    p.add_argument("--template", default="preset", choices=("preset", "raw"),
                   help="raw: the rows' prompts are already formatted")
    p.add_argument("--beta", type=float, default=None, help=f"default {DEFAULT_BETA}")
    p.add_argument("--alpha", type=float, default=0.5, help="FPO: weight of the feature constraint")
    p.add_argument("--top-k", type=int, default=50, help="FPO: constrained features per token")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--max-length", type=int, default=512, help="prompt + completion tokens (cut beyond)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=50, help="checkpoint interval in steps")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", default="auto", help="CPU threads (auto: 1 on the CPU)")
    args = p.parse_args(argv)
    for name, low, high in (("steps", 1, MAX_STEPS), ("batch_size", 1, 4096), ("top_k", 1, 10_000),
                            ("warmup", 1, MAX_STEPS), ("max_length", 8, 1_000_000), ("save_every", 1, MAX_STEPS)):
        value = getattr(args, name)
        if not low <= value <= high:
            raise UsageError(f"--{name.replace('_', '-')} {value}: must be in [{low}, {high}]")
    for name in ("beta", "lr"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"--{name} {value}: must be a positive number")
    if not (math.isfinite(args.alpha) and args.alpha >= 0):
        raise UsageError(f"--alpha {args.alpha}: must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = parse(argv)
        metrics = train(args)
    except (UsageError, ModelNotFound) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    shown = {k: v for k, v in metrics.items() if k != "history"}
    print(json.dumps(shown))
    return 0
