"""The Gradio page: a header and one tab per feature, composed from tab builders.

`build_ui` creates the shared services (the engine and settings it is given, the per-session
run flags, an optional store) and calls each builder of `TABS` inside its own `gr.Tab`. The
Compare tab is the first; the Arena and the Leaderboard are added by appending their builders
to `TABS` (or passing `tabs=`), with no change to the Compare tab. Queue limits are set here so
that every way of launching shares one accelerator safely. No module-level mutable state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from backends.engine import Engine
from playground.compare import CompareHooks, build_compare_tab
from playground.runner import Runs
from playground.settings import Settings

log = logging.getLogger(__name__)
CSS_PATH = Path(__file__).resolve().parents[1] / "assets" / "playground.css"


@dataclass(frozen=True)
class Services:
    """What tab builders may use: injected once, shared by every tab and session."""

    engine: Engine
    settings: Settings
    runs: Runs = field(default_factory=Runs)
    store: Any = None  # storage for generations and votes (the Arena and Leaderboard tabs)
    compare_hooks: CompareHooks = field(default_factory=CompareHooks)


@dataclass(frozen=True)
class TabSpec:
    label: str
    build: Callable[[Services], Any]
    id: str


def compare_tab(services: Services) -> Any:
    return build_compare_tab(services.engine, services.settings, services.runs, services.compare_hooks)


# The page's tabs, in order. The Arena (blind A/B votes) and the Leaderboard (Bradley-Terry
# ranking of decoder configurations) are added here as TabSpec("Arena", build_arena, "arena"),
# TabSpec("Leaderboard", build_leaderboard, "leaderboard").
TABS: tuple[TabSpec, ...] = (TabSpec("Compare", compare_tab, "compare"),)


def build_ui(engine: Engine, settings: Settings, *, store: Any = None, tabs: Sequence[TabSpec] = TABS,
             compare_hooks: CompareHooks | None = None) -> gr.Blocks:
    services = Services(engine, settings, store=store, compare_hooks=compare_hooks or CompareHooks())
    with gr.Blocks(title="Decoder playground") as demo:
        gr.Markdown("## Decoder playground\nDecoding-time alignment decoders side by side: type a prompt, pick "
                    "decoders and reward weights, press **Run**, then click any token to see why it won.",
                    elem_id="header")
        with gr.Tabs(elem_id="tabs"):
            for spec in tabs:
                with gr.Tab(spec.label, id=spec.id, elem_id=f"tab-{spec.id}"):
                    spec.build(services)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return demo


def load_css() -> str:
    return CSS_PATH.read_text() if CSS_PATH.is_file() else ""


def launch_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for `demo.launch` (Gradio 6 takes the page's css at launch)."""
    return {"server_name": settings.server_name, "server_port": settings.server_port, "css": load_css()}
