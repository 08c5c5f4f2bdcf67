"""Zoo stage `on-topic`: does tiny-sft's reply name what the request names?

Samples replies (T = 0.8, 48 tokens) to held-out review prompts (backends.zoo.heldout) and counts
those that mention the distinctive word of the named subject: once for names from the corpus's
own generator under an unused seed, once for hand-written names built outside it and asked in
phrasings of their own. Writes every judged reply to `on-topic/samples.jsonl`; trains nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from backends.zoo import heldout, modeling, sha256_file, stages  # noqa: F401  stages registers tiny-sft
from backends.zoo.build import Context, stage
from backends.zoo.check import EvalConfig, bar_report, on_topic_rate
from backends.zoo.tokenizer import load_tokenizer


@dataclass(frozen=True)
class OnTopicConfig:
    n_generator: int = field(default=96, metadata={"help": "review prompts with generator names"})
    # 12 replies to each of the 40 hand-written prompts (480): with 2 (80 replies) the rate moved by up to
    # 0.04 either way between sampling seeds, too much to tell a policy at 0.88 from one at 0.93.
    samples_handwritten: int = field(default=12, metadata={"help": "replies per hand-written prompt"})
    sampling: EvalConfig = field(default_factory=lambda: EvalConfig(max_new_tokens=48, temperature=0.8,
                                                                   sample_seed=7))


def heldout_fingerprint() -> dict:
    return {"heldout.py_sha256": sha256_file(Path(heldout.__file__))}


def on_topic_metrics(policy, tokenizer, config: OnTopicConfig) -> tuple[dict, list]:
    generated = heldout.generator_reviews(config.n_generator)
    written = heldout.handwritten_reviews()
    rate_gen, rows_gen = on_topic_rate(policy, tokenizer, generated, config.sampling)
    rate_hand, rows_hand = on_topic_rate(policy, tokenizer, written, config.sampling, config.samples_handwritten)
    metrics = {"on_topic_generator": round(rate_gen, 4), "on_topic_handwritten": round(rate_hand, 4),
               "n_generator_replies": len(rows_gen), "n_handwritten_replies": len(rows_hand)}
    return {**metrics, "bars": bar_report(metrics)}, rows_gen + rows_hand


@stage("on-topic", after=("tiny-sft",), config=OnTopicConfig(), fingerprint=heldout_fingerprint,
       quick=OnTopicConfig(n_generator=4, samples_handwritten=1, sampling=EvalConfig(max_new_tokens=8)))
def build_on_topic(ctx: Context, config: OnTopicConfig) -> dict:
    policy = modeling.load_policy(ctx.dir("tiny-sft"))
    metrics, rows = on_topic_metrics(policy, load_tokenizer(ctx.dir("tokenizer")), config)
    with open(ctx.dir("on-topic") / "samples.jsonl", "w") as out:
        for prompt, subject, reply, hit in rows:
            out.write(json.dumps({"prompt": prompt, "subject": subject, "reply": reply, "on_topic": hit}) + "\n")
    return metrics
