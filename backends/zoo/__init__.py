"""The embedded model zoo: where its artifacts live and whether they are intact.

This module only locates and verifies the files under `assets/zoo` (paths, manifest, sha256). It
is not the builder (`backends.zoo.build`), nor a model loader: callers pass `zoo_model_path(name)`
to transformers' `from_pretrained`. It imports no torch, so the UI may import it cheaply.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path

ZOO_DIR: Path = Path(__file__).resolve().parents[2] / "assets" / "zoo"
MANIFEST_NAME = "manifest.json"


def load_manifest(zoo_dir: Path = ZOO_DIR) -> dict:
    """The parsed `manifest.json` of a built zoo; raises FileNotFoundError saying how to build one."""
    path = Path(zoo_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no zoo manifest at {path}; build it with `python -m backends.zoo build`")
    return json.loads(path.read_text())


def available_models(zoo_dir: Path = ZOO_DIR) -> list[str]:
    """Names of the model directories in the zoo (those holding a config.json)."""
    return sorted(p.parent.name for p in Path(zoo_dir).glob("*/config.json"))


def zoo_model_path(name: str, zoo_dir: Path = ZOO_DIR) -> Path:
    """Directory of the zoo model `name`, loadable offline with `from_pretrained`."""
    path = Path(zoo_dir) / name
    if (path / "config.json").is_file():
        return path
    known = available_models(zoo_dir)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known) if known else "none (run `python -m backends.zoo build`)"
    raise KeyError(f"unknown zoo model {name!r}; available in {zoo_dir}: {listed}.{hint}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(zoo_dir: Path = ZOO_DIR) -> list[str]:
    """Problems found comparing the files on disk with the manifest; empty when all match."""
    zoo_dir = Path(zoo_dir)
    try:
        manifest = load_manifest(zoo_dir)
    except (FileNotFoundError, json.JSONDecodeError) as error:
        return [f"manifest: {error}"]
    problems = []
    for entry in manifest.get("files", []):
        path = zoo_dir / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{entry['path']}: size {path.stat().st_size} != manifest {entry['size']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 differs from the manifest")
    listed = {entry["path"] for entry in manifest.get("files", [])} | {MANIFEST_NAME}
    for path in sorted(p for p in zoo_dir.rglob("*") if p.is_file()):
        if path.relative_to(zoo_dir).as_posix() not in listed:
            problems.append(f"{path.relative_to(zoo_dir).as_posix()}: not in the manifest")
    if not manifest.get("files"):
        problems.append("manifest: lists no files")
    return problems


__all__ = ["ZOO_DIR", "available_models", "load_manifest", "sha256_file", "verify_manifest", "zoo_model_path"]
