"""Progress while models load: logged percentages at start-up, "loading model X..." in the UI.

`warm_at_startup` loads a preset's models once the app serves its page, logging each step and turning a
failure into a warning (the panels then show the error of the model that cannot load; the app
still starts). `warm_with_status` loads them in a worker thread during a run and yields status
lines only when loading actually takes time. Nothing here renders or streams tokens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from backends.evaluation import UsageError, load_preset_file
from backends.presets import PRESETS, Preset

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
# How warm_at_startup's last line starts (benches and tests wait for one of them).
LOADED_MARK, FAILED_MARK = "models of preset", "could not load every model of preset"


class Warmable(Protocol):
    def warm(self, preset_name: str, progress: Progress | None = None) -> None: ...


def load_presets(files: Sequence[str]) -> dict[str, Preset]:
    """The built-in presets plus those in `files` (JSON); a file that cannot be read is logged and skipped."""
    presets = dict(PRESETS)
    for path in files:
        try:
            preset = load_preset_file(path)
        except UsageError as e:
            log.error("PLAYGROUND_PRESET_FILES: %s (skipped)", e)
            continue
        presets[preset.name] = preset
        log.info("preset %r from %s", preset.name, path)
    return presets


def warm_at_startup(engine: Warmable, preset: str) -> bool:
    """Load every model of `preset`, logging `[ 50%] loading ...`; False (logged) when one fails."""
    start = time.perf_counter()
    try:
        engine.warm(preset, progress=lambda f, msg: log.info("[%3.0f%%] %s", 100 * f, msg))
    except Exception as e:  # the UI reports it per panel; the app must still come up
        log.warning(f"{FAILED_MARK} %r: %s", preset, e)
        return False
    log.info(f"{LOADED_MARK} %r loaded in %.1f s", preset, time.perf_counter() - start)
    return True


class _Latest:
    """The last progress message of a warm-up, written by its worker thread."""

    def __init__(self) -> None:
        self.message = "loading models..."
        self.error: Exception | None = None

    def __call__(self, fraction: float, message: str) -> None:
        self.message = f"{message}... ({100 * fraction:.0f}%)"


def warm_with_status(engine: Warmable, preset: str, grace_s: float = 0.3, poll_s: float = 0.25
                     ) -> Iterator[tuple[str, bool]]:
    """Load the preset's models; yield (status line, failed) whenever the line changes after `grace_s`.

    Models already cached load instantly, so nothing is yielded then. A failure yields one line
    naming it (failed=True) and returns: the run goes on and each panel reports the model it
    could not load.
    """
    latest = _Latest()

    def work() -> None:
        try:
            engine.warm(preset, progress=latest)
        except Exception as e:  # reported below, per run
            latest.error = e

    worker = threading.Thread(target=work, name=f"warm-{preset}", daemon=True)
    worker.start()
    worker.join(grace_s)
    shown = None
    while worker.is_alive():
        if latest.message != shown:
            shown = latest.message
            yield shown, False
        worker.join(poll_s)
    if latest.error is not None:
        log.warning("preset %r: %s", preset, latest.error)
        yield f"could not load every model of preset {preset!r}: {latest.error}", True
