"""The streaming runner: run several decoder streams side by side and fold their events into views.

A `PanelView` is the small, UI-ready summary of one stream so far. `run_panels` drives one
Engine stream per request, each in its own worker thread taking fair turns on the device (so a
fast panel runs at its own pace next to a slow one), folds every event, and yields snapshots
at most every `every_tokens` tokens or `every_ms` milliseconds, plus a final one. `Runs` keeps
one cancellation flag per browser session, so Stop, or a second Run, ends the streams in
flight; `session_stream` ties the two together with the models' warm-up. It knows nothing
about Gradio; the UI turns views into components.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from backends.decoders import GenerationRequest
from backends.events import Event, FeatureStep, Finished, Note, Rollout, TokenStep
from playground.loading import warm_with_status

log = logging.getLogger(__name__)


class StreamSource(Protocol):
    def stream(self, request: GenerationRequest, cancel=None) -> Iterator[Event]: ...


class Engine(StreamSource, Protocol):
    def warm(self, preset_name: str, progress=None) -> None: ...


@dataclass
class PanelView:
    """What one panel shows: committed tokens, scored rollouts, notes, feature traces and the final record.

    `features` holds the sparse-autoencoder trace of each committed token, by token index (only
    when the request asked for it). Events of a type this view does not know are ignored.
    """

    request: GenerationRequest
    tokens: list[TokenStep] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    features: dict[int, FeatureStep] = field(default_factory=dict)
    finished: Finished | None = None
    compute_s: float = 0.0  # time spent inside this stream's own steps (not waiting for its neighbours)

    def apply(self, event: Event) -> None:
        if isinstance(event, TokenStep):
            self.tokens.append(event)
        elif isinstance(event, FeatureStep):
            self.features[event.index] = event
        elif isinstance(event, Rollout):
            self.rollouts.append(event)
        elif isinstance(event, Note):
            self.notes.append(event.text)
        elif isinstance(event, Finished):
            self.finished = event

    def feature_steps(self) -> list[FeatureStep]:
        """The feature traces of the tokens still committed, in token order."""
        return [self.features[t.index] for t in self.tokens if t.index in self.features]

    @property
    def text(self) -> str:
        return self.finished.text if self.finished else "".join(t.text for t in self.tokens)

    @property
    def done(self) -> bool:
        return self.finished is not None


class Halted(Exception):
    """Raised in a worker waiting for its turn when the run it belongs to was closed."""


class FairShare:
    """Turns on one device for several streams: the live stream that used the least time goes next.

    Every live stream always wants another step, so the next turn goes to the one with the least
    compute time so far (ties by index); a stream with short steps thus takes many of them while
    a neighbour with long steps takes one, and each gets an equal share of the device. `halt`
    wakes every waiter with `Halted`.
    """

    def __init__(self, streams: int):
        self.used = [0.0] * streams
        self.live = set(range(streams))
        self.busy = False
        self.halted = False
        self.cond = threading.Condition()

    def _mine(self, index: int) -> bool:
        return self.halted or (not self.busy and min(self.live, key=lambda j: (self.used[j], j)) == index)

    @contextmanager
    def turn(self, index: int) -> Iterator[None]:
        with self.cond:
            self.cond.wait_for(lambda: self._mine(index))
            if self.halted:
                raise Halted
            self.busy = True
        started = time.perf_counter()
        try:
            yield
        finally:
            with self.cond:
                self.used[index] += time.perf_counter() - started
                self.busy = False
                self.cond.notify_all()

    def leave(self, index: int) -> None:
        with self.cond:
            self.live.discard(index)
            self.cond.notify_all()

    def halt(self) -> None:
        with self.cond:
            self.halted = True
            self.cond.notify_all()


_DONE = object()  # a worker's last item on the queue


def _work(stream: Iterator[Event], index: int, share: FairShare, out: queue.Queue) -> None:
    """Drive one stream in its own thread: each event, with the seconds spent inside `next`, goes to `out`."""
    try:
        while True:
            with share.turn(index):
                started = time.perf_counter()
                event = next(stream, None)
                spent = time.perf_counter() - started
            if event is None:
                break
            out.put((index, event, spent))
    except Halted:
        pass
    except Exception as e:  # the Engine never raises; anything else still ends the panel with its error
        log.exception("panel %d failed", index)
        out.put((index, Finished(text="", stop_reason="error", error=f"{type(e).__name__}: {e}"), 0.0))
    finally:
        share.leave(index)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        out.put((index, _DONE, 0.0))


def run_panels(engine: StreamSource, requests: Sequence[GenerationRequest], cancel=None,
               every_tokens: int = 4, every_ms: float = 150.0, join_s: float = 5.0) -> Iterator[list[PanelView]]:
    """Yield the list of panel views, throttled; the last yield has every panel finished.

    Each stream runs in its own worker thread, taking turns on the device by `FairShare`, so a
    fast panel is not held to a slow neighbour's pace. A snapshot goes out at the first event, when
    a panel finishes or notes something, when every panel gained `every_tokens` tokens on average,
    or `every_ms` after the last one if anything changed. The same list is yielded each time (the views grow in
    place). Closing this generator halts the workers (each ends after its current step and closes
    its stream) and waits up to `join_s` for them.
    """
    views = [PanelView(r) for r in requests]
    events: queue.Queue = queue.Queue()
    share = FairShare(len(requests))
    workers = [threading.Thread(target=_work, args=(engine.stream(r, cancel), i, share, events), daemon=True,
                                name=f"panel-{i}") for i, r in enumerate(requests)]
    for worker in workers:
        worker.start()
    live, pending, dirty, last = len(workers), 0, False, float("-inf")  # the first event goes out at once
    try:
        while live:
            wait = every_ms / 1e3 - (time.perf_counter() - last)
            try:
                index, event, spent = events.get(timeout=max(wait, 0.0)) if dirty else events.get()
            except queue.Empty:
                index, event, spent = -1, None, 0.0
            if event is _DONE:
                live -= 1
                continue
            if event is not None:
                views[index].apply(event)
                views[index].compute_s += spent
                pending += isinstance(event, TokenStep)
                dirty = True
            if dirty and (isinstance(event, Finished | Note) or pending >= every_tokens * len(views)
                          or (time.perf_counter() - last) * 1e3 >= every_ms):
                yield views
                pending, dirty, last = 0, False, time.perf_counter()
        yield views
    finally:
        share.halt()
        for worker in workers:
            worker.join(join_s)


@dataclass
class Runs:
    """The cancellation flag of the run in flight in each browser session (thread-safe)."""

    flags: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, session: str) -> threading.Event:
        """A fresh flag for a new run; the run still streaming in this session is cancelled."""
        with self.lock:
            old = self.flags.get(session)
            if old is not None:
                old.set()
            self.flags[session] = flag = threading.Event()
            return flag

    def stop(self, session: str) -> None:
        with self.lock:
            if session in self.flags:
                self.flags[session].set()

    def finish(self, session: str, flag: threading.Event) -> None:
        """Forget a run that ended (only if no newer run replaced it)."""
        with self.lock:
            if self.flags.get(session) is flag:
                del self.flags[session]


def session_stream(engine: Engine, runs: Runs, session: str, requests: Sequence[GenerationRequest],
                   every_tokens: int = 4, every_ms: float = 150.0) -> Iterator[tuple[list[PanelView], str]]:
    """One run of a browser session: (views, status message) snapshots.

    Starting cancels the session's previous run (a second Run supersedes the first: each run
    folds into its own views, so neither is corrupted). While the preset's models load, empty
    views with "loading ..." messages go out; then the throttled views of `run_panels`, with the
    message of a failed warm-up kept. Ending for any reason (done, superseded, closed by a
    client that left) sets this run's flag.
    """
    cancel = runs.start(session)
    notice = ""
    try:
        if requests:
            for message, failed in warm_with_status(engine, requests[0].preset):
                notice = message if failed else ""
                yield [PanelView(r) for r in requests], message
        for views in run_panels(engine, requests, cancel, every_tokens, every_ms):
            yield views, notice
    finally:
        cancel.set()
        runs.finish(session, cancel)
