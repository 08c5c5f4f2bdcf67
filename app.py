"""Composition root: read settings, build the Engine and the UI, launch. No logic lives here.

    python app.py                      # http://127.0.0.1:7860, embedded zoo preset
    PLAYGROUND_PRESET=gpt2-imdb python app.py
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from backends.engine import Engine
from playground.settings import Settings
from playground.ui import build_ui, load_css

log = logging.getLogger("app")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    engine = Engine(device=settings.device)
    engine.warm(settings.preset, progress=lambda f, msg: log.info("[%3.0f%%] %s", 100 * f, msg))
    demo = build_ui(engine, settings)
    demo.queue(default_concurrency_limit=settings.concurrency)
    demo.launch(server_name=settings.server_name, server_port=settings.server_port, css=load_css())


if __name__ == "__main__":
    main()
