"""The OUT folder of a training run: its settings, offline reference, checkpoints and preset.json.

`claim` refuses a folder that holds another run; `save_checkpoint` replaces the checkpoint
atomically (never a moment without a complete one on disk) and `latest_checkpoint` finds it after a
crash; the offline reference is computed once into `reference.pt`; `write_preset` makes the
trained model a preset's Transfer Q* baseline. It runs no training step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from backends.evaluation.inputs import UsageError
from backends.presets import Preset
from backends.training.preference import Reference, reference_pass

if TYPE_CHECKING:
    from backends.training.loop import TrainSettings

CHECKPOINT = "checkpoint"


def save_checkpoint(out: Path, policy, tokenizer, opt, sched, step: int, history: list[dict]) -> None:
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


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint (a crash between the two renames leaves it as .old)."""
    for folder in (out / CHECKPOINT, out / (CHECKPOINT + ".old")):
        if (folder / "trainer_state.pt").is_file():
            return folder
    return None


def claim(out: Path, settings: TrainSettings, create: bool) -> None:
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


def reference(out: Path, settings: TrainSettings, pairs, pad_id: int, sae, device) -> Reference:
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


def save_reference(out: Path, ref: Reference) -> None:
    path = out / "reference.pt"
    if not path.is_file():  # written whole or not at all: an interrupted write cannot poison a rerun
        tmp = out / "reference.pt.tmp"
        torch.save(dataclasses.asdict(ref), tmp)
        os.replace(tmp, path)


def write_preset(out: Path, settings: TrainSettings, preset: Preset | None) -> None:
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
