"""Hand-made event lists and a fake engine for the playground's tests (no models, no torch work)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from backends.decoders import GenerationRequest
from backends.events import Candidate, Cost, Event, FeatureStep, Finished, Note, Rollout, TokenStep
from backends.presets import Preset
from backends.rewards import RewardModelRef
from playground.runner import PanelView


def step(index: int, token_id: int, text: str | None = None, reward: float | None = 0.5, kl: float = 0.1,
         value: float | None = None, candidates: Sequence[Candidate] = (), **kw) -> TokenStep:
    return TokenStep(index=index, token_id=token_id, text=f"t{token_id} " if text is None else text,
                     logprob_base=-1.0, logprob_decoder=-0.5, reward=reward,
                     reward_parts={} if reward is None else {"sentiment": reward}, value=value, kl=kl,
                     entropy=2.0, candidates=tuple(candidates), cost=Cost(3, 2, 10.0), **kw)


def features(index: int, distance: float, base_token: int = 0, base_text: str = "b", overlap: float = 0.5,
             mine: Sequence[int] = (3, 1, 4), theirs: Sequence[int] = (1, 5, 9)) -> FeatureStep:
    """The feature trace of token `index`: top features `mine` against the base's `theirs`."""
    return FeatureStep(index=index, features=list(mine), activations=[2.0 - 0.5 * i for i in range(len(mine))],
                       base_token=base_token, base_text=base_text, base_features=list(theirs),
                       base_activations=[1.5 - 0.25 * i for i in range(len(theirs))], distance=distance,
                       overlap=overlap, k=8)


def finished(steps: Sequence[TokenStep], reward: float | None = 0.7, stop: str = "max_new_tokens",
             error: str | None = None) -> Finished:
    return Finished(text="".join(s.text for s in steps), stop_reason=stop, reward=reward,
                    reward_parts={} if reward is None else {"sentiment": reward},
                    cost=Cost(3 * len(steps), 2 * len(steps), 10.0 * len(steps)), new_tokens=len(steps),
                    elapsed_s=0.01 * len(steps), seed=0, error=error)


def events_for(ids: Sequence[int], rewards: Sequence[float] | None = None) -> list[Event]:
    steps = [step(i, t, reward=None if rewards is None else rewards[i]) for i, t in enumerate(ids)]
    return [*steps, finished(steps)]


def view(ids: Sequence[int], decoder: str = "sampling", done: bool = True, **request) -> PanelView:
    v = PanelView(GenerationRequest(prompt="p", decoder=decoder, **request))
    events = events_for(ids)
    for e in events if done else events[:-1]:
        v.apply(e)
    return v


def rollouts_at(step_index: int, candidates: Sequence[int], kept: int) -> list[Rollout]:
    return [Rollout(group=step_index, index=0, text=f"rollout after {c}", reward=0.1 * c, step=step_index,
                    candidate=c, kept=c == kept) for c in candidates]


class FakeEngine:
    """Streams hand-made events per decoder name; honours `cancel` between events like the Engine.

    `delay` seconds pass before each event; `warm_delay` before `warm` returns (or `warm_error`
    is raised). Decoder "boom" yields one token, then an error, as the Engine reports failures.
    """

    def __init__(self, scripts: dict[str, list[Event]], delay: float = 0.0, warm_delay: float = 0.0,
                 warm_error: Exception | None = None):
        self.scripts, self.delay, self.warm_delay, self.warm_error = scripts, delay, warm_delay, warm_error
        self.warmed: list[str] = []

    def warm(self, preset_name: str, progress=None) -> None:
        if progress:
            progress(0.0, "loading policy model tiny")
        time.sleep(self.warm_delay)
        if self.warm_error is not None:
            raise self.warm_error
        self.warmed.append(preset_name)
        if progress:
            progress(1.0, "ready")

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        produced: list[TokenStep] = []
        for event in self.scripts[request.decoder]:
            time.sleep(self.delay)
            if cancel is not None and cancel.is_set():
                yield finished(produced, stop="cancelled")
                return
            if isinstance(event, TokenStep):
                produced.append(event)
            yield event


def scripts() -> dict[str, list[Event]]:
    """sampling: 6 tokens; args: 4 tokens with a note; boom: fails after one token."""
    first = step(0, 1)
    return {
        "sampling": events_for([1, 2, 3, 4, 5, 6]),
        "args": [Note("a note"), *events_for([1, 2, 9, 9])],
        "boom": [first, finished([first], reward=None, stop="error", error="RuntimeError: boom")],
    }


class PresetEngine(FakeEngine):
    """A fake engine that also answers what the UI asks of presets (one, "fake")."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.presets = {"fake": Preset(name="fake", description="tiny", policy="p", default_rewards={"sentiment": 1.0},
                                       reward_models={"sentiment": RewardModelRef("rm")})}

    def preset(self, name: str) -> Preset:
        return self.presets[name]
