"""ZeroGPU on a Hugging Face Space, nothing elsewhere: `on_accelerator` wraps the decoding function.

When the `spaces` package is importable (it is on a Space) the function is wrapped in
`spaces.GPU`, which attaches a GPU for the duration of each call; otherwise it is returned
unchanged. Nothing here decides what runs on the GPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


def on_accelerator(fn: F, duration: int | None = None) -> F:
    """`spaces.GPU(fn)` (with a `duration` in seconds when given) if `spaces` exists, else `fn`."""
    try:
        spaces = importlib.import_module("spaces")
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn) if duration else spaces.GPU(fn)
