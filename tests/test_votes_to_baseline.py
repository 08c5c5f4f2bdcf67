"""The loop on the embedded zoo: generations -> blind battles -> synthetic votes in a Store ->
`storage.export` TRL rows -> `python -m backends.train` -> preset.json -> Transfer Q* decoding
with the new baseline. The synthetic annotator prefers the reply the sentiment model scores
higher; the trained model must then prefer the chosen replies more than tiny-sft does, sample
more positive replies to held-out prompts, and be the model behind TQ*'s rollouts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from backends.decoders import GenerationRequest
from backends.engine import Engine
from backends.evaluation.inputs import load_preset_file
from backends.events import Rollout, to_dict
from backends.lm import sequence_logprobs
from backends.presets import format_prompt
from backends.training import cli as train_cli
from backends.zoo import corpus
from storage.export import export
from storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [e.prompt for e in corpus.generate(400, 77) if e.kind == "review"][:24]


def _record(request: GenerationRequest, events: list) -> dict:
    fields = {**request.__dict__, "keywords": list(request.keywords)}
    return {"request": fields, "trace": [to_dict(e) for e in events], "prompt_set": "synthetic"}


def test_votes_train_a_baseline_that_transfer_q_star_decodes_with(tmp_path):
    engine = Engine(device="cpu")
    preset = engine.preset("embedded")
    lm = engine.language_model(preset.policy)
    judge = engine.build_reward(GenerationRequest(prompt="x", rewards={"sentiment": 1.0}), preset, lm)
    with Store.open(f"sqlite:///{tmp_path / 'votes.db'}") as store:
        for i, prompt in enumerate(PROMPTS):
            ids, scores = [], []
            for side in range(2):
                request = GenerationRequest(prompt=prompt, seed=2 * i + side, max_new_tokens=24)
                events = list(engine.stream(request))
                ids.append(store.save_generation(_record(request, events)))
                context = format_prompt(preset, prompt, lm.tokenizer)
                scores.append(float(judge.score_parts(context, [events[-1].text])[0][0]))
            battle = store.create_battle(ids[0], ids[1], blind=True, left="b")  # the left reply is b
            store.cast_vote(battle, "synthetic-annotator", "left" if scores[1] > scores[0] else "right")
        rows = export(store, "dpo", tmp_path / "prefs.jsonl")
    assert rows == len(PROMPTS)
    data = [json.loads(line) for line in (tmp_path / "prefs.jsonl").read_text().splitlines()]

    out = tmp_path / "dpo"
    assert train_cli.main(["--data", str(tmp_path / "prefs.jsonl"), "--loss", "dpo", "--base", "zoo:tiny-sft",
                           "--out", str(out), "--steps", "25", "--batch-size", "8", "--lr", "1e-3"]) == 0

    trained = load_preset_file(out / "preset.json")
    assert trained.baseline == str(out.resolve()) and trained.policy == preset.policy
    engine.presets[trained.name] = trained
    rho = engine.language_model(trained.baseline)

    def margins(model) -> torch.Tensor:  # log p(chosen) - log p(rejected), per row
        out_ = []
        for row in data:
            prompt_ids = lm.encode(format_prompt(preset, row["prompt"], lm.tokenizer))
            lp = sequence_logprobs(model, prompt_ids, [lm.encode(row["chosen"]), lm.encode(row["rejected"])])
            out_.append(lp[0] - lp[1])
        return torch.stack(out_)

    gained = margins(rho) - margins(lm)
    assert float((gained > 0).float().mean()) > 0.8, gained  # the votes moved the model toward the chosen replies

    # better decoding: plain sampling from the trained model, on held-out review prompts, is more positive
    engine.presets["trained-policy"] = dataclasses.replace(preset, name="trained-policy", policy=trained.baseline,
                                                           base=preset.policy)
    held_out = [json.loads(line)["prompt"] for line in (ROOT / "assets/prompts/reviews.jsonl").open()][:16]

    def mean_sentiment(name: str) -> float:
        texts = [engine.generate(GenerationRequest(prompt=p, preset=name, seed=i, max_new_tokens=32)).text
                 for i, p in enumerate(held_out)]
        return sum(float(judge.score_parts(format_prompt(preset, p, lm.tokenizer), [t])[0][0])
                   for p, t in zip(held_out, texts, strict=True)) / len(texts)

    assert mean_sentiment("trained-policy") > mean_sentiment("embedded") + 0.1

    request = GenerationRequest(prompt=PROMPTS[0], decoder="tqstar", config={"k": 3, "rollout_len": 4},
                                rewards={"sentiment": 1.0}, preset=trained.name, max_new_tokens=8)
    events = list(engine.stream(request))
    final = events[-1]
    assert final.stop_reason in ("eos", "max_new_tokens"), final.error
    rollouts = [e for e in events if isinstance(e, Rollout) and e.step == 0]
    assert len(rollouts) == 3 and final.new_tokens >= 1
    prompt_ids = lm.encode(format_prompt(preset, PROMPTS[0], lm.tokenizer))
    for r in rollouts:  # each is the trained baseline's greedy continuation of prompt + candidate
        ids = [*prompt_ids, r.candidate]
        with torch.no_grad():
            for _ in range(r.length - 1):
                ids.append(int(rho.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
        assert r.text == lm.decode(ids[len(prompt_ids):]), r
