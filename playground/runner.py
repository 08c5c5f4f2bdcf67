"""The streaming runner: interleave several decoder streams and fold their events into views.

A `PanelView` is the small, UI-ready summary of one stream so far. `run_panels` drives one
Engine stream per request round-robin (so panels advance together), folds every event, and
yields snapshots at most every `every_tokens` tokens or `every_ms` milliseconds, plus a final
one. `Runs` keeps one cancellation flag per browser session, so Stop, or a second Run, ends
the streams in flight; `session_stream` ties the two together with the models' warm-up. It
knows nothing about Gradio; the UI turns views into components.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from backends.decoders import GenerationRequest
from backends.events import Event, FeatureStep, Finished, Note, Rewind, Rollout, TokenStep
from playground.loading import warm_with_status


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

    def apply(self, event: Event) -> None:
        if isinstance(event, TokenStep):
            self.tokens.append(event)
        elif isinstance(event, FeatureStep):
            self.features[event.index] = event
        elif isinstance(event, Rollout):
            self.rollouts.append(event)
        elif isinstance(event, Note):
            self.notes.append(event.text)
        elif isinstance(event, Rewind):
            del self.tokens[event.length:]
            self.features = {i: f for i, f in self.features.items() if i < event.length}
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


def interleave(streams: Sequence[Iterator[Event]]) -> Iterator[tuple[int, Event]]:
    """Round-robin over the streams, one event each turn, until all are exhausted."""
    live = dict(enumerate(streams))
    while live:
        for index in list(live):
            event = next(live[index], None)
            if event is None:
                del live[index]
            else:
                yield index, event


def run_panels(engine: StreamSource, requests: Sequence[GenerationRequest], cancel=None,
               every_tokens: int = 4, every_ms: float = 150.0) -> Iterator[list[PanelView]]:
    """Yield the list of panel views, throttled; the last yield has every panel finished.

    A snapshot goes out when a panel finishes or notes something, when every panel gained
    `every_tokens` tokens on average, or `every_ms` after the last one. The same list is yielded
    each time (the views grow in place); closing this generator closes the engine streams.
    """
    views = [PanelView(r) for r in requests]
    streams = [engine.stream(r, cancel) for r in requests]
    pending, last = 0, time.perf_counter()
    try:
        for index, event in interleave(streams):
            views[index].apply(event)
            pending += isinstance(event, TokenStep)
            now = time.perf_counter()
            if isinstance(event, Finished | Note) or pending >= every_tokens * len(views) \
                    or (now - last) * 1e3 >= every_ms:
                yield views
                pending, last = 0, time.perf_counter()
        yield views
    finally:
        for stream in streams:
            close = getattr(stream, "close", None)
            if close is not None:
                close()


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
