"""The zoo's resumable build: a registry of named stages, their stamps, and the manifest.

A stage writes one directory under the output folder and, last, a `stamp.json` holding the hash
of its inputs (its config plus the output hashes of the stages it reads) and of its outputs. A
re-run skips a stage whose stamp matches both; anything upstream that changed makes it stale.
Extend the build by registering a stage with `@stage(...)` (see `backends.zoo.stages`). This
module knows nothing about models or training; code changes are not hashed, so use `--force`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from backends.zoo import MANIFEST_NAME, ZOO_DIR, sha256_file

log = logging.getLogger(__name__)
STAMP_NAME = "stamp.json"
BUILD_BUDGET_S = 10_800  # the whole build on 2 shared CPU cores (issue 14: a longer build is fine if resumable)


@dataclass(frozen=True)
class Stage:
    name: str
    after: tuple[str, ...]
    config: Any  # frozen dataclass of the full build
    quick: Any  # frozen dataclass of the `--quick` build
    run: Callable[[Context, Any], dict]  # writes ctx.dir(name), returns metrics
    fingerprint: Callable[[], dict] | None = None  # extra inputs hashed into the key


STAGES: dict[str, Stage] = {}


def stage(name: str, *, config: Any, quick: Any, after: tuple[str, ...] = (),
          fingerprint: Callable[[], dict] | None = None) -> Callable:
    """Register `run(ctx, config) -> metrics` as the build stage `name`, run after `after`."""

    def register(run: Callable[[Context, Any], dict]) -> Callable:
        if name in STAGES:
            raise ValueError(f"stage {name!r} is registered twice")
        missing = [dep for dep in after if dep not in STAGES]
        if missing:
            raise ValueError(f"stage {name!r} runs after unknown stages {missing}; known: {list(STAGES)}")
        STAGES[name] = Stage(name, tuple(after), config, quick, run, fingerprint)
        return run

    return register


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(STAGES)}")
    return STAGES[name]


@dataclass
class Context:
    """What a running stage may use: the output folder, the mode, a per-build memo."""

    out: Path
    quick: bool = False
    threads: int | None = None  # CPU threads for training; None = calibrated per stage
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        """Intermediate weights a stage may resume from (beside the output folder, not in it)."""
        return self.out.resolve().parent / f".{self.out.name}-build" / ("quick" if self.quick else "full")

    def dir(self, name: str) -> Path:
        return self.out / name

    def config(self, name: str) -> Any:
        entry = get_stage(name)
        return entry.quick if self.quick else entry.config

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


def to_jsonable(config: Any) -> Any:
    return asdict(config) if is_dataclass(config) else config


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def read_stamp(folder: Path) -> dict | None:
    path = folder / STAMP_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def output_hash(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != STAMP_NAME)
    return digest([[p.relative_to(folder).as_posix(), sha256_file(p)] for p in files])


def input_key(ctx: Context, entry: Stage) -> str | None:
    """Hash of the stage's config, fingerprint and upstream outputs; None while one is unbuilt."""
    upstream = {}
    for dep in entry.after:
        stamp = read_stamp(ctx.dir(dep))
        if stamp is None:
            return None
        upstream[dep] = stamp["output_hash"]
    extra = entry.fingerprint() if entry.fingerprint else {}
    return digest({"stage": entry.name, "config": to_jsonable(ctx.config(entry.name)),
                   "upstream": upstream, "extra": extra})


def is_fresh(ctx: Context, entry: Stage) -> bool:
    stamp = read_stamp(ctx.dir(entry.name))
    return (stamp is not None and stamp["input_key"] == input_key(ctx, entry)
            and stamp["output_hash"] == output_hash(ctx.dir(entry.name)))


def machine() -> dict:
    import tokenizers
    import torch
    import transformers

    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def run_stage(ctx: Context, entry: Stage) -> dict:
    folder = ctx.dir(entry.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    key = input_key(ctx, entry)
    started, cpu_started = time.perf_counter(), time.process_time()
    metrics = entry.run(ctx, ctx.config(entry.name))
    stamp = {"stage": entry.name, "input_key": key, "output_hash": output_hash(folder),
             "config": to_jsonable(ctx.config(entry.name)), "quick": ctx.quick,
             "fingerprint": entry.fingerprint() if entry.fingerprint else {},
             "after": list(entry.after), "wall_s": round(time.perf_counter() - started, 2),
             "cpu_s": round(time.process_time() - cpu_started, 2),
             "metrics": metrics, "machine": machine(),
             "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (folder / STAMP_NAME).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    return stamp


def plan(ctx: Context, only: Sequence[str] | None) -> list[Stage]:
    """The stages to consider, in registration order: all, or `only` (whose inputs must be built)."""
    if only is None:
        return list(STAGES.values())
    chosen = [get_stage(name) for name in STAGES if name in {get_stage(n).name for n in only}]
    names = {entry.name for entry in chosen}
    stale = sorted({dep for entry in chosen for dep in entry.after
                    if dep not in names and not is_fresh(ctx, get_stage(dep))})
    if stale:
        raise RuntimeError(f"stages {sorted(names)} need {stale} built first: run the build without --only")
    return chosen


def build(out: Path = ZOO_DIR, only: str | Sequence[str] | None = None, force: bool = False, quick: bool = False,
          threads: int | None = None) -> dict:
    """Run the stale stages (all with `force`) in registration order; rewrites the manifest.

    only: a stage name or names to consider instead of all of them.
    threads: pin the CPU threads (bitwise reproducible runs); None picks 1 or all as training goes.
    """
    only = [only] if isinstance(only, str) else only
    from backends.zoo import aligned, features, ontopic, stages  # noqa: F401  registers the stages

    ctx = Context(out=Path(out), quick=quick, threads=threads)
    ctx.out.mkdir(parents=True, exist_ok=True)
    built, skipped, started = [], [], time.perf_counter()
    for entry in plan(ctx, only):
        if not force and is_fresh(ctx, entry):
            log.info("stage %s: up to date, skipped", entry.name)
            skipped.append(entry.name)
            continue
        log.info("stage %s: building", entry.name)
        stamp = run_stage(ctx, entry)
        log.info("stage %s: %.1f s, %s", entry.name, stamp["wall_s"], stamp["metrics"])
        built.append(entry.name)
        write_manifest(ctx.out)
    summary = {"built": built, "skipped": skipped, "wall_s": round(time.perf_counter() - started, 2),
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_manifest(ctx.out, summary if built else None)
    return summary


def write_manifest(out: Path, last_run: dict | None = None) -> dict:
    """manifest.json from the stage stamps and the files on disk (path, size, sha256 of each).

    last_run: what the latest build that built anything did, end to end; kept from the old manifest
    when None."""
    previous = out / MANIFEST_NAME
    if last_run is None and previous.is_file():
        last_run = json.loads(previous.read_text()).get("last_run")
    stamps = {name: stamp for name in STAGES if (stamp := read_stamp(out / name)) is not None}
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    keep = ("config", "wall_s", "cpu_s", "built_at", "metrics", "input_key", "output_hash", "after", "quick",
            "fingerprint")
    latest = max(stamps.values(), key=lambda stamp: stamp.get("built_at", ""), default={})
    manifest = {
        "format": 1,
        "stages": {name: {k: stamp[k] for k in keep if k in stamp} for name, stamp in stamps.items()},
        "build_wall_s": round(sum(stamp["wall_s"] for stamp in stamps.values()), 2),
        "build_budget_s": BUILD_BUDGET_S,
        "last_run": last_run,
        "machine": latest.get("machine", {}),
        "total_bytes": sum(p.stat().st_size for p in files),
        "files": [{"path": p.relative_to(out).as_posix(), "size": p.stat().st_size,
                   "sha256": sha256_file(p)} for p in files],
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
