"""Settings read from environment variables (the same names locally and on a Hugging Face Space).

Models and devices
    PLAYGROUND_PRESET        preset loaded at start-up and selected in the UI (default: embedded)
    PLAYGROUND_PRESET_FILES  more presets, as JSON files (e.g. the preset.json `python -m backends.train`
                             writes), separated by commas
    PLAYGROUND_DEVICE        auto | cpu | cuda | mps
    PLAYGROUND_TORCH_THREADS torch CPU threads: auto (default: 1 on the CPU, where the zoo's small models
                             decode fastest) or a number (large models on many cores)
Serving
    PLAYGROUND_CONCURRENCY   runs decoding at the same time (default 1: one accelerator, shared)
    PLAYGROUND_QUEUE_SIZE    requests waiting at most in the generation queue (default 64); the Arena's
                             stored battles and votes have queues of their own and never wait behind it
    PLAYGROUND_GPU_SECONDS   ZeroGPU time asked for per run, in seconds (default 120; Spaces only)
    GRADIO_SERVER_NAME, GRADIO_SERVER_PORT (or PORT)   where to listen (a Space: 0.0.0.0)
Votes and the Arena
    DATABASE_URL             storage URL (default: a SQLite file under storage/)
    PLAYGROUND_ARENA_POOL    JSON file of the arena's decoder configurations (default: assets/arena/pool.json);
                             stored battles (`python -m storage.import_eval`) are served before any is generated
    PLAYGROUND_MIN_VOTES     votes a configuration needs before the leaderboard ranks it among the
                             established ones (default 10); with fewer it is marked provisional and
                             ranked after them. 0 ranks every configuration on its score alone
    PLAYGROUND_VOTES_PER_MINUTE         votes one annotator may cast per minute (default 30; 0: no limit)
    PLAYGROUND_CLIENT_VOTES_PER_MINUTE  votes one client address may cast per minute, all its annotators
                             together (default 120; 0: no limit)
    PLAYGROUND_ARENA_API     1 (default): serve the Arena's JSON API for annotation tools and scripts
                             (POST /arena_api/annotator, /battle, /vote: stored battles only, the page's
                             id checks and rate limits; playground/arena_api.py); 0: off
Public deployment
    PLAYGROUND_PUBLIC        1: public mode (the default on a Space, where SPACE_ID is set; 0 turns it off
                             there). Model ids come only from the presets and PLAYGROUND_MODEL_ALLOWLIST,
                             free-text model fields are refused (and hidden where the UI can), messages
                             show no server path, and the annotator agreement table is operator-only
    PLAYGROUND_MODEL_ALLOWLIST  model ids a visitor may name besides the presets', comma-separated
                             (`backends.allowlist`); an allowed id that is not cached yet may be
                             downloaded on first use, so allow only what you mean to serve
    PLAYGROUND_OPERATOR_TOKEN   at least 16 characters: whoever types it may export votes and see
                             annotator ids (the Leaderboard's export panel); unset: exports are off
    PLAYGROUND_ANNOTATOR_SECRET at least 16 characters: the key that signs anonymous annotator ids, so
                             they survive restarts (unset: a random key per process)
    PLAYGROUND_HF_LOGIN      1: show the "Sign in with Hugging Face" button (default: on a Space only;
                             elsewhere Gradio mocks it with the machine's own hub login, which needs
                             the network). Votes of a signed-in user are stored as `hf:USERNAME`
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.allowlist import ALLOWLIST_ENV, allowed_models, public_mode
from storage.access import TOKEN_ENV, annotator_key, operator_token

# An absolute server path or a database URL in a message (public mode shows neither).
SERVER_PATH = re.compile(r"(?:sqlite|postgresql)\S*://\S+|(?<![\w.])(?:/[\w.@+-]+){2,}/?|[A-Za-z]:\\\S+")


def _process_key() -> bytes:
    return annotator_key({})


@dataclass(frozen=True)
class Settings:
    preset: str = "embedded"
    preset_files: tuple[str, ...] = ()
    device: str = "auto"
    torch_threads: str = "auto"
    database_url: str | None = None
    arena_pool: str | None = None
    concurrency: int = 1
    queue_size: int = 64
    gpu_seconds: int = 120
    min_votes: int = 10
    votes_per_minute: int = 30
    client_votes_per_minute: int = 120
    arena_api: bool = True
    public: bool = False
    allowlist: tuple[str, ...] = ()
    login: bool = False
    operator_token: str | None = field(default=None, repr=False)
    annotator_key: bytes = field(default_factory=_process_key, repr=False, compare=False)
    server_name: str = "127.0.0.1"
    server_port: int = 7860

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every setting from `env` (default: os.environ); a bad value raises naming the variable."""
        env = dict(os.environ if env is None else env)
        space = "SPACE_ID" in env  # on a Space, listen on every interface
        return cls(
            preset=env.get("PLAYGROUND_PRESET", cls.preset),
            preset_files=_list(env.get("PLAYGROUND_PRESET_FILES", "")),
            device=env.get("PLAYGROUND_DEVICE", cls.device),
            torch_threads=_threads(env.get("PLAYGROUND_TORCH_THREADS")),
            database_url=env.get("DATABASE_URL"),
            arena_pool=env.get("PLAYGROUND_ARENA_POOL") or None,
            concurrency=max(1, _count(env, "PLAYGROUND_CONCURRENCY", cls.concurrency)),
            queue_size=max(1, _count(env, "PLAYGROUND_QUEUE_SIZE", cls.queue_size)),
            gpu_seconds=max(1, _count(env, "PLAYGROUND_GPU_SECONDS", cls.gpu_seconds)),
            min_votes=_count(env, "PLAYGROUND_MIN_VOTES", cls.min_votes, "votes"),
            votes_per_minute=_count(env, "PLAYGROUND_VOTES_PER_MINUTE", cls.votes_per_minute, "votes"),
            client_votes_per_minute=_count(env, "PLAYGROUND_CLIENT_VOTES_PER_MINUTE", cls.client_votes_per_minute,
                                           "votes"),
            arena_api=_flag(env, "PLAYGROUND_ARENA_API", cls.arena_api),
            public=public_mode(env),
            allowlist=_list(env.get(ALLOWLIST_ENV, "")),
            login=_flag(env, "PLAYGROUND_HF_LOGIN", space),
            operator_token=operator_token(env),
            annotator_key=annotator_key(env),
            server_name=env.get("GRADIO_SERVER_NAME", "0.0.0.0" if space else cls.server_name),
            server_port=_count(env, "GRADIO_SERVER_PORT", _count(env, "PORT", cls.server_port)),
        )

    @property
    def exports(self) -> bool:
        """Whether an operator token is configured (else the export panel says exports are off)."""
        return self.operator_token is not None

    @property
    def operator_env(self) -> dict[str, str]:
        """The token as `storage.access.require_operator` reads it (no process environment involved)."""
        return {TOKEN_ENV: self.operator_token or ""}

    def shown(self, message: str) -> str:
        """`message` as a visitor may see it: in public mode server paths and database URLs are cut out."""
        return SERVER_PATH.sub("[server path]", message) if self.public else message


def hide_model_fields(settings: Settings) -> bool:
    """Whether the Compare tab should hide its free-text model fields (tqstar.baseline,
    dpo_implicit.aligned/.reference, preference.model, a classifier's model): in public mode. The
    Engine refuses ids outside the allowlist either way (`Engine(allowed_models=...)`)."""
    return settings.public


def public_models(settings: Settings, presets: Mapping[str, Any], builtin: Collection[str] = (),
                  extra: Collection[str] = ()) -> frozenset[str] | None:
    """The model ids a visitor may use in public mode (None: private, any id), for `Engine(allowed_models=...)`.

    The start-up preset's models (loaded before the first visitor), presets whose models all ship in
    the zoo (`zoo:`, never downloaded), presets from PLAYGROUND_PRESET_FILES (names not in `builtin`),
    the operator's allowlist and `extra`. Another built-in hub preset stays selectable but its models
    are refused until the operator allows them, so no visitor starts a download.
    """
    if not settings.public:
        return None
    def shipped(preset: Any) -> bool:
        return all(i.startswith("zoo:") for i in allowed_models([preset], {}))
    offered = [p for name, p in presets.items() if name == settings.preset or name not in builtin or shipped(p)]
    return allowed_models(offered, {ALLOWLIST_ENV: ",".join(settings.allowlist)}) | frozenset(extra)


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"{name}={env[name]!r}: write 1 or 0")
    return raw in ("1", "true", "yes", "on")


def _count(env: Mapping[str, str], name: str, default: int, unit: str = "") -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        what = f"a whole number of {unit}" if unit else "a whole number"
        raise ValueError(f"{name}={raw!r}: must be {what}, 0 or more")
    return value


def _threads(raw: str | None) -> str:
    if raw is None or not raw.strip() or raw.strip() == "auto":
        return "auto"
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"PLAYGROUND_TORCH_THREADS={raw!r}: write auto or a number of threads, 1 or more")
    return raw.strip()
