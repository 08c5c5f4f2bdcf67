"""Zoo stage `tiny-sft-sae`: a sparse autoencoder on tiny-sft's final residual stream.

It gives the embedded preset feature-level traces and FPO (backends.train) its feature
constraint. Activations are every token position of corpus texts read by tiny-sft; the
training recipe and the folder layout (SAELens') live in backends.sae.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from backends.sae import SaeTrainConfig, hidden_states, sae_metrics, train_sae
from backends.zoo import modeling
from backends.zoo.build import Context, stage
from backends.zoo.stages import examples
from backends.zoo.tokenizer import load_tokenizer
from backends.zoo.train import encode, pad_batch


@dataclass(frozen=True)
class SaeStageConfig:
    train: SaeTrainConfig = field(default_factory=SaeTrainConfig)
    n_texts: int = field(default=3_000, metadata={"help": "training texts; every token position is a sample"})
    n_eval: int = field(default=300, metadata={"help": "held-out texts for the metrics"})


def residual_samples(policy, tokenizer, texts: list[str], batch: int = 64) -> torch.Tensor:
    """(N, d) final-residual-stream vectors at every real token of `texts`."""
    out = []
    for i in range(0, len(texts), batch):
        ids, mask = pad_batch([s[: policy.config.n_positions] for s in encode(tokenizer, texts[i:i + batch])],
                              tokenizer.eos_token_id)
        h = hidden_states(policy, ids, mask, -1)  # (B, T, d)
        out.append(h[mask.bool()].float())
    return torch.cat(out)


@stage("tiny-sft-sae", after=("tiny-sft",), config=SaeStageConfig(),
       quick=SaeStageConfig(train=SaeTrainConfig(steps=5, batch_size=64, expansion=2), n_texts=16, n_eval=8))
def build_sae(ctx: Context, config: SaeStageConfig) -> dict:
    tokenizer = load_tokenizer(ctx.dir("tokenizer"))
    policy = modeling.load_policy(ctx.dir("tiny-sft"))
    train = residual_samples(policy, tokenizer, [e.text for e in examples(ctx, "train")[: config.n_texts]])
    heldout = residual_samples(policy, tokenizer, [e.text for e in examples(ctx, "heldout")[: config.n_eval]])
    bar = tqdm(total=config.train.steps, desc="tiny-sft-sae", leave=False)
    sae, stats = train_sae(train, config.train, layer=-1, model_name="zoo:tiny-sft",
                           progress=lambda s, loss: (bar.update(), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()
    sae.save(ctx.dir("tiny-sft-sae"))
    return {**{k: v for k, v in stats.items() if k != "config"}, **sae_metrics(sae, heldout)}
