"""DPO and FPO training of a causal LM from preference rows, in phases, resumably.

- DPO (Rafailov et al., 2023): -log sigmoid(beta * (log-ratio(chosen) - log-ratio(rejected))).
- FPO (Yin et al., arXiv 2411.07618): the same margin with length-normalised log ratios, plus
  alpha times the mean squared difference between the policy's and the reference's sparse-
  autoencoder features of the final residual stream, on the reference's top-k features.

`train(args)` runs the phases in order: `settings_for` (check the arguments, nothing loaded),
`load_models`, `encode_pairs`, the offline reference (`run_folder.reference`, once), `restore`
(optimiser and schedule from a checkpoint), `run_steps` (the batches and dropout of step s depend
only on (seed, s), so a resumed run ends with the same weights), `finish` (model, preset.json,
metrics.json). The OUT folder's files are `backends.training.run_folder`; the command line is
`backends.training.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from backends.devices import pick_device, set_cpu_threads
from backends.evaluation.inputs import UsageError
from backends.presets import PRESETS, Preset
from backends.training import run_folder
from backends.training.data import read_rows
from backends.training.optim import optimizer_step, warmup_cosine
from backends.training.preference import (
    Reference,
    completion_pass,
    dpo_loss,
    encode_rows,
    feature_constraint,
    fpo_margin_loss,
)

LOSSES = ("dpo", "fpo")
DEFAULT_BETA = {"dpo": 0.1, "fpo": 2.0}  # FPO's log ratios are per token, so its beta is larger


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


def _pad_tops(tops: list[torch.Tensor], keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, T, k) tensor placing each row's (P, k) entries at its kept positions."""
    out = torch.zeros(*keep.shape, tops[0].shape[-1], dtype=dtype, device=keep.device)
    for r, t in enumerate(tops):
        out[r, keep[r].bool()] = t.to(device=keep.device, dtype=dtype)
    return out


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

@dataclass
class Models:
    """What a run trains and reads: the policy (from the base or the checkpoint), its tokenizer, the SAE."""

    policy: torch.nn.Module
    tokenizer: object
    sae: object | None
    resume: Path | None  # the checkpoint the policy was loaded from


def settings_for(args: argparse.Namespace, preset: Preset | None) -> TrainSettings:
    """The run's settings from the arguments; refuses a missing data file or an FPO run without an SAE."""
    data = Path(args.data)
    if not data.is_file():
        raise UsageError(f"--data {data}: no such file")
    sae_id = args.sae if args.sae is not None else (preset.sae if preset and preset.policy == args.base else None)
    if args.loss == "fpo" and not sae_id:
        raise UsageError(f"--sae: FPO needs a sparse autoencoder of {args.base}'s final residual stream "
                         "(zoo:tiny-sft-sae for zoo:tiny-sft; SAELens folders and hub ids load too)")
    return TrainSettings(
        data_sha256=hashlib.sha256(data.read_bytes()).hexdigest(), loss=args.loss, base=args.base,
        reference=args.reference or args.base, sae=sae_id if args.loss == "fpo" else None,
        preset=preset.name if preset else None, template=args.template,
        beta=args.beta if args.beta is not None else DEFAULT_BETA[args.loss], alpha=args.alpha, top_k=args.top_k,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, max_length=args.max_length,
        seed=args.seed)


def load_models(out: Path, settings: TrainSettings, device: torch.device) -> Models:
    """The policy from OUT's checkpoint when there is one (else the base), its tokenizer and the SAE."""
    from transformers import AutoModelForCausalLM

    from backends.loading import load_pretrained
    from backends.sae import load_sae

    resume = run_folder.latest_checkpoint(out)
    print(f"loading {settings.base}{f' (checkpoint {resume})' if resume else ''} on {device}", file=sys.stderr)
    policy, tokenizer = load_pretrained(AutoModelForCausalLM, str(resume) if resume else settings.base, device,
                                        torch.float32)
    sae = load_sae(settings.sae, device) if settings.sae else None
    if sae is not None and sae.config.d_in != policy.config.hidden_size:
        raise UsageError(f"--sae {settings.sae}: reads {sae.config.d_in}-dim states but {settings.base} "
                         f"has hidden size {policy.config.hidden_size}")
    if sae is not None:
        if settings.top_k > sae.d_sae:
            raise UsageError(f"--top-k {settings.top_k}: the sparse autoencoder has only {sae.d_sae} features")
        sae.requires_grad_(False)
    return Models(policy, tokenizer, sae, resume)


def encode_pairs(data: Path, settings: TrainSettings, preset: Preset | None, models: Models) -> list:
    """The rows as (chosen, rejected) token pairs that fit the model's context; says how many were skipped."""
    rows = read_rows(data, settings.template, preset, models.tokenizer)
    config = models.policy.config
    max_len = min(settings.max_length, getattr(config, "n_positions", None)
                  or getattr(config, "max_position_embeddings", settings.max_length))
    pairs = encode_rows(models.tokenizer, rows, models.tokenizer.eos_token_id, max_len)
    if len(pairs) < len(rows):
        print(f"skipped {len(rows) - len(pairs)} of {len(rows)} rows: empty prompt, prompt of {max_len}+ tokens, "
              "or chosen == rejected once cut", file=sys.stderr)
    if not pairs:
        raise UsageError(f"--data {data}: no row fits in {max_len} tokens with a completion")
    return pairs


def restore(opt, sched, resume: Path | None, steps: int) -> tuple[int, list[dict]]:
    """The first step to run and the loss history so far (0 and [] for a fresh run)."""
    if resume is None:
        return 0, []
    state = torch.load(resume / "trainer_state.pt", weights_only=False, map_location="cpu")
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    print(f"resuming at step {state['step']} of {steps}", file=sys.stderr)
    return state["step"], state["history"]


def run_steps(out: Path, models: Models, pairs, ref: Reference, settings: TrainSettings, save_every: int) -> list[dict]:
    """The optimiser steps from the checkpoint (or 0) to the end; Ctrl-C saves a checkpoint and re-raises."""
    policy, device = models.policy, next(models.policy.parameters()).device
    opt = torch.optim.AdamW(policy.parameters(), lr=settings.lr, weight_decay=0.0)
    sched = warmup_cosine(opt, settings.warmup, settings.steps)
    first, history = restore(opt, sched, models.resume, settings.steps)
    eos = models.tokenizer.eos_token_id
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
                    loss, stats = step_loss(policy, models.sae, pairs, ref, idx, settings, eos)
                value = optimizer_step(opt, sched, loss, policy.parameters())
                if not math.isfinite(value):
                    raise RuntimeError(f"loss became {value} at step {step}; lower --lr (now {settings.lr})")
                history.append({"step": step, "loss": round(value, 5), **{k: round(v, 5) for k, v in stats.items()}})
                bar.update()
                bar.set_postfix(loss=f"{value:.4f}", **{k: f"{v:.3f}" for k, v in stats.items()})
                if (step + 1) % save_every == 0 and step + 1 < settings.steps:
                    run_folder.save_checkpoint(out, policy, models.tokenizer, opt, sched, step + 1, history)
    except KeyboardInterrupt:
        bar.close()
        done = len(history)  # steps whose update completed
        run_folder.save_checkpoint(out, policy, models.tokenizer, opt, sched, done, history)
        print(f"interrupted at step {done}; run the same command to resume", file=sys.stderr)
        raise
    bar.close()
    return history


def finish(out: Path, models: Models, settings: TrainSettings, preset: Preset | None, history: list[dict],
           extra: dict) -> dict:
    """Save the model, preset.json and metrics.json (the mean of the last tenth of the steps); drop the checkpoint."""
    models.policy.eval()
    models.policy.save_pretrained(str(out), safe_serialization=True)
    models.tokenizer.save_pretrained(str(out))
    tail = history[-max(1, len(history) // 10):]
    metrics = {**extra, "steps": settings.steps,
               "final_loss": round(sum(h["loss"] for h in tail) / len(tail), 5),
               "final_reward_accuracy": round(sum(h["acc"] for h in tail) / len(tail), 4),
               **({"final_feature_term": round(sum(h["feat"] for h in tail) / len(tail), 6)}
                  if settings.loss == "fpo" else {}),
               "history": history}
    run_folder.write_preset(out, settings, preset)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    shutil.rmtree(out / run_folder.CHECKPOINT, ignore_errors=True)
    return metrics


def train(args: argparse.Namespace) -> dict:
    """One run, phase by phase (module docstring); returns metrics.json's content."""
    out = Path(args.out)
    device = pick_device(args.device)
    set_cpu_threads(args.threads, device)
    preset = _preset(args)
    settings = settings_for(args, preset)
    run_folder.claim(out, settings, create=False)  # refuse a foreign OUT before loading anything
    if (out / "metrics.json").is_file():
        print(f"{out} already holds a finished run with these settings; nothing to do", file=sys.stderr)
        return json.loads((out / "metrics.json").read_text())
    started = time.perf_counter()
    models = load_models(out, settings, device)
    pairs = encode_pairs(Path(args.data), settings, preset, models)
    eos = models.tokenizer.eos_token_id
    ref = run_folder.reference(out, settings, pairs, eos, models.sae, device)  # loads --reference before the claim
    run_folder.claim(out, settings, create=True)  # only now: a typo in any argument leaves no run behind
    run_folder.save_reference(out, ref)
    history = run_steps(out, models, pairs, ref, settings, args.save_every)
    extra = {"pairs": len(pairs), "device": str(device),
             "train_s_this_session": round(time.perf_counter() - started, 1)}
    return finish(out, models, settings, preset, history, extra)


def _preset(args: argparse.Namespace) -> Preset | None:
    if args.preset is None:
        return PRESETS["embedded"] if args.base.startswith("zoo:") else None
    if args.preset not in PRESETS:
        raise UsageError(f"--preset {args.preset!r}: unknown; choose one of {', '.join(PRESETS)}")
    return PRESETS[args.preset]
