"""The Python API for notebooks and scripts: `from backends import api`.

Load a preset's models, run a request and iterate its events, and run an evaluation, without
the command line or the UI. Everything here is a thin, checked door onto the `Engine`
(`backends.engine`), the request (`backends.decoders.GenerationRequest`), the events
(`backends.events`) and the evaluator (`backends.evaluation`); it adds no behaviour of its own.

    >>> from backends import api
    >>> engine = api.engine()                   # models load on first use, then stay cached
    >>> req = api.request("The film was", decoder="args", config={"k": 5, "w": 2.0},
    ...                   rewards={"sentiment": 1.0}, max_new_tokens=6, seed=1)
    >>> events = list(engine.stream(req))       # TokenStep, Rollout, Note ... and Finished last
    >>> finished = events[-1]
    >>> finished.stop_reason in ("max_new_tokens", "eos"), finished.new_tokens <= 6
    (True, True)
    >>> api.text(events) == finished.text       # the token steps spell the final text
    True
    >>> "args" in api.decoders() and api.decoders()["args"]   # name -> the package it came from
    'decoder-playground'

Decoders and rewards of installed plugins (docs/PLUGINS.md) are in `api.decoders()` and
`api.rewards()` and run like the built-in ones.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from backends.decoders import DECODERS, GenerationRequest
from backends.engine import Engine
from backends.evaluation import cli as evaluation_cli
from backends.evaluation.inputs import UsageError, load_preset_file
from backends.events import Event, Finished, TokenStep
from backends.presets import PRESETS, Preset
from backends.rewards import REWARDS

__all__ = ["decoders", "engine", "evaluate", "generate", "preset", "request", "rewards", "stream", "text"]


def engine(device: str = "auto", preset_files: Sequence[str | Path] = ()) -> Engine:
    """An Engine with the built-in presets plus those of `preset_files` (e.g. a trained run's preset.json).

    >>> engine().preset("embedded").policy
    'zoo:tiny-sft'
    """
    presets = dict(PRESETS)
    for path in preset_files:
        loaded = load_preset_file(path)
        presets[loaded.name] = loaded
    made = Engine(device=device, presets=presets)
    _ = made.device  # resolved now: a device this machine lacks fails here, not at the first run
    return made


def preset(name: str = "embedded") -> Preset:
    """A built-in preset by name; an unknown name lists the known ones.

    >>> sorted(preset().reward_models)[:1]
    ['informative']
    """
    if name not in PRESETS:
        raise UsageError(f"preset {name!r}: unknown; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def request(prompt: str, decoder: str = "sampling", config: Mapping[str, Any] | None = None,
            rewards: Mapping[str, float] | None = None, **fields: Any) -> GenerationRequest:
    """A GenerationRequest; the decoder name is checked now, its config when the engine runs it.

    `fields`: the request's other fields (`preset`, `seed`, `max_new_tokens`, `reward_config`,
    `raw_prompt`, `keywords`, `features`).

    >>> request("Hi", decoder="sampling", config={"temperature": 0}).decoder
    'sampling'
    >>> request("Hi", decoder="argz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    backends.registry.UnknownName: unknown decoder 'argz'; choose one of: ... Did you mean 'args'?
    """
    DECODERS.card(decoder)  # an unknown name raises, listing the known ones
    return GenerationRequest(prompt=prompt, decoder=decoder, config=dict(config or {}), rewards=dict(rewards or {}),
                             **fields)


def stream(req: GenerationRequest, on: Engine | None = None) -> Iterator[Event]:
    """The request's events, on `on` (default: a new Engine, which loads the preset's models)."""
    return (on or engine()).stream(req)


def generate(req: GenerationRequest, on: Engine | None = None) -> Finished:
    """Run to the end and return the `Finished` event (its `stop_reason` is "error" on failure)."""
    return (on or engine()).generate(req)


def text(events: Iterable[Event]) -> str:
    """The text the token steps of `events` spell (a partial run's text so far)."""
    return "".join(e.text for e in events if isinstance(e, TokenStep))


def decoders() -> dict[str, str]:
    """Every registered decoder's name -> where it came from (this project or a plugin's package)."""
    return {name: DECODERS.origin(name) for name in DECODERS.names()}


def rewards() -> dict[str, str]:
    """Every registered reward's name -> where it came from."""
    return {name: REWARDS.origin(name) for name in REWARDS.names()}


def evaluate(prompts: str | Path | Sequence[str], decoders: Sequence[str], out: str | Path | None = None, *,
             on: Engine | None = None, quiet: bool = False, **options: Any) -> dict[str, Any]:
    """Run the evaluator (`python -m backends.evaluate`) and return what results.json holds.

    `prompts`: a prompt file, or the prompts themselves. `decoders`: specs as on the command line
    (`"args:w=3,k=5"`). `out`: the run's folder (default: a temporary one; an existing run there
    resumes). `options`: the command's other options by their Python names, e.g.
    `rewards={"sentiment": 1}`, `samples=2`, `limit=8`, `max_new_tokens=32`, `embedder="none"`,
    `compare=("args:w=3", "sampling")` or a list of such pairs.
    A bad argument raises `UsageError` (or `ConfigError`, `UnknownName`) with the command line's
    message. `quiet`: do not print the tables. An interrupted run returns results with
    `res["run"]["complete"]` False; calling again with the same `out` continues it.

    >>> res = evaluate(["The film was"], ["sampling", "args:w=2,k=4"], rewards={"sentiment": 1},
    ...                max_new_tokens=4, embedder="none", on=engine(), quiet=True)
    >>> [d["label"] for d in res["decoders"]], res["run"]["complete"]
    (['sampling', 'args:w=2,k=4'], True)
    """
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="evaluation-"))
    if not isinstance(prompts, str | Path):
        out.mkdir(parents=True, exist_ok=True)
        (out / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
        prompts = out / "prompts.jsonl"
    argv = ["--prompts", str(prompts), "--out", str(out), *_flags(options)]
    for spec in decoders:
        argv += ["--decoder", spec]
    plan = evaluation_cli.make_plan(argv)
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        evaluation_cli.execute(plan, on)
    return json.loads((out / "results.json").read_text())


def _flags(options: Mapping[str, Any]) -> list[str]:
    """Python keyword options as the command line's flags (dicts become NAME=VALUE repeats, a list of
    pairs one flag per pair)."""
    argv = []
    for key, value in options.items():
        flag = "--" + {"rewards": "reward", "reward_settings": "reward-set"}.get(key, key).replace("_", "-")
        if isinstance(value, Mapping):
            for name, v in value.items():
                argv += [flag, f"{name}={v}"]
        elif isinstance(value, list | tuple) and value and all(isinstance(v, list | tuple) for v in value):
            for item in value:  # compare=[(a, b), (c, d)]: the flag once per pair
                argv += [flag, *map(str, item)]
        elif isinstance(value, list | tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv
