"""One rank's share of an evaluation: build each request, stream it, judge it, append the record.

A record is one generation as a plain dict: key (label, prompt index, sample), the seed, the
request (`dataclasses.asdict(GenerationRequest)`), the decoder's full config, the trace
(`to_dict` of every event) and `eval`, the metrics the summary reads (reward and parts under
the run's reward, diversity, coherence, KL, log ratio, length, cost, time). The seed depends
only on the run seed, the prompt index and the sample, never on the rank, so any split of the
prompts gives the same texts. The `Judge` scores texts after the fact; its work is not counted
in the decoder's cost. Not the CLI, the files' layout or the statistics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from backends.decoders import DECODERS, GenerationRequest
from backends.evaluation import metrics
from backends.evaluation.inputs import DecoderSpec, Prompt, RunSettings, UsageError
from backends.evaluation.output_format import checked
from backends.evaluation.sharding import JsonlWriter, Key, Processes, record_key
from backends.events import TokenStep, to_dict
from backends.presets import Preset, format_prompt
from backends.rewards import WeightedReward

log = logging.getLogger(__name__)
SEED_STRIDE = 100_003  # > any --samples, so (prompt, sample) -> seed is one-to-one
NOTES = ("unguided decoders (sampling) run without the reward; every text is scored afterwards by the run's reward",
         "tokens/s counts decoding time only (the Finished event's elapsed time), not loading or judging")


def seed_for(run_seed: int, prompt_index: int, sample: int) -> int:
    return run_seed + prompt_index * SEED_STRIDE + sample


def _reward_config(settings: RunSettings, prompt: Prompt) -> dict[str, dict[str, str]]:
    """The run's reward settings; the prompt's preference fills an unset `preference` reward."""
    config = {name: dict(values) for name, values in settings.reward_config.items()}
    pref = config.get("preference", {})
    if "preference" in settings.rewards and prompt.preference and not (pref.get("preference") or pref.get("exemplars")):
        config["preference"] = {**pref, "preference": prompt.preference}
    return config


def make_request(spec: DecoderSpec, prompt: Prompt, sample: int, settings: RunSettings) -> GenerationRequest:
    """The request for one (configuration, prompt, sample); unguided decoders get no reward."""
    config = dict(spec.config)
    if spec.decoder == "prs" and "preference" not in config and prompt.preference:
        config["preference"] = prompt.preference
    guided = DECODERS.card(spec.decoder).needs_reward
    return GenerationRequest(
        prompt=prompt.text, decoder=spec.decoder, config=config, rewards=dict(settings.rewards) if guided else {},
        reward_config=_reward_config(settings, prompt) if guided else {}, preset=settings.preset,
        seed=seed_for(settings.seed, prompt.index, sample), max_new_tokens=settings.max_new_tokens,
        keywords=prompt.keywords)


def request_dict(request: GenerationRequest) -> dict[str, Any]:
    """The request as stored (JSON types: tuples become lists), for comparing with a stored one."""
    return json.loads(json.dumps(dataclasses.asdict(request)))


class Judge:
    """Scores finished texts under the run's weighted reward and embeds them for coherence."""

    def __init__(self, engine, preset: Preset, settings: RunSettings, embedder_id: str | None):
        self.engine, self.preset, self.settings = engine, preset, settings
        self.lm = engine.language_model(preset.policy)
        self._rewards: dict[int, WeightedReward | None] = {}
        self._prompt_vecs: dict[int, torch.Tensor] = {}
        self.embedder, self.coherence_note = None, "coherence: not computed (--embedder none)"
        if embedder_id and embedder_id.lower() != "none":
            self._load_embedder(embedder_id)

    def _load_embedder(self, model_id: str) -> None:
        try:
            self.embedder = self.engine.embedder(model_id)
            self.coherence_note = f"coherence: cosine of {model_id} sentence embeddings of prompt and continuation"
        except Exception as e:  # no embedder is a note, not a failed evaluation
            why = str(e).splitlines()[0].split(". ")[0][:200]
            self.coherence_note = (f"coherence skipped: sentence-embedding model {model_id!r} is not available "
                                   f"({why}); pass --embedder PATH to a local encoder")

    def check(self, prompts: list[Prompt]) -> None:
        """Build the judge for every prompt now, so a bad reward setting fails before any generation."""
        for prompt in prompts:
            self.reward(prompt)

    def reward(self, prompt: Prompt) -> WeightedReward | None:
        if prompt.index not in self._rewards:
            request = GenerationRequest(prompt=prompt.text, rewards=self.settings.rewards, preset=self.preset.name,
                                        reward_config=_reward_config(self.settings, prompt), keywords=prompt.keywords)
            self._rewards[prompt.index] = self.engine.build_reward(request, self.preset, self.lm)
        return self._rewards[prompt.index]

    def coherence(self, prompt: Prompt, text: str) -> float | None:
        if self.embedder is None:
            return None
        if prompt.index not in self._prompt_vecs:
            self._prompt_vecs[prompt.index] = self.embedder.embed([prompt.text])  # (1, D)
        return metrics.cosine_rows(self._prompt_vecs[prompt.index], self.embedder.embed([text]))[0]

    def evaluate(self, prompt: Prompt, trace: list[dict[str, Any]], first_token_s: float | None) -> dict[str, Any]:
        """The metrics of one generation, read from its trace (the last event is `finished`)."""
        final = trace[-1]
        cost = final.get("cost") or {}
        out: dict[str, Any] = {"length": final.get("new_tokens", 0), "elapsed_s": final.get("elapsed_s", 0.0),
                               "lm_tokens": cost.get("lm_tokens", 0), "reward_tokens": cost.get("reward_tokens", 0),
                               "first_token_s": first_token_s, **metrics.sequence_kl(trace)}
        if final["stop_reason"] == "error":
            return out
        text = final["text"]
        judge = self.reward(prompt)
        if judge is not None:
            total, parts = judge.score_parts(format_prompt(self.preset, prompt.text, self.lm.tokenizer), [text])
            out["reward"], out["reward_parts"] = float(total[0]), {k: float(v[0]) for k, v in parts.items()}
        out["diversity"] = metrics.diversity(text)
        out["coherence"] = self.coherence(prompt, text)
        return out


def generate_record(engine, judge: Judge, spec: DecoderSpec, prompt: Prompt, sample: int,
                    settings: RunSettings, rank: int) -> dict[str, Any]:
    """Run one generation to its end and return its record."""
    request = make_request(spec, prompt, sample, settings)
    trace, first, start = [], None, time.perf_counter()
    for event in engine.stream(request):
        if first is None and isinstance(event, TokenStep):
            first = time.perf_counter() - start
        trace.append(to_dict(event))
    final = trace[-1]
    preset = judge.preset
    return checked({
        "label": spec.label, "decoder": spec.decoder, "prompt_index": prompt.index, "sample": sample,
        "seed": request.seed, "prompt": prompt.text, "tags": list(prompt.tags), "sweep_key": spec.sweep_key,
        "sweep_value": spec.sweep_value, "config": final.get("config") or {"decoder": spec.decoder, **spec.config},
        "request": request_dict(request), "text": final["text"], "stop_reason": final["stop_reason"],
        "error": final.get("error"), "rank": rank,
        "model_ids": {"policy": preset.policy, "base": preset.base_id, "baseline": preset.baseline,
                      **{f"reward:{k}": ref.model for k, ref in preset.reward_models.items()}},
        "eval": judge.evaluate(prompt, trace, first), "trace": trace,
    })


def check_resume(done: dict[Key, dict[str, Any]], specs: list[DecoderSpec], prompts: list[Prompt],
                 settings: RunSettings) -> None:
    """A finished key may be skipped only if it was generated from the same request."""
    for spec in specs:
        for prompt in prompts:
            for sample in range(settings.samples):
                old = done.get((spec.label, prompt.index, sample))
                new = request_dict(make_request(spec, prompt, sample, settings))
                if old is not None and old.get("request") != new:
                    changed = sorted(k for k in new if old.get("request", {}).get(k) != new[k])
                    raise UsageError(f"the output folder already holds {spec.label!r} on prompt {prompt.index} "
                                     f"sample {sample} made with other settings ({', '.join(changed)}); "
                                     "rerun with the same arguments to resume, or choose a new --out")


def run_shard(engine, judge: Judge, specs: list[DecoderSpec], prompts: list[Prompt], settings: RunSettings,
              procs: Processes, writer: JsonlWriter, done: set[Key],
              on_record: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Generate this rank's missing (configuration, prompt, sample) keys; returns how many it made."""
    mine = [prompts[i] for i in procs.split(range(len(prompts)))]
    made = 0
    for spec in specs:
        work = [(p, s) for p in mine for s in range(settings.samples)]
        todo = [(p, s) for p, s in work if (spec.label, p.index, s) not in done]
        desc = spec.label if procs.count == 1 else f"{spec.label} [rank {procs.index}]"
        with tqdm(total=len(work), initial=len(work) - len(todo), desc=desc, file=sys.stderr,
                  position=procs.index, leave=True, mininterval=0.5) as bar:
            for prompt, sample in todo:
                record = generate_record(engine, judge, spec, prompt, sample, settings, procs.index)
                writer.write(record)
                done.add(record_key(record))
                made += 1
                bar.update(1)
                if on_record is not None:
                    on_record(record)
    return made
