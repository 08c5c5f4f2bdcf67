"""Official decoding loops against ours, side by side in one process: CPU time per generated token.

    python bench/peers.py                       # ARGS, RAD, TQ* direct, best-of-N at every size
    python bench/peers.py --quick               # fewer sizes
    python bench/peers.py --decoders args,rad --repeats 3

The official designs are ported in bench/_peers_official.py (deeplearning-wisc/args greedy loop,
r-three/RAD's logits processor under `generate`, Transfer-Q's direct loop, `generate(
num_return_sequences=N)` + scoring); ours run through `Engine.stream` with the same k, weight,
N and rollout length. Both sides use one torch thread and `time.process_time`; each cell is run
`--repeats` times with the same seed, alternating sides, and the fastest run of each side counts.
Models: a TIMING COPY of the embedded zoo (policy tiny-sft, baseline tiny-dpo-sentiment, reward
tiny-sentiment-rm) whose position table is tiled to 1024 rows, built in a temp dir at start
(bench/_peers_setup.py), so 16/64/512-token prompts fit. The greedy official loops (ARGS, TQ*)
never stop at EOS; they run for as many tokens as ours produced (same tokens, same positions).
Best-of-N divides by decoding steps (the longest sample), RAD by the tokens each side generated.

Printed: the table, the check that the official ARGS loop and ours give the same tokens on the
real zoo with the same (raw, when ours can read it) reward scale, and a final `key=value` line.
ratio = official / ours CPU time per token: above 1, ours is faster. Bars are the issue 13's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers

from backends.decoders import GenerationRequest
from backends.engine import Engine
from backends.events import Finished, Rollout, TokenStep
from backends.presets import PRESETS
from bench import _peers_official as official
from bench._peers_setup import exact_prompt, official_models, our_config, raw_scale, timing_copy, timing_preset

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((16, 32), (16, 128), (64, 32), (64, 128), (512, 32))
QUICK_SIZES = ((16, 32), (64, 32), (512, 16))
SETTINGS = {  # the official scripts' shapes: ARGS k=10 w=1.5 greedy, RAD k=20 beta=10, TQ* k=10 L=20, N=8
    "args": {"k": 10, "w": 1.5}, "rad": {"k": 20, "beta": 10.0},
    "tqstar": {"k": 10, "lam": 1.0, "rollout_len": 20}, "best_of_n": {"n": 8},
}
BARS = {"args": 1.1, "rad": 1.3, "best_of_n": 1.0}
TQ_BARS = {64: 1.5, 512: 3.0}


@dataclass
class Run:
    cpu: float = float("inf")
    tokens: int = 0
    minflt: int = 0
    ids: list[int] = field(default_factory=list)

    @property
    def per_token(self) -> float:
        return self.cpu / max(self.tokens, 1)


def timed(fn) -> tuple[float, int, object]:
    """(CPU seconds, minor page faults, result) of fn()."""
    f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
    out = fn()
    return time.process_time() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0, out


def stream_ours(engine: Engine, request: GenerationRequest) -> tuple[list[int], list[Rollout]]:
    ids, rollouts, final = [], [], None
    for event in engine.stream(request):
        if isinstance(event, TokenStep):
            ids.append(event.token_id)
        elif isinstance(event, Rollout):
            rollouts.append(event)
        elif isinstance(event, Finished):
            final = event
    if final is None or final.stop_reason == "error":
        raise RuntimeError(f"ours ({request.decoder}) failed: {getattr(final, 'error', 'no Finished event')}")
    return ids, rollouts


def bon_steps(engine: Engine, preset: str, rollouts: list[Rollout], max_new: int) -> int:
    """Decoding steps ours ran for best-of-N: its longest sample (EOS counted)."""
    tok = engine.language_model(engine.preset(preset).policy).tokenizer
    def length(r: Rollout) -> int:
        return r.length if r.length else min(max_new, len(tok(r.text, add_special_tokens=False)["input_ids"]) + 1)
    return max((length(r) for r in rollouts), default=0)


class Side:
    """Both sides of one decoder: `ours(...)` and `official(...)` return (ids, tokens to divide by)."""

    def __init__(self, name: str, engine: Engine, preset: str, models: dict, notes: list[str]):
        self.name, self.engine, self.preset, self.m = name, engine, preset, models
        wanted = dict(SETTINGS[name])
        self.extra, self.reward_config, self.scale = raw_scale(name) if name in ("args", "tqstar") else ({}, {}, "")
        self.config, missed = our_config(name, wanted)
        self.config.update(self.extra)
        notes.extend(missed)

    def ours(self, prompt_text: str, max_new: int, seed: int) -> tuple[list[int], int]:
        req = GenerationRequest(prompt=prompt_text, decoder=self.name, config=self.config, rewards={"sentiment": 1.0},
                                reward_config=self.reward_config, preset=self.preset, seed=seed,
                                max_new_tokens=max_new, raw_prompt=True)
        ids, rollouts = stream_ours(self.engine, req)
        if self.name == "best_of_n":
            return ids, bon_steps(self.engine, self.preset, rollouts, max_new)
        return ids, len(ids)

    def official(self, prompt_ids: list[int], max_new: int, seed: int) -> tuple[list[int], int]:
        m, s = self.m, SETTINGS[self.name]
        squash = self.scale == "squashed"
        if self.name == "args":
            ids = official.args_greedy(m["lm"], m["rm"], prompt_ids, s["k"], s["w"], max_new, squash=squash)
        elif self.name == "rad":
            ids = official.rad_generate(m["lm"], m["lm_tok"], m["rm"], m["rm_tok"], prompt_ids, s["k"], s["beta"],
                                        max_new, seed)
        elif self.name == "tqstar":
            ids = official.tq_direct(m["lm"], m["baseline"], m["rm"], m["lm_tok"], m["rm_tok"], prompt_ids, s["k"],
                                     s["lam"], s["rollout_len"], max_new)
        else:
            ids, steps = official.best_of_n(m["lm"], m["lm_tok"], m["rm"], m["rm_tok"], prompt_ids, s["n"], max_new,
                                            seed, temperature=0.8, top_k=0, top_p=1.0)  # our SamplingParams' defaults
            return ids, steps
        return ids, len(ids)


def measure(side: Side, text: str, ids: list[int], max_new: int, repeats: int, seed: int) -> tuple[Run, Run]:
    """Fastest of `repeats` same-seed runs per side, alternating; greedy official loops run ours' length."""
    ours, theirs = Run(), Run()
    for _ in range(repeats):
        cpu, flt, (got, n) = timed(lambda: side.ours(text, max_new, seed))
        if cpu / max(n, 1) < ours.per_token or not ours.tokens:
            ours = Run(cpu, n, flt, got)
        limit = max(len(got), 1) if side.name in ("args", "tqstar") else max_new
        cpu, flt, (got, n) = timed(lambda limit=limit: side.official(ids, limit, seed))
        if cpu / max(n, 1) < theirs.per_token or not theirs.tokens:
            theirs = Run(cpu, n, flt, got)
    return ours, theirs


def bar_for(name: str, prompt_len: int) -> float | None:
    return TQ_BARS.get(prompt_len) if name == "tqstar" else BARS.get(name)


def same_tokens(ours: list[int], theirs: list[int]) -> str:
    n = min(len(ours), len(theirs))
    first = next((i for i in range(n) if ours[i] != theirs[i]), None)
    return "yes" if first is None else f"no@{first}"


def args_identity(models: dict, notes: list[str], max_new: int = 64) -> tuple[bool, str, list[str]]:
    """Official ARGS greedy loop vs ours on the REAL zoo (embedded preset), same reward scale."""
    engine = Engine(device="cpu", presets=dict(PRESETS))
    side = Side("args", engine, "embedded", models, notes)
    prompts = [json.loads(line)["prompt"] for line in (ROOT / "assets/prompts/reviews.jsonl").read_text().splitlines()
               if line.strip()][:4]
    lines, ok = [], True
    for prompt in prompts:
        text = PRESETS["embedded"].prompt_template.format(prompt=prompt)
        ids = models["lm_tok"](text, add_special_tokens=False)["input_ids"]
        mine, _ = side.ours(text, max_new, 0)
        theirs = official.args_greedy(models["lm"], models["rm"], ids, SETTINGS["args"]["k"], SETTINGS["args"]["w"],
                                      len(mine), squash=side.scale == "squashed")
        verdict = same_tokens(mine, theirs)
        ok &= verdict == "yes" and len(mine) == len(theirs)
        lines.append(f"  {prompt[:40]!r}: {len(mine)} tokens, identical: {verdict}")
    return ok, side.scale, lines


def prompts_for(tokenizer, lengths: set[int]) -> dict[int, tuple[str, list[int]]]:
    """Prompts of exactly n tokens in the embedded template, cut from the review prompts."""
    lines = [line for name in ("reviews", "questions", "keywords")
             for line in (ROOT / f"assets/prompts/{name}.jsonl").read_text().splitlines() if line.strip()]
    words = " ".join(json.loads(line)["prompt"] for line in lines)
    template = PRESETS["embedded"].prompt_template
    return {n: exact_prompt(tokenizer, template, words, n) for n in sorted(lengths)}


def table(rows: list[dict]) -> str:
    head = ("decoder", "prompt", "new", "tokens ours/off", "ours ms/tok", "official ms/tok", "ratio", "bar",
            "ok", "same tokens", "minflt/tok ours/off")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        bar = "-" if r["bar"] is None else f">={r['bar']}"
        ok = "-" if r["bar"] is None else ("yes" if r["ratio"] >= r["bar"] else "NO")
        out.append(f"| {r['decoder']} | {r['prompt']} | {r['new']} | {r['tokens_ours']}/{r['tokens_official']} | "
                   f"{r['ours_ms']:.2f} | {r['official_ms']:.2f} | {r['ratio']:.2f} | {bar} | {ok} | {r['same']} | "
                   f"{r['flt_ours']:.0f}/{r['flt_official']:.0f} |")
    return "\n".join(out)


def summary(rows: list[dict], identical: bool, scale: str) -> str:
    def low(name: str, prompt: int | None = None) -> str:
        got = [r["ratio"] for r in rows if r["decoder"] == name and (prompt is None or r["prompt"] == prompt)]
        return f"{min(got):.2f}" if got else "na"
    barred = [r for r in rows if r["bar"] is not None]
    met = sum(r["ratio"] >= r["bar"] for r in barred)
    return (f"peers args_min={low('args')} rad_min={low('rad')} best_of_n_min={low('best_of_n')} "
            f"tqstar_64_min={low('tqstar', 64)} tqstar_512_min={low('tqstar', 512)} "
            f"args_tokens_identical={identical} args_scale={scale} bars_met={met}/{len(barred)}")


def run_all(names: list[str], sizes, repeats: int, notes: list[str]) -> list[dict]:
    root, paths = timing_copy(("tiny-sft", "tiny-dpo-sentiment", "tiny-sentiment-rm"))
    try:
        preset = timing_preset(paths)
        engine = Engine(device="cpu", presets={preset.name: preset})
        models = official_models(paths)
        prompts = prompts_for(models["lm_tok"], {p for p, _ in sizes})
        rows = []
        for name in names:
            side = Side(name, engine, preset.name, models, notes)
            warm_text, warm_ids = prompts[min(prompts)]
            side.ours(warm_text, 4, 0), side.official(warm_ids, 4, 0)  # warm-up: lazy init, allocator
            for prompt_len, new in sizes:
                text, ids = prompts[prompt_len]
                ours, theirs = measure(side, text, ids, new, repeats, seed=0)
                ratio = theirs.per_token / ours.per_token
                rows.append({"decoder": name, "prompt": prompt_len, "new": new, "tokens_ours": ours.tokens,
                             "tokens_official": theirs.tokens, "ours_ms": ours.per_token * 1e3,
                             "official_ms": theirs.per_token * 1e3, "ratio": ratio, "bar": bar_for(name, prompt_len),
                             "same": same_tokens(ours.ids, theirs.ids) if name in ("args", "tqstar") else "-",
                             "flt_ours": ours.minflt / max(ours.tokens, 1),
                             "flt_official": theirs.minflt / max(theirs.tokens, 1)})
                print(f"done {name} prompt {prompt_len} new {new}: ours {ours.per_token * 1e3:.2f} ms/tok, official "
                      f"{theirs.per_token * 1e3:.2f} ms/tok, ratio {ratio:.2f}", file=sys.stderr, flush=True)
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} instead of {SIZES}")
    p.add_argument("--decoders", default="args,rad,best_of_n,tqstar", help="comma-separated: " + ",".join(SETTINGS))
    p.add_argument("--repeats", type=int, default=2, help="same-seed runs per side and cell; the fastest counts")
    p.add_argument("--json", default="", help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.decoders.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        p.error(f"--decoders: unknown {', '.join(unknown)}; choose from {', '.join(SETTINGS)}")
    if args.repeats < 1:
        p.error(f"--repeats={args.repeats}: must be at least 1")
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    logging.getLogger("backends").setLevel(logging.WARNING)
    notes: list[str] = []
    start = time.perf_counter()
    rows = run_all(names, QUICK_SIZES if args.quick else SIZES, args.repeats, notes)
    zoo = official_models({n: f"zoo:{n}" for n in ("tiny-sft", "tiny-dpo-sentiment", "tiny-sentiment-rm")})
    identical, scale, lines = args_identity(zoo, notes) if "args" in names else (None, "na", [])
    print(f"official vs ours, CPU time per generated token (time.process_time, torch threads "
          f"{torch.get_num_threads()}, fastest of {args.repeats}), on a TIMING COPY of the embedded zoo "
          f"(1024 positions); ratio = official / ours, > 1: ours faster. Wall {time.perf_counter() - start:.0f} s.")
    print(table(rows))
    if lines:
        print(f"\nARGS official greedy loop vs ours on the real zoo, reward scale {scale} "
              f"(k={SETTINGS['args']['k']}, w={SETTINGS['args']['w']}):")
        print("\n".join(lines))
    for note in dict.fromkeys(notes):
        print("note:", note)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "args_identical": identical, "scale": scale}, indent=1))
    print(summary(rows, identical, scale))


if __name__ == "__main__":
    main()
