"""Start threads at one moment and time them to the last: the voters of bench/votes.py and its app mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence


def started_together(target: Callable[..., None], arg_lists: Sequence[tuple]) -> float:
    """Run `target(*args, barrier)` for each `args` in its own thread, all released by one barrier;
    the wall seconds from the release until the last one ended."""
    start = threading.Barrier(len(arg_lists) + 1)
    threads = [threading.Thread(target=target, args=(*args, start)) for args in arg_lists]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began
