"""Sparse autoencoders on a causal LM's residual stream: load, train, encode, compare features.

A sparse autoencoder (SAE) maps a hidden state h (d_in) to non-negative features
f = act((h - b_dec) @ W_enc + b_enc) (d_sae, mostly zero) and back, h ~ f @ W_dec + b_dec; `act`
is ReLU, or JumpReLU (f kept only above a per-feature threshold, as in Gemma Scope). Folders use
SAELens' layout, `cfg.json` + `sae_weights.safetensors` (W_enc, W_dec, b_enc, b_dec[, threshold]),
so SAEs published on the hub load from a local copy or a hub id. `layer` says which entry of the
model's `hidden_states` the SAE reads: -1, the final residual stream as the LM head reads it (for
GPT-2, after the final layer norm), unless cfg.json names a `hook_name` like
`blocks.10.hook_resid_post` (entry 11 of hidden_states; only non-final layers map exactly, since
transformers normalises the last entry).

FPO (Yin et al., arXiv 2411.07618) constrains the top-k features of the final residual stream;
`feature_distance` is that quantity between two feature vectors, and `top_features` what the
UI shows per token. Training is the plain L2 reconstruction + L1 sparsity recipe.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from backends.loading import ZOO_PREFIX, ModelNotFound

log = logging.getLogger(__name__)
CFG_NAME = "cfg.json"
WEIGHTS_NAME = "sae_weights.safetensors"
_HOOK = re.compile(r"blocks\.(\d+)\.hook_resid_(pre|post)")
ARCHITECTURES = {"standard": "relu", "relu": "relu", "jumprelu": "jumprelu"}


@dataclass(frozen=True)
class SaeConfig:
    d_in: int
    d_sae: int
    layer: int = -1  # index into the model's hidden_states
    model_name: str = ""
    activation: str = "relu"  # relu | jumprelu
    apply_b_dec_to_input: bool = True

    def to_cfg(self) -> dict:
        """SAELens' keys (d_in, d_sae, hook_name, model_name, architecture) plus ours."""
        hook = "final" if self.layer == -1 else f"blocks.{self.layer - 1}.hook_resid_post"
        return {**asdict(self), "hook_name": hook, "architecture": "jumprelu" if self.activation == "jumprelu"
                else "standard", "normalize_activations": "none"}

    @classmethod
    def from_cfg(cls, cfg: dict) -> SaeConfig:
        """Our cfg.json, or SAELens' (v5: flat; v6: hook and model under "metadata"); anything this
        loader would misread (other architectures, input normalisation, other hooks) is refused."""
        meta = {**(cfg.get("metadata") or {}), **cfg}
        for key in ("d_in", "d_sae"):
            if not isinstance(cfg.get(key), int) or cfg[key] < 1:
                raise ValueError(f"{CFG_NAME}: {key} must be a positive integer, got {cfg.get(key)!r}")
        architecture = str(cfg.get("activation") or cfg.get("architecture") or "standard")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"{CFG_NAME}: architecture {architecture!r} is not supported; "
                             f"known: {', '.join(sorted(ARCHITECTURES))}")
        if str(cfg.get("normalize_activations") or "none") != "none":
            raise ValueError(f"{CFG_NAME}: normalize_activations={cfg['normalize_activations']!r} is not supported")
        layer = cfg.get("layer")
        if layer is None:
            hook_name = str(meta.get("hook_name") or "final")
            hook = _HOOK.fullmatch(hook_name)
            if hook is None and hook_name != "final":
                raise ValueError(f"{CFG_NAME}: hook_name {hook_name!r} is not a residual stream "
                                 "(blocks.N.hook_resid_pre / hook_resid_post)")
            layer = -1 if hook is None else int(hook.group(1)) + (hook.group(2) == "post")
        return cls(d_in=cfg["d_in"], d_sae=cfg["d_sae"], layer=int(layer),
                   model_name=str(meta.get("model_name", "")), activation=ARCHITECTURES[architecture],
                   apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)))


class SparseAutoencoder(nn.Module):
    def __init__(self, config: SaeConfig):
        super().__init__()
        self.config = config
        self.W_enc = nn.Parameter(torch.empty(config.d_in, config.d_sae))
        self.W_dec = nn.Parameter(torch.empty(config.d_sae, config.d_in))
        self.b_enc = nn.Parameter(torch.zeros(config.d_sae))
        self.b_dec = nn.Parameter(torch.zeros(config.d_in))
        self.threshold = nn.Parameter(torch.zeros(config.d_sae), requires_grad=False)
        nn.init.kaiming_uniform_(self.W_dec)
        with torch.no_grad():
            self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)
            self.W_enc.copy_(self.W_dec.T)

    @property
    def d_sae(self) -> int:
        return self.config.d_sae

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d_in) -> (..., d_sae) non-negative features."""
        h = h.to(self.W_enc.dtype)
        pre = (h - self.b_dec if self.config.apply_b_dec_to_input else h) @ self.W_enc + self.b_enc
        if self.config.activation == "jumprelu":
            return pre * (pre > self.threshold)
        return torch.relu(pre)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.encode(h)
        return self.decode(f), f

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: p.detach().float().cpu().contiguous() for name, p in self.named_parameters()}
        if self.config.activation != "jumprelu":
            del tensors["threshold"]
        save_file(tensors, str(folder / WEIGHTS_NAME))
        (folder / CFG_NAME).write_text(json.dumps(self.config.to_cfg(), indent=2, sort_keys=True) + "\n")


def read_sae(folder: str | Path, device: torch.device | str = "cpu") -> SparseAutoencoder:
    """The SAE in `folder` (SAELens layout); errors name the file and what is wrong with it."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        cfg = json.loads((folder / CFG_NAME).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelNotFound(f"sparse autoencoder {folder}: cannot read {CFG_NAME} ({e})") from None
    try:
        config = SaeConfig.from_cfg(cfg)
        tensors = load_file(str(folder / WEIGHTS_NAME))
    except (OSError, ValueError) as e:
        raise ModelNotFound(f"sparse autoencoder {folder}: {e}") from None
    sae = SparseAutoencoder(config)
    expected = {"W_enc": (config.d_in, config.d_sae), "W_dec": (config.d_sae, config.d_in),
                "b_enc": (config.d_sae,), "b_dec": (config.d_in,)}
    if config.activation == "jumprelu":
        expected["threshold"] = (config.d_sae,)
    for name, shape in expected.items():
        if name not in tensors or tuple(tensors[name].shape) != shape:
            got = tuple(tensors[name].shape) if name in tensors else "missing"
            raise ModelNotFound(f"sparse autoencoder {folder}: {name} should have shape {shape}, got {got}")
    with torch.no_grad():
        for name, value in tensors.items():
            if hasattr(sae, name):
                getattr(sae, name).copy_(value)
    return sae.to(device).eval()


def load_sae(sae_id: str, device: torch.device | str = "cpu") -> SparseAutoencoder:
    """`zoo:NAME`, a local folder, or a hub repo id (`owner/name`, or `owner/name/subfolder`)."""
    if not sae_id or not sae_id.strip():
        raise ModelNotFound("sparse autoencoder id is empty: give zoo:NAME, a local folder or a hub id")
    if sae_id.startswith(ZOO_PREFIX):
        from backends.zoo import ZOO_DIR

        folder = ZOO_DIR / sae_id[len(ZOO_PREFIX):]
        if not (folder / CFG_NAME).is_file():
            raise ModelNotFound(f"sparse autoencoder {sae_id!r}: {folder} holds no {CFG_NAME}. "
                                "Build the zoo with `python -m backends.zoo build`.")
        return read_sae(folder, device)
    path = Path(sae_id).expanduser()
    if path.exists():
        return read_sae(path, device)
    if sae_id.startswith((".", "/", "~")):
        raise ModelNotFound(f"sparse autoencoder {sae_id!r}: no such folder ({path.resolve()})")
    parts = sae_id.split("/")
    if len(parts) < 2:
        raise ModelNotFound(f"sparse autoencoder {sae_id!r}: not zoo:NAME, not a local folder, and not a hub id "
                            "(owner/name or owner/name/subfolder)")
    repo, sub = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import snapshot_download

        patterns = [f"{sub}/*"] if sub else None
        local = Path(snapshot_download(repo, allow_patterns=patterns))
    except Exception as e:  # offline, unknown repo, no network: say so
        raise ModelNotFound(f"could not load sparse autoencoder {sae_id!r} from the hub or its cache "
                            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                            "download it where there is network and pass the folder") from None
    return read_sae(local / sub if sub else local, device)


@torch.no_grad()
def hidden_states(model, ids: torch.Tensor, mask: torch.Tensor | None, layer: int) -> torch.Tensor:
    """(B, T, d) hidden states the SAE reads (entry `layer` of the model's hidden_states)."""
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return out.hidden_states[layer]


def top_features(f: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices) of the k most active features along the last dimension."""
    return f.topk(min(k, f.shape[-1]), dim=-1)


def feature_distance(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """FPO's feature-level distance: the squared differences summed over the union of a's and b's
    top-k active features, divided by k (inactive ones contribute zero); (..., d_sae) -> (...)."""
    union = torch.zeros_like(a, dtype=torch.bool)
    union.scatter_(-1, top_features(a, k)[1], True)
    union.scatter_(-1, top_features(b, k)[1], True)
    union &= (a > 0) | (b > 0)
    return (((a - b) ** 2) * union).sum(-1) / k


@dataclass(frozen=True)
class SaeTrainConfig:
    expansion: int = field(default=8, metadata={"help": "d_sae = expansion * d_in"})
    l1: float = field(default=6e-3, metadata={"help": "sparsity penalty on sum |f| * ||W_dec row||"})
    steps: int = field(default=1000, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=2048, metadata={"help": "hidden states per step"})
    lr: float = field(default=2e-3, metadata={"help": "Adam learning rate (cosine after 50 warm-up steps)"})
    seed: int = 0


def train_sae(acts: torch.Tensor, config: SaeTrainConfig, layer: int = -1, model_name: str = "",
              progress: Callable[[int, float], None] | None = None) -> tuple[SparseAutoencoder, dict]:
    """Fit an SAE to `acts` (N, d_in) with L2 reconstruction + L1 sparsity; returns it and stats."""
    from backends.training.optim import optimizer_step, warmup_cosine

    gen = torch.Generator().manual_seed(config.seed)
    sae = SparseAutoencoder(SaeConfig(d_in=acts.shape[1], d_sae=config.expansion * acts.shape[1], layer=layer,
                                      model_name=model_name))
    with torch.no_grad():
        sae.b_dec.copy_(acts.median(0).values)
    opt = torch.optim.Adam([p for p in sae.parameters() if p.requires_grad], lr=config.lr)
    sched = warmup_cosine(opt, 50, config.steps)
    scale = acts.pow(2).sum(-1).mean()
    for step in range(config.steps):
        batch = acts[torch.randint(len(acts), (min(config.batch_size, len(acts)),), generator=gen)]
        recon, f = sae(batch)
        mse = (recon - batch).pow(2).sum(-1).mean() / scale
        loss = mse + config.l1 * (f * sae.W_dec.norm(dim=1)).sum(-1).mean()
        value = optimizer_step(opt, sched, loss, sae.parameters())
        if progress:
            progress(step, value)
    return sae.eval(), {"d_in": acts.shape[1], "d_sae": sae.d_sae, "activations": len(acts),
                        "config": asdict(config)}


@torch.no_grad()
def sae_metrics(sae: SparseAutoencoder, acts: torch.Tensor) -> dict:
    """Explained variance, mean active features per token (L0) and dead features on held-out `acts`."""
    recon, f = sae(acts)
    resid = (acts - recon).pow(2).sum()
    total = (acts - acts.mean(0)).pow(2).sum()
    active = f > 0
    return {"explained_variance": round(float(1 - resid / total), 4),
            "l0": round(float(active.sum(-1).float().mean()), 2),
            "dead_fraction": round(float((~active.any(0)).float().mean()), 4)}
