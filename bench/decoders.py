"""Benchmark every decoder side by side in one process: reward, speed, cost and memory.

    python bench/decoders.py                                  # every decoder, embedded zoo, review prompts
    python bench/decoders.py --device cuda --prompts 40 --max-new-tokens 48
    python bench/decoders.py --decoders "sampling;rad:beta=30;args:w=3"
    python bench/decoders.py --profile                        # time and RM tokens per step by position

This is the one place that measures speed. By default it runs every registered decoder (with the
settings in SETTINGS; a decoder added later runs with its example config) on the same model and
prompts in one run; the device is CUDA when a GPU is present. Each configuration runs over the
same prompts with the same seeds, after one warm-up run, so the ratios are meaningful. Decoders
that need no reward run without one (their reward is judged afterwards, not traced).

Columns: mean final reward (95% bootstrap interval) under the weighted reward; mean KL(decoder ||
base) summed over a generation; generated tokens per second and its ratio to plain sampling; time
per token relative to sampling; LM and reward-model tokens processed per generated token; time to
first token; peak memory (CUDA: max allocated; CPU: peak resident-set growth while the decoder ran).
The output format is stable (a markdown table, or --json) so runs can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import psutil
import torch

from backends.decoders import DECODERS, GenerationRequest
from backends.devices import pick_device, set_cpu_threads
from backends.engine import Engine
from backends.evaluation.inputs import load_preset_file, parse_decoder
from backends.events import Finished, TokenStep
from backends.presets import PRESETS, format_prompt

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # benchmark settings per decoder: the papers' shapes, sized for a CPU run
    "sampling": "sampling",
    "args": "args:w=3",
    "rad": "rad:beta=10",
    "arm": "arm:beta=10",
    "best_of_n": "best_of_n:n=4",
    "cd": "cd:k=5,rollout_len=8",
    "cd_block": "cd_block:blocks=4,block_len=8",
    "tqstar": "tqstar:k=5,rollout_len=8",
    "deal": "deal:k=5,lookahead=8,lam=5",  # the registry's defaults, not the embedded preset's
    "prs": "prs:preference=Be enthusiastic, detailed and polite.,n0=2,n1=2",
}


def default_specs() -> tuple[str, ...]:
    """Every registered decoder, sampling first; one without SETTINGS runs with its example config."""
    names = sorted(DECODERS.names(), key=lambda n: (n != "sampling", list(SETTINGS).index(n) if n in SETTINGS else 99))
    out = []
    for name in names:
        example = DECODERS.get(name).example_config
        out.append(SETTINGS.get(name) or name + (":" + ",".join(f"{k}={v}" for k, v in example.items())
                                                 if example else ""))
    return tuple(out)


DEFAULT = default_specs()


@dataclass
class Row:
    config: str
    mean_reward: float
    reward_lo: float
    reward_hi: float
    kl_to_base: float
    tokens_per_s: float
    speed_vs_sampling: float
    time_per_token_vs_sampling: float
    lm_tokens_per_token: float
    reward_tokens_per_token: float
    first_token_ms: float
    peak_mem_mb: float
    errors: int


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`NAME:key=value,...`; a value may contain commas (a PRS preference)."""
    parsed = parse_decoder(spec)
    return parsed.decoder, parsed.config


def reward_weights(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split(",") if kv)


def bootstrap(values: list[float], n: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(n))
    return means[int(0.025 * n)], means[int(0.975 * n) - 1]  # percentile interval of the mean


class PeakMemory:
    """Peak memory while a block runs: CUDA's allocator, or sampled RSS growth on the CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.proc = psutil.Process()
            self.base = self.proc.memory_info().rss
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss - self.base)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self._stop.set()
            self.thread.join()


def run_config(engine: Engine, spec: str, prompts: list[dict], args) -> dict:
    name, config = parse_spec(spec)
    rewards = {k: float(v) for k, v in reward_weights(args.rewards).items()}
    if not DECODERS.get(name).needs_reward and not args.trace_sampling:
        rewards = {}
    requests = [GenerationRequest(prompt=p["prompt"], decoder=name, config=config, rewards=rewards or
                                  {}, preset=args.preset, seed=args.seed + i, max_new_tokens=args.max_new_tokens,
                                  keywords=tuple(p.get("keywords", ()))) for i, p in enumerate(prompts)]
    engine.generate(requests[0])  # warm-up: caches, allocator, lazy loading
    finals, first_ms, kls = [], [], []
    with PeakMemory(engine.device) as mem:
        start = time.perf_counter()
        for req in requests:
            t0, kl = time.perf_counter(), 0.0
            for event in engine.stream(req):
                if isinstance(event, TokenStep):
                    kl += event.kl
                    if event.index == 0:
                        first_ms.append((time.perf_counter() - t0) * 1e3)
                if isinstance(event, Finished):
                    finals.append(event)
                    kls.append(kl)
        wall = time.perf_counter() - start
    return {"spec": spec, "finals": finals, "wall": wall, "first_ms": first_ms, "peak": mem.peak, "kls": kls}


def judge(engine: Engine, finals: list[Finished], prompts: list[dict], args) -> list[float]:
    """Final reward of every text under the benchmark's reward (also for unguided sampling)."""
    weights = {k: float(v) for k, v in reward_weights(args.rewards).items()}
    preset = engine.preset(args.preset)
    lm = engine.language_model(preset.policy)
    out = []
    for f, p in zip(finals, prompts, strict=True):
        req = GenerationRequest(prompt=p["prompt"], preset=args.preset, rewards=weights,
                                keywords=tuple(p.get("keywords", ())))
        reward = engine.build_reward(req, preset, lm)  # per prompt: its keywords, if any
        total, _ = reward.score_parts(format_prompt(preset, p["prompt"], lm.tokenizer), [f.text])
        out.append(float(total[0]))
    return out


def summarise(result: dict, rewards: list[float], base: dict | None) -> Row:
    finals = [f for f in result["finals"] if f.stop_reason != "error"]
    kls = [kl for kl, f in zip(result["kls"], result["finals"], strict=True) if f.stop_reason != "error"]
    tokens = sum(f.new_tokens for f in finals) or 1
    tps = tokens / result["wall"] if finals else float("nan")
    lo, hi = bootstrap(rewards) if rewards else (float("nan"), float("nan"))
    base_tps = base["tps"] if base and base["tps"] > 0 else tps
    return Row(
        config=result["spec"], mean_reward=statistics.fmean(rewards) if rewards else float("nan"),
        reward_lo=lo, reward_hi=hi, kl_to_base=statistics.fmean(kls) if kls else float("nan"),
        tokens_per_s=tps, speed_vs_sampling=tps / base_tps,
        time_per_token_vs_sampling=base_tps / tps,
        lm_tokens_per_token=sum(f.cost.lm_tokens for f in finals) / tokens,
        reward_tokens_per_token=sum(f.cost.reward_tokens for f in finals) / tokens,
        first_token_ms=statistics.median(result["first_ms"]) if result["first_ms"] else float("nan"),
        peak_mem_mb=result["peak"] / 2**20, errors=len(result["finals"]) - len(finals))


def table(rows: list[Row], header: str) -> str:
    cols = ("config", "reward (95% CI)", "KL to base", "tok/s", "speed vs sampling", "time/token vs sampling",
            "LM tok/tok", "RM tok/tok", "first token ms", "peak MB", "errors")
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append(f"| {r.config} | {r.mean_reward:.3f} ({r.reward_lo:.3f}-{r.reward_hi:.3f}) | {r.kl_to_base:.2f} | "
                     f"{r.tokens_per_s:.1f} | {r.speed_vs_sampling:.2f}x | {r.time_per_token_vs_sampling:.2f}x | "
                     f"{r.lm_tokens_per_token:.2f} | {r.reward_tokens_per_token:.2f} | {r.first_token_ms:.1f} | "
                     f"{r.peak_mem_mb:.1f} | {r.errors} |")
    return "\n".join(lines)


def make_engine(args: argparse.Namespace) -> Engine:
    """The Engine with the registered presets and the --preset-file's; sets args.preset."""
    presets = dict(PRESETS)
    if args.preset_file:
        preset = load_preset_file(args.preset_file)
        presets[preset.name] = preset
        args.preset = args.preset or preset.name
    args.preset = args.preset or "embedded"
    return Engine(device=args.device, presets=presets)


PROFILE = tuple(SETTINGS[name] for name in ("sampling", "args", "rad", "arm", "cd", "tqstar", "deal"))
BARS = {"sampling": 1.15, "args": 1.15, "rad": 1.15, "arm": 1.15, "cd": 1.3, "tqstar": 1.3, "deal": 1.3}
TIMING_EOS = "\u0101"  # byte 0x01's symbol: in the zoo's vocabulary, never in its text


def timing_copy(positions: int = 256) -> dict[str, str]:
    """TIMING COPY of the zoo models (not the zoo): position table tiled to `positions` rows (rows below
    128 unchanged) and EOS moved to TIMING_EOS, so every run generates exactly the tokens asked for."""
    import shutil
    import tempfile

    from safetensors.torch import load_file, save_file

    from backends.zoo import zoo_model_path

    root, out = Path(tempfile.mkdtemp(prefix="bench-timing-copy-")), {}
    for name in ("tiny-sft", "tiny-dpo-sentiment", "tiny-sentiment-rm", "tiny-sentiment-arm"):
        dst = root / name
        shutil.copytree(zoo_model_path(name), dst)
        eos = json.loads((dst / "tokenizer.json").read_text())["model"]["vocab"][TIMING_EOS]
        tok = json.loads((dst / "tokenizer_config.json").read_text())
        (dst / "tokenizer_config.json").write_text(json.dumps({**tok, "eos_token": TIMING_EOS}))
        cfg = json.loads((dst / "config.json").read_text())
        (dst / "config.json").write_text(json.dumps({**cfg, "n_positions": positions, "eos_token_id": eos}))
        weights = load_file(dst / "model.safetensors")
        key = next(k for k in weights if k.endswith("wpe.weight"))
        wpe = weights[key]  # (128, H)
        weights[key] = wpe.repeat((positions + len(wpe) - 1) // len(wpe), 1)[:positions].contiguous()
        save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
        out[name] = str(dst)
    return out


def exact_prompt(lm, words: str, length: int) -> str:
    """A raw prompt of exactly `length` policy tokens cut from `words` (repeated as needed)."""
    ids = lm.encode(words)
    while len(ids) < length + 8:
        ids = ids + lm.encode(" " + words)
    for extra in range(0, 6):
        text = lm.decode(ids[: length + extra])
        if len(lm.encode_prompt(text)) == length:
            return text
    raise ValueError(f"no prompt of exactly {length} tokens from the words given")


def profile_positions(args: argparse.Namespace, prompts: list[dict]) -> str:
    """Per-step CPU time and reward-model tokens by position over `args.profile_tokens` tokens after a
    `args.profile_prompt`-token prompt, and minor page faults per run (the allocator's churn)."""
    import dataclasses

    paths = timing_copy()
    emb = PRESETS["embedded"]
    preset = dataclasses.replace(
        emb, name="timing-copy", policy=paths["tiny-sft"], base=None, baseline=paths["tiny-dpo-sentiment"],
        reward_models={"sentiment": dataclasses.replace(emb.reward_models["sentiment"],
                                                        model=paths["tiny-sentiment-rm"])},
        arm_models={"sentiment": paths["tiny-sentiment-arm"]}, sae=None)
    engine = Engine(device=args.device, presets={preset.name: preset})
    lm = engine.language_model(preset.policy)
    n, lines = args.profile_tokens, []
    texts = [exact_prompt(lm, p["prompt"], args.profile_prompt) for p in prompts[: args.profile_runs]]
    lines.append(f"per position: {n} new tokens after a {args.profile_prompt}-token prompt, {len(texts)} runs each, "
                 f"TIMING COPY of the zoo (256 positions, EOS never drawn), CPU ms per step (process time)")
    lines += ["", "| config | ms/step first 1/8 | last 1/8 | last/first | bar | minor faults/run | "
              "RM tok/tok by eighth |", "|---|---|---|---|---|---|---|"]
    for spec in args.profile.split(";"):
        lines.append(profile_one(engine, preset.name, spec, texts, n))
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def profile_one(engine: Engine, preset: str, spec: str, texts: list[str], n: int) -> str:
    """One table row: CPU ms per step in the first and last eighth, minor faults, RM tokens by eighth."""
    import resource

    name, config = parse_spec(spec)
    rewards = {"sentiment": 1.0} if DECODERS.get(name).needs_reward else {}

    def make(text: str, seed: int) -> GenerationRequest:
        return GenerationRequest(prompt=text, decoder=name, config=config, rewards=rewards, preset=preset, seed=seed,
                                 max_new_tokens=n, raw_prompt=True)

    engine.generate(make(texts[0], 99))  # warm-up
    times, rm, faults = [[] for _ in range(n)], [[] for _ in range(n)], []
    for seed, text in enumerate(texts):
        before, last = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        for event in engine.stream(make(text, seed)):
            if isinstance(event, TokenStep):
                now = time.process_time()
                times[event.index].append((now - last) * 1e3)
                rm[event.index].append(event.cost.reward_tokens)
                last = now
            elif isinstance(event, Finished) and event.stop_reason == "error":
                raise SystemExit(f"{spec}: {event.error}")
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    e = n // 8
    first = statistics.fmean(t for ts in times[1: e + 1] for t in ts)  # step 0 carries the prefill
    final = statistics.fmean(t for ts in times[n - e:] for t in ts)
    by_eighth = " ".join(f"{statistics.fmean(r for rs in rm[i * e:(i + 1) * e] for r in rs):.1f}" for i in range(8))
    bar = BARS.get(name)
    verdict = "" if bar is None else f"<= {bar} {'ok' if final / first <= bar else 'MISSED'}"
    return (f"| {spec} | {first:.2f} | {final:.2f} | {final / first:.2f} | {verdict} | "
            f"{statistics.fmean(faults):.0f} | {by_eighth} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default=None, help="a registered preset (default: embedded, or the --preset-file's)")
    p.add_argument("--preset-file", default=None, help="JSON describing a Preset, as for backends.evaluate")
    p.add_argument("--prompt-file", default=str(ROOT / "assets" / "prompts" / "reviews.jsonl"))
    p.add_argument("--prompts", type=int, default=32, help="how many prompts of the file")
    p.add_argument("--decoders", default=";".join(DEFAULT),
                   help="';'-separated NAME[:key=value,...] configurations")
    p.add_argument("--rewards", default="sentiment=1", help="NAME=WEIGHT,... steering and judging reward")
    p.add_argument("--trace-sampling", action="store_true", help="let sampling trace the reward (costs)")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto: cuda when a GPU is present, else mps, else cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: auto, one thread on the CPU)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--profile", nargs="?", const=";".join(PROFILE), default=None,
                   help="per-position profile instead of the table: ';'-separated configs (default: token-level ones)")
    p.add_argument("--profile-tokens", type=int, default=128)
    p.add_argument("--profile-prompt", type=int, default=64, help="prompt length in tokens for --profile")
    p.add_argument("--profile-runs", type=int, default=2, help="prompts per configuration for --profile")
    args = p.parse_args(argv)
    set_cpu_threads(args.threads or "auto", pick_device(args.device))
    prompts = [json.loads(line) for line in Path(args.prompt_file).read_text().splitlines() if line.strip()]
    prompts = prompts[: args.prompts]
    if args.profile:
        print(profile_positions(args, prompts))
        return
    engine = make_engine(args)
    rows, base = [], None
    for spec in args.decoders.split(";"):
        result = run_config(engine, spec, prompts, args)
        rewards = judge(engine, [f for f in result["finals"]], prompts, args) if len(result["finals"]) == len(
            prompts) else []
        row = summarise(result, rewards, base)
        if spec.split(":")[0] == "sampling" and base is None:
            base = {"tps": row.tokens_per_s}
        rows.append(row)
        failed = [f.error for f in result["finals"] if f.stop_reason == "error"]
        print(f"done {spec}: {row.tokens_per_s:.1f} tok/s, reward {row.mean_reward:.3f}"
              + (f", {len(failed)} errors, first: {failed[0]}" if failed else ""), file=sys.stderr)
    header = (f"decoders on {args.preset}, {len(prompts)} prompts from {Path(args.prompt_file).name}, "
              f"{args.max_new_tokens} new tokens, reward {args.rewards}, device {engine.device}, "
              f"torch threads {torch.get_num_threads()}")
    print(json.dumps({"header": header, "rows": [asdict(r) for r in rows]}, indent=1) if args.json
          else table(rows, header))


if __name__ == "__main__":
    main()
