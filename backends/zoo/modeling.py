"""Create, save and load the zoo's GPT-2 models (policy and prefix reward models).

A zoo model folder is self-contained: config, fp16 safetensors weights and the tokenizer files,
loadable offline by transformers' Auto classes. Reward models carry `id2label={0: attribute}` and
`playground_output="sigmoid"`: the app reads `sigmoid(logits[:, 0])` at the last non-pad token.
This module neither trains nor evaluates.
"""

from __future__ import annotations

from pathlib import Path

import torch

from backends.zoo.train import ModelShape


def new_policy(shape: ModelShape, vocab_size: int, eos_id: int):
    """A fresh GPT-2 LM with tied embeddings, no dropout, and `eos_id` as bos, eos and pad."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size, n_positions=shape.n_positions, n_embd=shape.n_embd,
        n_layer=shape.n_layer, n_head=shape.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, tie_word_embeddings=True,
        bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id,
    )
    model = GPT2LMHeadModel(config)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.generation_config, key, eos_id)
    return model


def reward_model_from_policy(policy_dir: Path, attribute: str, eos_id: int):
    """A GPT2ForSequenceClassification (one logit) whose transformer starts as the policy's."""
    from transformers import GPT2ForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new score head is expected to be missing from the policy
    try:
        model = GPT2ForSequenceClassification.from_pretrained(
            str(policy_dir), num_labels=1, id2label={0: attribute}, label2id={attribute: 0},
            dtype=torch.float32, local_files_only=True,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.pad_token_id = eos_id
    model.config.playground_output = "sigmoid"
    return model


def save(model, tokenizer, folder: Path) -> None:
    """fp16 safetensors plus the tokenizer files; the in-memory model is left untouched.

    config.json then says float16, which transformers' default dtype="auto" honours: on a CPU,
    load with `dtype=torch.float32` (as `load_policy` and `load_reward_model` do).
    """
    import copy

    copy.deepcopy(model).cpu().half().save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))


def load_policy(folder: Path, device: str = "cpu"):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    return model.to(device).eval()


def load_reward_model(folder: Path, device: str = "cpu"):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(folder), dtype=torch.float32, local_files_only=True
    )
    return model.to(device).eval()


def grow_policy(model, n_layer: int):
    """A deeper copy of the GPT-2 policy `model` that computes exactly what it computes: the new
    blocks, spread evenly (4 -> 6 puts one after block 1 and one after block 3), start as copies of
    the block before them with their attention and MLP output projections zeroed, so each adds
    nothing to the residual stream until training moves it."""
    from transformers import GPT2LMHeadModel

    old = model.config.n_layer
    if n_layer <= old:
        raise ValueError(f"`n_layer` has to exceed the model's {old} blocks, but is {n_layer}")
    extra = n_layer - old
    after = {(j + 1) * old // extra - 1 for j in range(extra)}
    if len(after) < extra:
        raise ValueError(f"`n_layer` {n_layer} adds more blocks than the model's {old} blocks can each take one")
    config = model.config.to_dict()
    config["n_layer"] = n_layer
    grown = GPT2LMHeadModel(type(model.config).from_dict(config)).to(next(model.parameters()).device)
    source: list[tuple[int, bool]] = []  # (old block, is a new zeroed copy)
    for i in range(old):
        source.append((i, False))
        if i in after:
            source.append((i, True))
    state = model.state_dict()
    new_state = {k: v for k, v in state.items() if not k.startswith("transformer.h.")}
    for new_i, (old_i, fresh) in enumerate(source):
        prefix = f"transformer.h.{old_i}."
        for key, value in state.items():
            if key.startswith(prefix):
                name = key[len(prefix):]
                zero = fresh and name.split(".")[-2] == "c_proj"
                new_state[f"transformer.h.{new_i}.{name}"] = torch.zeros_like(value) if zero else value.clone()
    grown.load_state_dict(new_state, strict=True)
    grown.generation_config = model.generation_config
    return grown.eval()
