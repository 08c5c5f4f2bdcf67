"""Verification and quality bars of the built zoo: hashes, offline loading, held-out metrics.

The metric functions here are shared by the build (which writes them into the manifest) and by
`python -m backends.zoo check --full` and the tests (which recompute them). Pairwise accuracy of a
reward model: over all unordered pairs of held-out examples whose labels differ by at least
`margin`, the fraction the model orders like the labels (score ties count one half). The
"first half" variant scores the prompt plus the first ceil(n / 2) of the reply's n tokens.
`run_check` verifies every sha256 before it loads anything, and reports each damaged file on one
line (missing, corrupted header, wrong size or hash). This module trains nothing and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from backends.zoo import ZOO_DIR, available_models, load_manifest, verify_manifest
from backends.zoo.measures import (  # noqa: F401  re-exported: the build and tests read them here
    heldout_loss,
    mask_names,
    mentions,
    on_topic_rate,
    sample_replies,
    trigram_overlap,
    word_trigrams,
)
from backends.zoo.train import encode, pad_batch, prefix_logits, reply_starts

log = logging.getLogger(__name__)

# name -> (direction, threshold); the README quotes these.
BARS: dict[str, tuple[str, float]] = {
    "heldout_loss": ("<=", 1.0),
    "trigram_in_corpus": (">=", 0.97),
    "eos_rate": (">=", 0.95),
    "pairwise_acc": (">=", 0.95),
    "pairwise_acc_first_half": (">=", 0.90),
    # Sampled replies (T = 0.8, 48 tokens) to held-out review prompts that mention the distinctive
    # word of the name: names from the corpus's generator, and hand-written ones (backends.zoo.heldout).
    "on_topic_generator": (">=", 0.95),
    "on_topic_handwritten": (">=", 0.90),
}
ZOO_MAX_BYTES = 150e6


@dataclass(frozen=True)
class EvalConfig:
    n_loss_texts: int = field(default=500, metadata={"help": "held-out texts for the policy's loss"})
    n_samples: int = field(default=100, metadata={"help": "sampled replies for the trigram and eos bars"})
    max_new_tokens: int = field(default=100, metadata={"help": "token limit of each sampled reply"})
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature"})
    sample_seed: int = field(default=0, metadata={"help": "seed of the sampling generator"})
    n_rm_texts: int = field(default=1000, metadata={"help": "held-out examples per reward model"})
    margin: float = field(default=0.25, metadata={"help": "min label gap of a pair counted in accuracy"})

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"`temperature` has to be > 0, but is {self.temperature}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"`margin` has to be in [0, 1), but is {self.margin}")

    def to_dict(self) -> dict:
        return asdict(self)


def passes(name: str, value: float) -> bool:
    direction, threshold = BARS[name]
    return value <= threshold if direction == "<=" else value >= threshold


def bar_report(metrics: dict) -> dict:
    """{metric: {"value", "bar", "ok"}} for each bar that `metrics` measures."""
    return {name: {"value": metrics[name], "bar": f"{direction} {threshold}", "ok": passes(name, metrics[name])}
            for name, (direction, threshold) in BARS.items() if name in metrics}


@torch.no_grad()
def reward_scores(model, tokenizer, seqs: Sequence[list[int]], lengths: Sequence[Sequence[int]],
                  batch_size: int = 64) -> torch.Tensor:
    """sigmoid of the reward after the first k tokens of each sequence, for each k of its row; (N, K).

    One causal pass scores every prefix of a sequence: the score after k tokens is the head at
    position k - 1, which is what the app reads as `model(prefix).logits[:, 0]` (a test checks it).
    """
    scores = []
    for start in range(0, len(seqs), batch_size):
        ids, mask = pad_batch(seqs[start : start + batch_size], tokenizer.pad_token_id)  # (B, T)
        logits = prefix_logits(model, ids, mask)  # (B, T)
        index = torch.tensor([[k - 1 for k in row] for row in lengths[start : start + batch_size]])  # (B, K)
        scores.append(torch.sigmoid(logits.gather(1, index)))  # (B, K)
    return torch.cat(scores)  # (N, K)


def pairwise_accuracy(scores: torch.Tensor, labels: torch.Tensor, margin: float) -> float:
    """Over all pairs with |label gap| >= margin, the fraction ordered like the labels; scores, labels (N,)."""
    label_gap = labels[:, None] - labels[None, :]  # (N, N)
    score_gap = scores[:, None] - scores[None, :]  # (N, N)
    pairs = torch.triu(label_gap.abs() >= max(margin, 1e-9), diagonal=1)  # (N, N)
    agree = (torch.sign(label_gap) * torch.sign(score_gap))[pairs]  # (P,)
    return float((agree + 1).mean() / 2) if agree.numel() else float("nan")


def rm_metrics(model, tokenizer, prompts: Sequence[str], texts: Sequence[str], labels: Sequence[float],
               margin: float) -> dict:
    """Pairwise accuracy (with `margin` and with none) on full replies and on their first halves."""
    seqs = [seq[: model.config.n_positions] for seq in encode(tokenizer, texts)]
    starts = reply_starts(tokenizer, prompts, seqs)
    lengths = [(len(seq), start + (len(seq) - start + 1) // 2) for seq, start in zip(seqs, starts, strict=True)]
    target = torch.tensor(labels, dtype=torch.float)
    scores = reward_scores(model, tokenizer, seqs, lengths)  # (N, 2)
    full, half = scores[:, 0], scores[:, 1]
    metrics = {
        "pairwise_acc": round(pairwise_accuracy(full, target, margin), 4),
        "pairwise_acc_first_half": round(pairwise_accuracy(half, target, margin), 4),
        "pairwise_acc_no_margin": round(pairwise_accuracy(full, target, 0.0), 4),
        "pairwise_acc_first_half_no_margin": round(pairwise_accuracy(half, target, 0.0), 4),
        "mean_abs_error": round(float((full - target).abs().mean()), 4),
        "n_eval_texts": len(texts),
        "margin": margin,
        "half": "prompt + first ceil(n/2) of the reply's n tokens",
    }
    return {**metrics, "bars": bar_report(metrics)}


def lm_metrics(model, tokenizer, heldout_texts: Sequence[str], prompts: Sequence[str],
               corpus_replies: Sequence[str], config: EvalConfig, corpus_prompts: Sequence[str] | None = None) -> dict:
    """The policy's held-out loss, and the trigram and eos bars on sampled replies (prompts are
    formatted; with `corpus_prompts`, the trigrams mask copied names, see `mask_names`)."""
    samples = sample_replies(model, tokenizer, prompts, config)
    replies = [text for text, _ in samples]
    plain = [p.removeprefix("User: ").split("\nAssistant:")[0] for p in prompts]
    metrics = {
        "heldout_loss": round(heldout_loss(model, tokenizer, heldout_texts), 4),
        "trigram_in_corpus": round(trigram_overlap(replies, corpus_replies, plain if corpus_prompts else None,
                                                   corpus_prompts), 4),
        "eos_rate": round(sum(ended for _, ended in samples) / max(1, len(samples)), 4),
        "n_loss_texts": len(heldout_texts),
        "n_samples": len(samples),
        "example_reply": replies[0] if replies else "",
    }
    return {**metrics, "bars": bar_report(metrics)}


def model_kind(folder: Path) -> str | None:
    """"policy", "reward" or None (not a transformers model), from config.json's architectures."""
    import json

    architectures = json.loads((folder / "config.json").read_text()).get("architectures") or [""]
    if architectures[0].endswith(("LMHeadModel", "ForCausalLM")):
        return "policy"
    if architectures[0] == "ArmRewardModel":
        return "arm"
    return "reward" if architectures[0].endswith("ForSequenceClassification") else None


def _load_arm(folder: Path):
    import torch

    from backends.arm_model import ArmRewardModel

    return ArmRewardModel.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True).eval()


def load_all(zoo_dir: Path, skip: Iterable[str] = ()) -> tuple[dict[str, object], list[str]]:
    """Every zoo model but `skip` by name, with its tokenizer, loaded offline in fp32 on CPU.

    Returns (models, problems): a model that fails to load is one problem line naming it and why.
    """
    from backends.zoo import modeling
    from backends.zoo.tokenizer import load_tokenizer

    loaders = {"policy": modeling.load_policy, "reward": modeling.load_reward_model, "arm": _load_arm}
    models, problems = {}, []
    for name in available_models(zoo_dir):
        if name in skip:
            continue
        try:
            kind = model_kind(zoo_dir / name)
            if kind is not None:
                load_tokenizer(zoo_dir / name)
                models[name] = loaders[kind](zoo_dir / name)
        except Exception as error:  # one line per model, never a traceback
            problems.append(f"{name}: does not load ({type(error).__name__}: {_first_line(error)})")
    return models, problems


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def header_problem(path: Path) -> str | None:
    """Why a .safetensors file's header cannot be read (None when it parses): the 8-byte length, then JSON."""
    import json
    import struct

    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"corrupted header: {size} bytes, shorter than the 8-byte header length"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return f"corrupted header: says {length} header bytes, the file has {size - 8} after the length"
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return f"corrupted header: not JSON ({error})"
    return None if isinstance(header, dict) else "corrupted header: not a JSON object"


def file_problems(zoo_dir: Path) -> list[str]:
    """One line per file that differs from the manifest: missing, corrupted header, wrong size or hash.

    Hashes only: nothing is loaded. Manifest-level problems start with "manifest:".
    """
    lines = []
    for problem in verify_manifest(zoo_dir):
        name, _, why = problem.partition(": ")
        path = zoo_dir / name
        if name.endswith(".safetensors") and path.is_file() and why != "not in the manifest":
            why = header_problem(path) or why
        lines.append(f"{name}: {why}")
    return lines


def recompute(zoo_dir: Path, manifest: dict, models: dict) -> dict[str, dict]:
    """The build's held-out metrics again, from the seeds and configs in the manifest."""
    from backends.zoo import corpus
    from backends.zoo.tokenizer import load_tokenizer

    split = manifest["stages"]["corpus"]["config"]
    train = corpus.generate(split["n_train"], split["train_seed"])
    heldout = corpus.generate(split["n_heldout"], split["heldout_seed"])
    tokenizer = load_tokenizer(zoo_dir / "tokenizer")
    measured = {}
    if "on-topic" in manifest["stages"] and "tiny-sft" in models:
        from backends.zoo.ontopic import OnTopicConfig, on_topic_metrics

        config = dict(manifest["stages"]["on-topic"]["config"])
        config["sampling"] = EvalConfig(**config["sampling"])
        measured["on-topic"] = on_topic_metrics(models["tiny-sft"], tokenizer, OnTopicConfig(**config))[0]
    for name, model in models.items():
        config = manifest["stages"].get(name, {}).get("config", {})
        if "bars" not in manifest["stages"].get(name, {}).get("metrics", {}) or "eval" not in config:
            continue
        evaluation = EvalConfig(**config["eval"])
        if model_kind(zoo_dir / name) == "policy":
            measured[name] = lm_metrics(
                model, tokenizer, [e.text for e in heldout[: evaluation.n_loss_texts]],
                [corpus.format_prompt(e.prompt) for e in heldout[: evaluation.n_samples]],
                [e.reply for e in train], evaluation, [e.prompt for e in train])
        elif "attribute" in config:
            rows = heldout[: evaluation.n_rm_texts]
            measured[name] = rm_metrics(model, tokenizer, [corpus.format_prompt(e.prompt) for e in rows],
                                        [e.text for e in rows], [getattr(e, config["attribute"]) for e in rows],
                                        evaluation.margin)
    return measured


def table(manifest: dict, measured: dict[str, dict]) -> tuple[str, bool]:
    """A text table of every bar (manifest value, recomputed value, threshold) and whether all pass."""
    lines = [f"{'model':<22} {'metric':<26} {'manifest':>9} {'measured':>9}  {'bar':<8} ok"]
    missed = []
    for name, stage in manifest["stages"].items():
        for metric, (direction, threshold) in BARS.items():
            if metric not in stage.get("metrics", {}).get("bars", {}):  # bars judge lm_/rm_metrics only
                continue
            built = stage["metrics"][metric]
            value = measured.get(name, {}).get(metric, built)
            ok = passes(metric, value)
            if not ok:
                missed.append(f"{name}/{metric}")
            shown = f"{value:>9.4f}" if name in measured else f"{'-':>9}"
            lines.append(f"{name:<22} {metric:<26} {built:>9.4f} {shown}  {direction} {threshold:<5} "
                         f"{'yes' if ok else 'NO'}")
    times = ", ".join(f"{name} {stage['wall_s']:.0f}" for name, stage in manifest["stages"].items())
    lines.append(f"build wall time: {manifest.get('build_wall_s', float('nan')):.1f} s "
                 f"(budget {manifest.get('build_budget_s', float('nan')):.0f} s): {times}")
    size_ok = manifest.get("total_bytes", 0) <= ZOO_MAX_BYTES
    lines.append(f"zoo size: {manifest.get('total_bytes', 0) / 1e6:.2f} MB (bar <= {ZOO_MAX_BYTES / 1e6:.0f} MB) "
                 f"{'yes' if size_ok else 'NO'}")
    if missed:  # a quality bar, not damage: say which, so nobody re-downloads an intact zoo
        lines.append(f"quality bars missed: {', '.join(missed)} (what the models measure, not damaged files)")
    return "\n".join(lines), not missed and size_ok


def run_check(zoo_dir: Path = ZOO_DIR, full: bool = False) -> tuple[str, bool]:
    """Verify every hash first, then load the intact models offline and (full) recompute the bars.

    Returns (report, passed). Each damaged file is one line, and the models with a damaged file are
    not loaded (their line says so), so a broken zoo gives its report, never a traceback.
    """
    zoo_dir = Path(zoo_dir)
    problems = file_problems(zoo_dir)
    if problems and problems[0].startswith("manifest:"):
        return "\n".join(problems), False
    manifest = load_manifest(zoo_dir)
    damaged = sorted({line.split("/", 1)[0] for line in problems if "/" in line.split(": ", 1)[0]})
    lines = [f"manifest: {len(manifest['files'])} files, "
             + ("all hashes match" if not problems else f"{len(problems)} problems")]
    lines += [f"  {problem}" for problem in problems]
    if damaged:
        skipped = [name for name in available_models(zoo_dir) if name in damaged]
        lines.append(f"damaged: {', '.join(damaged)}. Fix: restore the files from the repository, or rebuild "
                     f"them with `python -m backends.zoo build --only {','.join(damaged)} --force`")
        lines.append(f"not loaded (damaged files): {', '.join(skipped) or 'none'}")
    models, load_problems = load_all(zoo_dir, skip=damaged)
    lines += [f"  {problem}" for problem in load_problems]
    lines.append(f"loaded offline: {', '.join(models) or 'none'}")
    if full and not problems and not load_problems:
        from backends.zoo.stages import corpus_fingerprint

        if manifest["stages"]["corpus"].get("fingerprint") != corpus_fingerprint():
            lines.append("note: the corpus generator changed since the build; rebuild to compare like with like")
    elif full:
        lines.append("bars not recomputed: fix the problems above first")
    measured = recompute(zoo_dir, manifest, models) if full and not problems and not load_problems else {}
    report, bars_ok = table(manifest, measured)
    return "\n".join([*lines, report]), bars_ok and not problems and not load_problems
