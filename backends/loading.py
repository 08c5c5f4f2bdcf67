"""Where model ids point, and loading them through transformers with a useful error.

A model id is `zoo:NAME` (the embedded zoo under assets/zoo), a local folder, or a Hugging Face
hub id (loaded from the local cache, or the hub when it is reachable). This module only finds
and loads weights; it keeps no cache (the Engine does).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
ZOO_PREFIX = "zoo:"


class ModelNotFound(RuntimeError):
    """A model id that could not be loaded; the message says where we looked and what to do."""


def resolve(model_id: str) -> str:
    """The folder or hub id transformers should load for `model_id`."""
    if not model_id or not model_id.strip():
        raise ModelNotFound("model id is empty: give zoo:NAME, a local folder or a hub id")
    if model_id.startswith(ZOO_PREFIX):
        from backends.zoo import ZOO_DIR, zoo_model_path

        try:
            path = zoo_model_path(model_id[len(ZOO_PREFIX):])
        except KeyError as e:
            raise ModelNotFound(f"model {model_id!r}: {e.args[0]}") from None
        if not (path / "config.json").exists():
            raise ModelNotFound(
                f"model {model_id!r}: {path} holds no built model (looked for config.json). "
                f"Build the zoo with `python -m backends.zoo build` (writes {ZOO_DIR}).")
        return str(path)
    path = Path(model_id).expanduser()
    if path.exists():
        return str(path.resolve())
    if model_id.startswith((".", "/", "~")) or model_id.count("/") > 1:
        raise ModelNotFound(f"model {model_id!r}: no such folder ({path.resolve()})")
    return model_id


def _not_found(model_id: str, source: str, cause: Exception) -> ModelNotFound:
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    if Path(source).exists():
        where = f"the folder {source} exists but does not hold a loadable model"
        fix = "check that it has config.json, the weights and the tokenizer files"
    elif offline:
        where = f"not a local folder, and the hub is offline (HF_HUB_OFFLINE=1) with no copy in {cache}"
        fix = ("download it where there is network (`hf download " + model_id + "`) and pass the folder, "
               "or unset HF_HUB_OFFLINE")
    else:
        where = f"not a local folder, not in the cache {cache}, and the hub did not provide it"
        fix = "check the id and your network, or pass a local folder"
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return ModelNotFound(f"could not load model {model_id!r}: {where}. Fix: {fix}. ({first})")


def _suspect_file(source: str) -> Path | None:
    """The first file of a local model folder that does not open: a .safetensors header, then JSON files."""
    import json

    from safetensors import safe_open

    folder = Path(source)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except Exception:
            return path
    for path in sorted(folder.glob("*.json")):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return path
    return None


def _shown(path: Path) -> Path:
    """A path as messages show it: relative to the repository when inside it (no server path)."""
    root = Path(__file__).resolve().parents[1]
    return path.relative_to(root) if path.is_relative_to(root) else path


def check_zoo_files(model_id: str, folder: Path) -> None:
    """Refuse a zoo model whose files differ from the manifest's sha256 (damaged weights load silently)."""
    from backends.zoo import load_manifest, sha256_file

    zoo_dir = folder.parent
    try:
        entries = [e for e in load_manifest(zoo_dir)["files"] if e["path"].startswith(f"{folder.name}/")]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no usable manifest (a zoo being built): loading reports what is wrong
    for entry in entries:
        path = zoo_dir / entry["path"]
        problem = ("is missing" if not path.is_file() else
                   None if sha256_file(path) == entry["sha256"] else "differs from the manifest's sha256")
        if problem:
            raise ModelNotFound(
                f"could not load model {model_id!r}: its file {_shown(path)} {problem}. Fix: run "
                f"`python -m backends.zoo check` to list every damaged zoo file, then restore it from the repository "
                f"or rebuild it with `python -m backends.zoo build --only {folder.name} --force`.")


def _damaged(model_id: str, source: str, cause: Exception) -> ModelNotFound:
    """A model whose files are there but do not load: name the id, the file and the fix."""
    suspect = _suspect_file(source)
    what = f"its file {_shown(suspect)} is damaged" if suspect else f"its files in {Path(source).name} do not load"
    if model_id.startswith(ZOO_PREFIX):
        fix = ("run `python -m backends.zoo check` to list every damaged zoo file, then restore it from the "
               "repository or rebuild it with `python -m backends.zoo build --only "
               f"{model_id[len(ZOO_PREFIX):]} --force`")
    else:
        fix = "download the model again (or copy the file again) and check it"
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return ModelNotFound(f"could not load model {model_id!r}: {what} ({type(cause).__name__}: {first}). Fix: {fix}.")


def load_pretrained(auto_cls, model_id: str, device: torch.device, dtype: torch.dtype,
                    device_map: str | None = None, fuse: bool = True):
    """(model, tokenizer) for `model_id`, on `device` (or spread by `device_map="auto"`), in eval mode;
    `fuse`: GPT-2's activation as one fused kernel (`fused_activations`; False: as transformers builds it)."""
    from transformers import AutoTokenizer

    source = resolve(model_id)
    if model_id.startswith(ZOO_PREFIX):
        check_zoo_files(model_id, Path(source))
    log.info("loading %s from %s (%s, %s)", model_id, source, device, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = auto_cls.from_pretrained(source, dtype=dtype, device_map=device_map)
    except (OSError, ValueError) as e:
        raise _damaged(model_id, source, e) if _suspect_file(source) else _not_found(model_id, source, e) from e
    except Exception as e:  # SafetensorError, a tokenizer file that does not parse, mismatched shapes
        raise _damaged(model_id, source, e) from e
    if device_map is None:
        model = model.to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return (fused_activations(model) if fuse else model).eval(), tokenizer


def fused_activations(model: torch.nn.Module) -> torch.nn.Module:
    """Replace GPT-2's `NewGELUActivation` (tanh-approximate GELU written as seven tensor operations)
    with `GELUTanh`, the same formula in one fused kernel: outputs agree to float rounding (~1e-7),
    and a one-token forward of the zoo's 6-block model is about 9% faster on a CPU."""
    from transformers.activations import GELUTanh, NewGELUActivation

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is NewGELUActivation:
                setattr(module, name, GELUTanh())
    return model
