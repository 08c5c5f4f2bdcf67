"""The streaming runner: interleave several decoder streams and fold their events into views.

A `PanelView` is the small, UI-ready summary of one stream so far. `run_panels` drives one
Engine stream per request round-robin (so panels advance together), folds every event, and
yields snapshots at most every `every_tokens` tokens or `every_ms` milliseconds, plus a final
one. It knows nothing about Gradio; the UI turns views into components.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from backends.decoders import GenerationRequest
from backends.events import Event, Finished, Note, Rewind, Rollout, TokenStep


class StreamSource(Protocol):
    def stream(self, request: GenerationRequest, cancel=None) -> Iterator[Event]: ...


@dataclass
class PanelView:
    """What one panel shows: committed tokens, scored rollouts, notes and the final record."""

    request: GenerationRequest
    tokens: list[TokenStep] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finished: Finished | None = None

    def apply(self, event: Event) -> None:
        if isinstance(event, TokenStep):
            self.tokens.append(event)
        elif isinstance(event, Rollout):
            self.rollouts.append(event)
        elif isinstance(event, Note):
            self.notes.append(event.text)
        elif isinstance(event, Rewind):
            del self.tokens[event.length:]
        elif isinstance(event, Finished):
            self.finished = event

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
    """Yield the list of panel views, throttled; the last yield has every panel finished."""
    views = [PanelView(r) for r in requests]
    streams = [engine.stream(r, cancel) for r in requests]
    pending, last = 0, time.perf_counter()
    for index, event in interleave(streams):
        views[index].apply(event)
        pending += isinstance(event, TokenStep)
        now = time.perf_counter()
        if isinstance(event, Finished | Rollout | Note) or pending >= every_tokens * len(views) \
                or (now - last) * 1e3 >= every_ms:
            yield views
            pending, last = 0, now
    yield views
