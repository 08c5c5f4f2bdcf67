"""Settings read from environment variables (the same names locally and on a Hugging Face Space).

    PLAYGROUND_PRESET       preset loaded at start-up and selected in the UI (default: embedded)
    PLAYGROUND_PRESET_FILES more presets, as JSON files (e.g. the preset.json `python -m backends.train`
                            writes), separated by commas
    PLAYGROUND_DEVICE       auto | cpu | cuda | mps
    DATABASE_URL            storage URL (default: a SQLite file under storage/)
    PLAYGROUND_ARENA_POOL   JSON file of the arena's decoder configurations (default: assets/arena/pool.json)
    PLAYGROUND_CONCURRENCY  runs decoding at the same time (default 1: one accelerator, shared)
    PLAYGROUND_QUEUE_SIZE   requests waiting at most in the queue (default 64)
    PLAYGROUND_GPU_SECONDS  ZeroGPU time asked for per run (default 120)
    PLAYGROUND_MIN_VOTES    votes a configuration needs before the leaderboard ranks it among the
                            established ones (default 10); with fewer it is marked provisional and
                            ranked after them. 0 ranks every configuration on its score alone
    GRADIO_SERVER_NAME, GRADIO_SERVER_PORT (or PORT)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    preset: str = "embedded"
    preset_files: tuple[str, ...] = ()
    device: str = "auto"
    database_url: str | None = None
    arena_pool: str | None = None
    concurrency: int = 1
    queue_size: int = 64
    gpu_seconds: int = 120
    min_votes: int = 10
    server_name: str = "127.0.0.1"
    server_port: int = 7860

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        space = "SPACE_ID" in env  # on a Space, listen on every interface
        return cls(
            preset=env.get("PLAYGROUND_PRESET", cls.preset),
            preset_files=tuple(f.strip() for f in env.get("PLAYGROUND_PRESET_FILES", "").split(",") if f.strip()),
            device=env.get("PLAYGROUND_DEVICE", cls.device),
            database_url=env.get("DATABASE_URL"),
            arena_pool=env.get("PLAYGROUND_ARENA_POOL") or None,
            concurrency=max(1, int(env.get("PLAYGROUND_CONCURRENCY", cls.concurrency))),
            queue_size=max(1, int(env.get("PLAYGROUND_QUEUE_SIZE", cls.queue_size))),
            gpu_seconds=max(1, int(env.get("PLAYGROUND_GPU_SECONDS", cls.gpu_seconds))),
            min_votes=_min_votes(env.get("PLAYGROUND_MIN_VOTES")),
            server_name=env.get("GRADIO_SERVER_NAME", "0.0.0.0" if space else cls.server_name),
            server_port=int(env.get("GRADIO_SERVER_PORT", env.get("PORT", cls.server_port))),
        )


def _min_votes(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return Settings.min_votes
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"PLAYGROUND_MIN_VOTES={raw!r}: must be a whole number of votes, 0 or more")
    return value
