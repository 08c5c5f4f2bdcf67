"""Settings read from environment variables (the same names locally and on a Hugging Face Space)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    preset: str = "embedded"
    device: str = "auto"
    database_url: str | None = None
    concurrency: int = 1
    server_name: str = "127.0.0.1"
    server_port: int = 7860

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        space = "SPACE_ID" in env  # on a Space, listen on every interface
        return cls(
            preset=env.get("PLAYGROUND_PRESET", cls.preset),
            device=env.get("PLAYGROUND_DEVICE", cls.device),
            database_url=env.get("DATABASE_URL"),
            concurrency=int(env.get("PLAYGROUND_CONCURRENCY", cls.concurrency)),
            server_name=env.get("GRADIO_SERVER_NAME", "0.0.0.0" if space else cls.server_name),
            server_port=int(env.get("GRADIO_SERVER_PORT", env.get("PORT", cls.server_port))),
        )
