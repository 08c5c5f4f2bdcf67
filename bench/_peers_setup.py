"""Setup for bench/peers.py: the timing copy of the zoo, exact-length prompts, and our decoders'
settings read through the public config fields (so renamed fields are found, or reported).

The TIMING COPY is not a zoo model: the zoo's GPT-2s have 128 positions, so the copy's position
table is the zoo's tiled to 1024 rows (positions below 128 are unchanged; beyond, only its cost is
meaningful), and its end-of-text id is moved to a byte token the zoo never emits (TIMING_EOS), so
every run of either side generates exactly the tokens asked for and cells compare equal work.
<|endoftext|> stays the pad token. It is written to a temp dir.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from backends.config import fields
from backends.decoders import DECODERS
from backends.presets import PRESETS, Preset
from backends.rewards import REWARDS
from backends.zoo import zoo_model_path

TIMING_POSITIONS = 1024
TIMING_EOS = "\u0101"  # the byte-level symbol of byte 0x01: in the vocabulary, never in the zoo's text
ALIASES = {  # the field a setting used to have -> names it may have now
    "w": ("w", "weight", "alpha"),
    "lam": ("lam", "alpha", "w", "weight"),
    "beta": ("beta", "weight"),
    "k": ("k", "topk", "top_k"),
    "n": ("n", "num_samples"),
    "rollout_len": ("rollout_len", "rollout_length", "length"),
}


def timing_copy(names: tuple[str, ...], positions: int = TIMING_POSITIONS) -> tuple[Path, dict[str, str]]:
    """Copy zoo models to a temp dir with a `positions`-row position table: (dir, name -> folder)."""
    root = Path(tempfile.mkdtemp(prefix="peers-timing-copy-"))
    out = {}
    for name in names:
        src, dst = zoo_model_path(name), root / f"{name}-timing-copy"
        shutil.copytree(src, dst)
        eos = _move_eos(dst, positions)
        cfg = json.loads((dst / "config.json").read_text())
        old = cfg["n_positions"]
        cfg.update(n_positions=positions, eos_token_id=eos,
                   timing_copy_note=f"TIMING COPY of zoo:{name}: {old} -> {positions} positions, EOS moved to {eos}")
        (dst / "config.json").write_text(json.dumps(cfg, indent=1))
        weights = load_file(dst / "model.safetensors")
        key = next(k for k in weights if k.endswith("wpe.weight"))
        wpe = weights[key]  # (old, H)
        weights[key] = wpe.repeat((positions + old - 1) // old, 1)[:positions].contiguous()  # (positions, H)
        save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
        out[name] = str(dst)
    return root, out


def _move_eos(folder: Path, positions: int) -> int:
    """Point the copy's tokenizer and generation config at TIMING_EOS; its id."""
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    tok.update(eos_token=TIMING_EOS, model_max_length=positions)
    (folder / "tokenizer_config.json").write_text(json.dumps(tok, indent=1))
    gen = folder / "generation_config.json"
    if gen.exists():
        (gen.write_text(json.dumps({**json.loads(gen.read_text()), "eos_token_id": vocab[TIMING_EOS]}, indent=1)))
    return vocab[TIMING_EOS]


def timing_preset(paths: dict[str, str]) -> Preset:
    """`embedded` pointed at the timing copy (policy, baseline, sentiment reward model only)."""
    base = PRESETS["embedded"]
    ref = dataclasses.replace(base.reward_models["sentiment"], model=paths["tiny-sentiment-rm"])
    return dataclasses.replace(base, name="embedded-timing-copy", policy=paths["tiny-sft"], base=None,
                               baseline=paths["tiny-dpo-sentiment"], reward_models={"sentiment": ref},
                               arm_models={}, sae=None,
                               description="TIMING COPY of the embedded zoo (1024-position table), bench only")


def exact_prompt(tokenizer, template: str, words: str, length: int) -> tuple[str, list[int]]:
    """`template` filled with a cut of `words` so that the text encodes to exactly `length` tokens."""
    enc = lambda t: tokenizer(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    shell = len(enc(template.format(prompt="")))
    body = enc(words)
    while len(body) < length + 8:  # a short word list is repeated
        body = body + enc(" " + words)
    for cut in range(max(1, length - shell), 0, -1):
        for extra in range(0, 4):
            text = template.format(prompt=tokenizer.decode(body[: cut + extra]).strip())
            ids = enc(text)
            if len(ids) == length:
                return text, ids
    raise ValueError(f"no prompt of exactly {length} tokens from the words given")


def field_names(decoder: str) -> set[str]:
    return {f.name for f in fields(DECODERS.get(decoder).Config)}


def our_config(decoder: str, wanted: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Our decoder's config for the wanted settings, found by field name; (config, notes on misses)."""
    names, config, notes = field_names(decoder), {}, []
    for key, value in wanted.items():
        hit = next((n for n in ALIASES.get(key, (key,)) if n in names), None)
        if hit is None:
            notes.append(f"{decoder}: no field for {key}={value} (fields: {', '.join(sorted(names))}); default kept")
        else:
            config[hit] = value
    return config, notes


def raw_scale(decoder: str, reward: str = "sentiment") -> tuple[dict, dict, str]:
    """How to make our decoder read the reward model's raw logit: (config extra, reward_config, how);
    empty dicts and how="squashed" when neither the decoder nor the reward offers a raw scale."""
    for spec in fields(DECODERS.get(decoder).Config):
        if spec.name in ("scale", "reward_scale") and spec.choices and "raw" in spec.choices:
            return {spec.name: "raw"}, {}, f"{decoder}.{spec.name}=raw"
    for spec in fields(REWARDS.get(reward).Config):
        if spec.name in ("output", "scale") and spec.choices and "raw" in spec.choices:
            return {}, {reward: {spec.name: "raw"}}, f"{reward}.{spec.name}=raw"
    return {}, {}, "squashed"


def official_models(paths: dict[str, str]) -> dict[str, Any]:
    """The official ports' own copies of the models, loaded as the official scripts load them: float32,
    as transformers builds them (the same weights as ours; without the app's fused activation)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from backends.loading import load_pretrained

    cpu = torch.device("cpu")
    lm, lm_tok = load_pretrained(AutoModelForCausalLM, paths["tiny-sft"], cpu, torch.float32, fuse=False)
    bl, _ = load_pretrained(AutoModelForCausalLM, paths["tiny-dpo-sentiment"], cpu, torch.float32, fuse=False)
    rm, rm_tok = load_pretrained(AutoModelForSequenceClassification, paths["tiny-sentiment-rm"], cpu, torch.float32,
                                 fuse=False)
    return {"lm": lm, "lm_tok": lm_tok, "baseline": bl, "rm": rm, "rm_tok": rm_tok}
