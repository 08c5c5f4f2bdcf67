"""Composition root: read settings, build the Engine, open the Store, build the UI, launch. No logic lives here.

The same file runs locally and as a Hugging Face Space (settings from environment variables,
see playground/settings.py; ZeroGPU is used when the `spaces` package is present).

    python app.py                      # http://127.0.0.1:7860, embedded zoo preset, votes in storage/playground.db
    PLAYGROUND_PRESET=gpt2-imdb python app.py
    PLAYGROUND_PRESET_FILES=runs/dpo/preset.json python app.py   # a baseline trained from votes
    DATABASE_URL=postgresql+psycopg://user@host/db python app.py
    PLAYGROUND_PUBLIC=1 PLAYGROUND_OPERATOR_TOKEN=... python app.py   # as on a Space (see README, Settings)

Every setting is documented in playground/settings.py. In public mode the Engine loads only the
presets' model ids and the operator's allowlist (`allowed_models`).
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from playground.gradio_import import skip_unused_gradio_work, skipped

# Before Gradio's first import: its type-stub writer, and IPython when run as a script (1.5-3 s a start).
skip_unused_gradio_work(hide_ipython=__name__ == "__main__")

import gradio as gr

from backends.engine import Engine
from backends.presets import PRESETS
from backends.rewards import DEFAULT_EMBEDDER, packaged_minilm
from playground.loading import load_presets, warm_at_startup
from playground.settings import Settings, public_models
from playground.ui import PendingStore, build_ui, launch_kwargs

log = logging.getLogger("app")


def build_app(settings: Settings) -> tuple[Engine, PendingStore, gr.Blocks]:
    """The Engine (no model loaded yet), the database (not opened yet) and the page, built without
    importing torch or SQLAlchemy."""
    presets = load_presets(settings.preset_files)
    shipped_embedder = [DEFAULT_EMBEDDER] if packaged_minilm() else []  # a PyPI package, not a download
    allowed = public_models(settings, presets, PRESETS, shipped_embedder)
    engine = Engine(device=settings.device, presets=presets, allowed_models=allowed)
    if allowed is not None:
        log.info("public mode: models limited to %s", ", ".join(sorted(allowed)))
    store = PendingStore(settings.database_url, settings)
    return engine, store, build_ui(engine, settings, store=store)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("gradio %s imported: %s", gr.__version__, skipped() or "as is")
    settings = Settings.from_env()
    engine, store, demo = build_app(settings)
    # Serve the page first, then open the database and import torch and load the preset's models:
    # nothing above imports torch or SQLAlchemy (tests/playground/test_app_setup.py). A vote cast
    # meanwhile waits for the database; a run waits for the models and says so ("loading
    # models..."); every later one finds them ready.
    demo.launch(prevent_thread_lock=True, **launch_kwargs(settings, demo))
    store.open()  # logs where votes go, or why voting is off (the page's header says so too)
    from backends.devices import set_cpu_threads

    try:
        device = engine.device
    except RuntimeError as e:  # the device asked for is not on this machine: stop, saying so
        demo.close()
        raise SystemExit(f"PLAYGROUND_DEVICE: {e}") from None
    set_cpu_threads(settings.torch_threads, device)
    warm_at_startup(engine, settings.preset)
    demo.block_thread()


if __name__ == "__main__":
    main()
