"""Command line: train a causal LM from preference rows with DPO or FPO, resumably.

    python -m backends.train --data prefs.jsonl --loss dpo --base zoo:tiny-sft --out runs/dpo
    python -m backends.train --data prefs.jsonl --loss fpo --base zoo:tiny-sft --sae zoo:tiny-sft-sae --out runs/fpo

`--data` holds TRL preference rows, one JSON object per line (what `python -m storage.export
--format dpo` writes): `prompt`, `chosen`, `rejected`, each a string or a TRL conversation (a list
of {"role", "content"}). Prompts are wrapped in the `--preset`'s template unless `--template raw`.

- DPO (Rafailov et al., 2023): -log sigmoid(beta * (log-ratio(chosen) - log-ratio(rejected))).
- FPO (Yin et al., arXiv 2411.07618): the same margin with length-normalised log ratios, plus
  alpha times the mean squared difference between the policy's and the reference's sparse-
  autoencoder features of the final residual stream, on the reference's top-k features.
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
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from backends.devices import pick_device, set_cpu_threads
from backends.eval_inputs import UsageError
from backends.loading import ModelNotFound
from backends.optim import optimizer_step, warmup_cosine
from backends.preference_training import (
    PreferenceRow,
    Reference,
    completion_pass,
    dpo_loss,
    encode_rows,
    feature_constraint,
    fpo_margin_loss,
    reference_pass,
)
from backends.presets import PRESETS, Preset, format_prompt

log = logging.getLogger(__name__)
LOSSES = ("dpo", "fpo")
DEFAULT_BETA = {"dpo": 0.1, "fpo": 2.0}  # FPO's log ratios are per token, so its beta is larger
CHECKPOINT = "checkpoint"
MAX_STEPS = 1_000_000


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a run; a run in OUT resumes only with the same settings."""

    data_sha256: str
    loss: str
    base: str
    reference: str
    sae: str | None
    preset: str | None
    template: str
    beta: float
    alpha: float
    top_k: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    max_length: int
    seed: int


# ------------------------------------------------------------------------------------- data
def _text(value: Any, field: str, line: int, role: str) -> str | list[dict]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                  for m in value):
        return value
    raise UsageError(f"--data line {line}: {field!r} must be a non-empty string or a list of "
                     f"{{\"role\", \"content\"}} messages ({role}), got {str(value)[:40]!r}")


def _prompt_text(prompt: str | list[dict], template: str, preset: Preset | None, tokenizer) -> str:
    if isinstance(prompt, list):  # a TRL conversation: the model's own chat template where it has one
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        users = [m["content"] for m in prompt if m.get("role", "user") == "user"]
        if not users:
            raise UsageError("--data: a conversation prompt has no user turn and the model has no chat template")
        prompt = users[-1]
    if template == "raw" or preset is None:
        return prompt
    return format_prompt(preset, prompt, tokenizer)


def _completion(value: str | list[dict]) -> str:
    if isinstance(value, str):
        return value
    replies = [m["content"] for m in value if m.get("role", "assistant") == "assistant"]
    return replies[-1] if replies else value[-1]["content"]


def read_rows(path: Path, template: str, preset: Preset | None, tokenizer) -> list[PreferenceRow]:
    """TRL preference rows from a JSONL file; errors name the line and the field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--data {path}: cannot read it ({e})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"--data line {number}: not JSON ({e.msg})") from None
        if not isinstance(item, dict):
            raise UsageError(f"--data line {number}: expected an object with prompt, chosen and rejected")
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in item]
        if missing:
            raise UsageError(f"--data line {number}: missing {missing[0]!r} (TRL rows have prompt, chosen, rejected)")
        prompt = _text(item["prompt"], "prompt", number, "the user's turn")
        chosen = _completion(_text(item["chosen"], "chosen", number, "the preferred reply"))
        rejected = _completion(_text(item["rejected"], "rejected", number, "the other reply"))
        if chosen == rejected:
            continue  # no preference signal
        rows.append(PreferenceRow(_prompt_text(prompt, template, preset, tokenizer), chosen, rejected))
    if not rows:
        raise UsageError(f"--data {path}: no preference rows with chosen != rejected")
    return rows


def _pad_tops(tops: list[torch.Tensor], keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, T, k) tensor placing each row's (P, k) entries at its kept positions."""
    out = torch.zeros(*keep.shape, tops[0].shape[-1], dtype=dtype, device=keep.device)
    for r, t in enumerate(tops):
        out[r, keep[r].bool()] = t.to(device=keep.device, dtype=dtype)
    return out


# -------------------------------------------------------------------------------- training
def step_loss(policy, sae, pairs, ref: Reference, idx: list[int], settings: TrainSettings, pad_id: int
              ) -> tuple[torch.Tensor, dict]:
    layer = None if settings.loss == "dpo" else sae.config.layer
    chosen = completion_pass(policy, [pairs[i][0] for i in idx], pad_id, layer)
    rejected = completion_pass(policy, [pairs[i][1] for i in idx], pad_id, layer)
    device = chosen.logp.device
    rc, rr = ref.logp[idx, 0].to(device), ref.logp[idx, 1].to(device)
    if settings.loss == "dpo":
        loss = dpo_loss(chosen.logp, rejected.logp, rc, rr, settings.beta)
        margin = (chosen.logp - rc) - (rejected.logp - rr)
        return loss, {"acc": float((margin > 0).float().mean())}
    preference = fpo_margin_loss(chosen.logp, rejected.logp, rc, rr, chosen.count, rejected.count, settings.beta)
    features = 0.0
    for side, out in ((0, chosen), (1, rejected)):
        index = _pad_tops([ref.index[i][side] for i in idx], out.keep, torch.long)
        value = _pad_tops([ref.value[i][side] for i in idx], out.keep, torch.float32)
        features = features + feature_constraint(sae.encode(out.hidden.float()), index, value, out.keep) / 2
    margin = (chosen.logp - rc) / chosen.count.clamp(min=1) - (rejected.logp - rr) / rejected.count.clamp(min=1)
    return preference + settings.alpha * features, {"acc": float((margin > 0).float().mean()),
                                                    "feat": float(features.detach())}


def batch_indices(seed: int, step: int, n: int, size: int) -> list[int]:
    """The rows of step `step`: a function of (seed, step) only, so a resumed run sees the same batches."""
    return random.Random(seed * 1_000_003 + step).sample(range(n), min(size, n))


def _save_checkpoint(out: Path, policy, tokenizer, opt, sched, step: int, history: list[dict]) -> None:
    """Weights, tokenizer, optimiser and schedule in OUT/checkpoint, replaced atomically."""
    tmp = out / (CHECKPOINT + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    policy.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    torch.save({"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "history": history},
               tmp / "trainer_state.pt")
    old = out / (CHECKPOINT + ".old")  # never a moment without a complete checkpoint on disk
    shutil.rmtree(old, ignore_errors=True)
    if (out / CHECKPOINT).exists():
        (out / CHECKPOINT).rename(old)
    tmp.rename(out / CHECKPOINT)
    shutil.rmtree(old, ignore_errors=True)


def _checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint (a crash between the two renames leaves it as .old)."""
    for folder in (out / CHECKPOINT, out / (CHECKPOINT + ".old")):
        if (folder / "trainer_state.pt").is_file():
            return folder
    return None


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """While active, SIGINT only raises a flag that the loop checks between steps (main thread only)."""
    flag = threading.Event()
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: flag.set())
    except ValueError:  # not the main thread: interrupts behave as usual
        yield flag.is_set
        return
    try:
        yield flag.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def train(args: argparse.Namespace) -> dict:
    from transformers import AutoModelForCausalLM

    from backends.loading import load_pretrained
    from backends.sae import load_sae

    out = Path(args.out)
    device = pick_device(args.device)
    set_cpu_threads(args.threads, device)
    preset = _preset(args)
    data = Path(args.data)
    if not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    sae_id = args.sae if args.sae is not None else (preset.sae if preset and preset.policy == args.base else None)
    if args.loss == "fpo" and not sae_id:
        raise UsageError(f"--sae: FPO needs a sparse autoencoder of {args.base}'s final residual stream "
                         "(zoo:tiny-sft-sae for zoo:tiny-sft; SAELens folders and hub ids load too)")
    settings = TrainSettings(
        data_sha256=hashlib.sha256(data.read_bytes()).hexdigest(), loss=args.loss, base=args.base,
        reference=args.reference or args.base, sae=sae_id if args.loss == "fpo" else None,
        preset=preset.name if preset else None, template=args.template,
        beta=args.beta if args.beta is not None else DEFAULT_BETA[args.loss], alpha=args.alpha, top_k=args.top_k,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, max_length=args.max_length,
        seed=args.seed)
    _claim(out, settings, create=False)  # refuse a foreign OUT before loading anything
    if (out / "metrics.json").is_file():
        print(f"{out} already holds a finished run with these settings; nothing to do", file=sys.stderr)
        return json.loads((out / "metrics.json").read_text())

    started = time.perf_counter()
    resume = _checkpoint(out)
    source = str(resume) if resume else settings.base
    print(f"loading {settings.base}{f' (checkpoint {resume})' if resume else ''} on {device}", file=sys.stderr)
    policy, tokenizer = load_pretrained(AutoModelForCausalLM, source, device, torch.float32)
    sae = load_sae(settings.sae, device) if settings.sae else None
    if sae is not None and sae.config.d_in != policy.config.hidden_size:
        raise UsageError(f"--sae {settings.sae}: reads {sae.config.d_in}-dim states but {settings.base} "
                         f"has hidden size {policy.config.hidden_size}")
    if sae is not None:
        if settings.top_k > sae.d_sae:
            raise UsageError(f"--top-k {settings.top_k}: the sparse autoencoder has only {sae.d_sae} features")
        sae.requires_grad_(False)
    rows = read_rows(data, settings.template, preset, tokenizer)
    eos = tokenizer.eos_token_id
    max_len = min(settings.max_length, getattr(policy.config, "n_positions", None)
                  or getattr(policy.config, "max_position_embeddings", settings.max_length))
    pairs = encode_rows(tokenizer, rows, eos, max_len)
    if len(pairs) < len(rows):
        print(f"skipped {len(rows) - len(pairs)} of {len(rows)} rows: empty prompt, prompt of {max_len}+ tokens, "
              "or chosen == rejected once cut", file=sys.stderr)
    if not pairs:
        raise UsageError(f"--data {data}: no row fits in {max_len} tokens with a completion")
    ref = _reference(out, settings, pairs, eos, sae, device)  # loads --reference before OUT is claimed
    _claim(out, settings, create=True)  # only now: a typo in any argument leaves no run behind
    _save_reference(out, ref)

    opt = torch.optim.AdamW(policy.parameters(), lr=settings.lr, weight_decay=0.0)
    sched = warmup_cosine(opt, settings.warmup, settings.steps)
    first, history = 0, []
    if source != settings.base:
        state = torch.load(resume / "trainer_state.pt", weights_only=False, map_location="cpu")
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        first, history = state["step"], state["history"]
        print(f"resuming at step {first} of {settings.steps}", file=sys.stderr)
    policy.train()
    bar = tqdm(total=settings.steps, initial=first, desc=f"{settings.loss} on {len(pairs)} pairs", unit="step")
    try:
        with _deferred_interrupt() as interrupted:
            for step in range(first, settings.steps):
                if interrupted():  # Ctrl-C lands between steps, never inside an optimiser update
                    raise KeyboardInterrupt
                idx = batch_indices(settings.seed, step, len(pairs), settings.batch_size)
                torch.manual_seed(settings.seed * 1_000_003 + step)  # dropout too: a resumed run repeats it
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    loss, stats = step_loss(policy, sae, pairs, ref, idx, settings, eos)
                value = optimizer_step(opt, sched, loss, policy.parameters())
                if not math.isfinite(value):
                    raise RuntimeError(f"loss became {value} at step {step}; lower --lr (now {settings.lr})")
                history.append({"step": step, "loss": round(value, 5), **{k: round(v, 5) for k, v in stats.items()}})
                bar.update()
                bar.set_postfix(loss=f"{value:.4f}", **{k: f"{v:.3f}" for k, v in stats.items()})
                if (step + 1) % args.save_every == 0 and step + 1 < settings.steps:
                    _save_checkpoint(out, policy, tokenizer, opt, sched, step + 1, history)
    except KeyboardInterrupt:
        bar.close()
        done = len(history)  # steps whose update completed
        _save_checkpoint(out, policy, tokenizer, opt, sched, done, history)
        print(f"interrupted at step {done}; run the same command to resume", file=sys.stderr)
        raise
    bar.close()
    policy.eval()
    policy.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    tail = history[-max(1, len(history) // 10):]
    metrics = {"pairs": len(pairs), "steps": settings.steps, "device": str(device),
               "final_loss": round(sum(h["loss"] for h in tail) / len(tail), 5),
               "final_reward_accuracy": round(sum(h["acc"] for h in tail) / len(tail), 4),
               **({"final_feature_term": round(sum(h["feat"] for h in tail) / len(tail), 6)}
                  if settings.loss == "fpo" else {}),
               "train_s_this_session": round(time.perf_counter() - started, 1), "history": history}
    _write_preset(out, settings, preset)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    return metrics


def _preset(args: argparse.Namespace) -> Preset | None:
    if args.preset is None:
        return PRESETS["embedded"] if args.base.startswith("zoo:") else None
    if args.preset not in PRESETS:
        raise UsageError(f"--preset {args.preset!r}: unknown; choose one of {', '.join(PRESETS)}")
    return PRESETS[args.preset]


def _claim(out: Path, settings: TrainSettings, create: bool) -> None:
    """Check that OUT is new, empty, or a run with the same settings; `create` writes its settings."""
    config = out / "train_config.json"
    if config.is_file():
        before = json.loads(config.read_text())
        changed = [k for k, v in asdict(settings).items() if before.get(k) != v]
        if changed:
            k = changed[0]
            raise UsageError(f"--out {out}: holds a run with {k}={before.get(k)!r}, not {getattr(settings, k)!r}; "
                             "use another --out (or delete it) to start over")
        return
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out}: exists and is not a training run; choose an empty or new folder")
    if create:
        out.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps(asdict(settings), indent=2) + "\n")


def _reference(out: Path, settings: TrainSettings, pairs, pad_id: int, sae, device) -> Reference:
    """The offline reference, computed once per run and cached in OUT/reference.pt."""
    from transformers import AutoModelForCausalLM

    from backends.loading import load_pretrained

    path = out / "reference.pt"
    if path.is_file():
        return Reference(**torch.load(path, weights_only=False, map_location="cpu"))
    print(f"computing the offline reference with {settings.reference} (once)", file=sys.stderr)
    ref, _ = load_pretrained(AutoModelForCausalLM, settings.reference, device, torch.float32)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):  # as the policy runs
        result = reference_pass(ref.eval(), pairs, pad_id, sae, settings.top_k)
    del ref
    return result


def _save_reference(out: Path, ref: Reference) -> None:
    path = out / "reference.pt"
    if not path.is_file():  # written whole or not at all: an interrupted write cannot poison a rerun
        tmp = out / "reference.pt.tmp"
        torch.save(dataclasses.asdict(ref), tmp)
        os.replace(tmp, path)


def _write_preset(out: Path, settings: TrainSettings, preset: Preset | None) -> None:
    """The `--preset` with this model as its Transfer Q* baseline (rho_BL), as a --preset-file."""
    folder = str(out.resolve())
    if preset is None:
        data = {"name": out.name, "policy": settings.base, "baseline": folder}
    else:
        data = {f.name: getattr(preset, f.name) for f in dataclasses.fields(Preset)}
        data.update(name=f"{preset.name}+{out.name}", baseline=folder,
                    reward_models={k: asdict(v) for k, v in preset.reward_models.items()},
                    arm_models=dict(preset.arm_models), default_rewards=dict(preset.default_rewards),
                    prompt_sets=list(preset.prompt_sets))
    data["description"] = (f"{preset.name if preset else settings.base} with a Transfer Q* baseline trained by "
                           f"{settings.loss.upper()} on {settings.data_sha256[:12]} ({folder})")
    (out / "preset.json").write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------------- command line
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


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
