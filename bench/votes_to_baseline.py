"""Close the loop on the embedded zoo: synthetic votes -> DPO and FPO policies -> better decoding.

    python bench/votes_to_baseline.py                       # 320 votes, 150 steps each, 48 eval prompts
    python bench/votes_to_baseline.py --prompts 64 --steps 30 --eval-prompts 16   # a quick look

1. Pairs: two samples of `tiny-sft` (plain sampling, 48 tokens) per training prompt (review
   requests from the corpus generator, disjoint from assets/prompts/reviews.jsonl).
2. Votes: a synthetic annotator who likes positive reviews prefers the reply with the higher
   `tiny-sentiment-rm` score with probability sigmoid(gap / 0.1) (so close pairs are noisy);
   votes are stored in a SQLite Store and exported with `storage.export` (TRL rows), exactly as
   the Arena's votes would be.
3. Training: `python -m backends.train` with `--loss dpo` and `--loss fpo` (same steps and lr), and
   DPO with beta = 1, lr = 2e-4 (the zoo's DPO settings), by default (`--runs`).
4. Evaluation on the review prompt set, `--seeds` samples per prompt: mean sentiment of plain
   sampling from each model, KL to tiny-sft (summed per-token KL along the sample), and FPO's
   feature distance to tiny-sft (tiny-sft-sae features of both models' final residual streams at
   every generated token, mean squared difference on the union of their top-50 features), and the
   share of the samples' word trigrams found in the training corpus (fluency: DPO can drift).
The KL column compares the sampler (temperature 0.8) with tiny-sft at temperature 1, so tiny-sft's
own row is not zero.
Prints a markdown table; `--json` writes the numbers too.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from backends.decoders import GenerationRequest
from backends.devices import set_cpu_threads
from backends.engine import Engine
from backends.events import Finished, TokenStep, to_dict
from backends.presets import PRESETS, format_prompt
from backends.sae import feature_distance
from backends.training import cli as train_cli
from backends.zoo import corpus
from backends.zoo.check import trigram_overlap
from storage.export import export
from storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
ANNOTATOR = "synthetic-positive"


def training_prompts(n: int, seed: int = 31) -> list[str]:
    held_out = {json.loads(line)["prompt"] for line in (ROOT / "assets/prompts/reviews.jsonl").open()}
    prompts: list[str] = []
    for example in corpus.generate(20 * n, seed):
        if example.kind == "review" and example.prompt not in held_out and example.prompt not in prompts \
                and len(example.prompt.split()) < 12:
            prompts.append(example.prompt)
        if len(prompts) == n:
            return prompts
    raise RuntimeError(f"only {len(prompts)} distinct review prompts")


def record(request: GenerationRequest, events: list) -> dict:
    fields = dataclasses.asdict(request)
    fields["keywords"] = list(fields["keywords"])
    return {"request": fields, "trace": [to_dict(e) for e in events]}


_JUDGES: dict[str, object] = {}  # preset name -> its sentiment reward (it does not depend on the prompt)


def sentiment(engine: Engine, preset_name: str, prompt: str, text: str) -> float:
    preset = engine.preset(preset_name)
    lm = engine.language_model(preset.policy)
    if preset_name not in _JUDGES:
        request = GenerationRequest(prompt=prompt, preset=preset_name, rewards={"sentiment": 1.0})
        _JUDGES[preset_name] = engine.build_reward(request, preset, lm)
    return float(_JUDGES[preset_name].score_parts(format_prompt(preset, prompt, lm.tokenizer), [text])[0][0])


def collect_votes(engine: Engine, store: Store, prompts: list[str], max_new: int, temperature: float,
                  seed: int) -> dict:
    rng = random.Random(seed)
    agree, started = 0, time.perf_counter()
    for i, prompt in enumerate(prompts):
        ids, scores = [], []
        for side in range(2):
            request = GenerationRequest(prompt=prompt, decoder="sampling", preset="embedded", seed=1000 * seed + 2 * i
                                        + side, max_new_tokens=max_new)
            events = list(engine.stream(request))
            ids.append(store.save_generation({**record(request, events), "prompt_set": "synthetic-votes"}))
            scores.append(sentiment(engine, "embedded", prompt, events[-1].text))
        battle = store.create_battle(ids[0], ids[1], blind=True, left="a")
        p_left = 1 / (1 + math.exp(-(scores[0] - scores[1]) / temperature))
        choice = "left" if rng.random() < p_left else "right"
        agree += (choice == "left") == (scores[0] >= scores[1])
        store.cast_vote(battle, ANNOTATOR, choice)
        print(f"\rvotes {i + 1}/{len(prompts)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {"votes": len(prompts), "agree_with_rm": agree / len(prompts), "vote_s": time.perf_counter() - started}


@functools.cache
def corpus_replies() -> tuple[str, ...]:
    """Replies of the zoo's training corpus (its first 20,000 examples), for the fluency column."""
    return tuple(e.reply for e in corpus.generate(20_000, 0))


@torch.no_grad()
def evaluate(engine: Engine, name: str, prompts: list[str], seeds: int, max_new: int) -> dict:
    preset = engine.preset(name)
    lm, base = engine.language_model(preset.policy), engine.language_model(preset.base_id)
    sae = engine.sae(PRESETS["embedded"].sae)
    rewards, kls, distances, texts = [], [], [], []
    for i, prompt in enumerate(prompts):
        for s in range(seeds):
            request = GenerationRequest(prompt=prompt, decoder="sampling", preset=name, seed=10_000 + 7 * i + s,
                                        max_new_tokens=max_new)
            events = list(engine.stream(request))
            final: Finished = events[-1]
            assert final.stop_reason != "error", final.error
            tokens = [e.token_id for e in events if isinstance(e, TokenStep)]
            rewards.append(sentiment(engine, name, prompt, final.text))
            texts.append(final.text)
            kls.append(sum(e.kl for e in events if isinstance(e, TokenStep)))
            ids = torch.tensor([lm.encode(format_prompt(preset, prompt, lm.tokenizer)) + tokens])
            start = ids.shape[1] - len(tokens)
            h_model = lm.model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0, start:]
            h_base = base.model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0, start:]
            distances.append(float(feature_distance(sae.encode(h_model), sae.encode(h_base), 50).mean()))
    rng = random.Random(0)
    boot = sorted(statistics.fmean(rng.choices(rewards, k=len(rewards))) for _ in range(1000))
    return {"sentiment": statistics.fmean(rewards), "ci": (boot[25], boot[974]), "kl": statistics.fmean(kls),
            "feature_distance": statistics.fmean(distances),
            "trigrams_in_corpus": trigram_overlap(texts, corpus_replies()), "samples": len(rewards)}


def train_runs(args: argparse.Namespace, work: Path, engine: Engine) -> tuple[dict, dict] | int:
    """Train every --runs entry on the exported rows; its preset joins the engine. An exit code on failure."""
    train_s, labels = {}, {"embedded": "tiny-sft"}
    for spec in args.runs.split(";"):
        loss, _, extra = spec.partition(":")
        options = [f"--{k.replace('_', '-')}={v}" for k, v in (kv.split("=", 1) for kv in extra.split(",") if kv)]
        folder = spec.replace(":", "-").replace(",", "-").replace("=", "")
        code = train_cli.main(["--data", str(work / "prefs.jsonl"), "--loss", loss, "--base", "zoo:tiny-sft",
                               "--out", str(work / folder), "--steps", str(args.steps), "--lr", str(args.lr),
                               "--batch-size", str(args.batch_size), *options])
        if code != 0:
            return code
        train_s[spec] = json.loads((work / folder / "metrics.json").read_text())["train_s_this_session"]
        labels[f"trained-{folder}"] = loss.upper() + (f" ({extra})" if extra else "")
        engine.presets[f"trained-{folder}"] = dataclasses.replace(
            PRESETS["embedded"], name=f"trained-{folder}", policy=str(work / folder), base="zoo:tiny-sft")
    return train_s, labels


def print_table(args: argparse.Namespace, votes: dict, rows: int, results: dict, train_s: dict, labels: dict) -> None:
    """The markdown table of the README: one row per policy."""
    base = results["embedded"]["sentiment"]
    print(f"{votes['votes']} synthetic votes ({rows} decisive TRL rows; the annotator agrees with the reward "
          f"model on {votes['agree_with_rm']:.0%}), {args.steps} steps each (lr {args.lr}, default beta unless "
          f"given); {results['embedded']['samples']} samples per model ({args.eval_prompts} review prompts x "
          f"{args.seeds} seeds, {args.max_new_tokens} tokens)\n")
    print("| policy | mean sentiment (95% CI) | gain over tiny-sft | KL to tiny-sft | feature distance "
          "| trigrams in corpus | train s |")
    print("|---|---|---|---|---|---|---|")
    for name, label in labels.items():
        r = results[name]
        lo, hi = r["ci"]
        spec = next((s for s in train_s if f"trained-{s.replace(':', '-').replace(',', '-').replace('=', '')}"
                     == name), None)
        seconds = "" if spec is None else f"{train_s[spec]:.0f}"
        print(f"| {label} | {r['sentiment']:.3f} ({lo:.3f}-{hi:.3f}) | {r['sentiment'] - base:+.3f} | {r['kl']:.2f} "
              f"| {r['feature_distance']:.4f} | {r['trigrams_in_corpus']:.1%} | {seconds} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prompts", type=int, default=320, help="training prompts (one vote each)")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--eval-prompts", type=int, default=48)
    p.add_argument("--seeds", type=int, default=2, help="samples per evaluation prompt")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--vote-temperature", type=float, default=0.1, help="noise of the synthetic annotator")
    p.add_argument("--runs", default="dpo;fpo;dpo:beta=1,lr=2e-4",
                   help="training runs, `;`-separated: LOSS[:option=value,...] (options of backends.train)")
    p.add_argument("--out", default=None, help="keep the database, rows and models here (a rerun reuses them)")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    args = p.parse_args(argv)
    set_cpu_threads("auto", torch.device("cpu"))
    work = Path(args.out or tempfile.mkdtemp(prefix="votes-to-baseline-"))
    work.mkdir(parents=True, exist_ok=True)
    engine = Engine(device="cpu")
    with Store.open(f"sqlite:///{work / 'votes.db'}") as store:
        if not store.counts().get("votes"):
            votes = collect_votes(engine, store, training_prompts(args.prompts), args.max_new_tokens,
                                  args.vote_temperature, seed=1)
        else:
            votes = {"votes": store.counts()["votes"], "agree_with_rm": float("nan"), "vote_s": 0.0}
        rows = export(store, "dpo", work / "prefs.jsonl")
    results: dict[str, dict] = {}
    trained = train_runs(args, work, engine)
    if isinstance(trained, int):
        return trained
    train_s, labels = trained
    eval_prompts = [json.loads(line)["prompt"] for line in (ROOT / "assets/prompts/reviews.jsonl").open()]
    eval_prompts = eval_prompts[: args.eval_prompts]
    for name in labels:
        results[name] = evaluate(engine, name, eval_prompts, args.seeds, args.max_new_tokens)
        print(f"evaluated {name}", file=sys.stderr)
    print_table(args, votes, rows, results, train_s, labels)
    if args.json:
        Path(args.json).write_text(json.dumps({"votes": votes, "rows": rows, "results": results,
                                               "train_s": train_s, "args": vars(args)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
