"""Zoo stages for the aligned models: ARM's low-rank heads, preference pairs and three DPO policies.

`tiny-sentiment-arm` and `tiny-informative-arm` are distilled from their reward models (ARM's
recipe). `preference-pairs` samples replies from `tiny-sft` and scores them with the zoo's
reward models; the DPO stages train `tiny-sft` on the best-versus-worst reply of each prompt:
`tiny-dpo-balanced` (TQ*'s direct-transfer baseline for the embedded preset's default reward,
0.5 sentiment + 0.5 informative), `tiny-dpo-sentiment` (for the sentiment reward alone) and
`tiny-dpo-polite` (aligned to politeness: the indirect-transfer baseline). Training loops live in
backends.arm_training and backends.preference_training; this module wires zoo data to them and
measures the results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from backends.training.arm import ArmTrainConfig, pad, train_arm
from backends.training.preference import DpoConfig, PreferenceRow, train_dpo
from backends.zoo import modeling
from backends.zoo.build import Context, stage
from backends.zoo.check import EvalConfig, pairwise_accuracy, sample_replies, trigram_overlap
from backends.zoo.stages import corpus_module, examples, labelled
from backends.zoo.tokenizer import load_tokenizer
from backends.zoo.train import encode, reply_starts

REWARDS = ("sentiment", "informative", "politeness")
# DPO target -> (stage name, weights of the scored rewards)
DPO_TARGETS: dict[str, tuple[str, dict[str, float]]] = {
    "balanced": ("tiny-dpo-balanced", {"sentiment": 0.5, "informative": 0.5}),
    "sentiment": ("tiny-dpo-sentiment", {"sentiment": 1.0}),
    "politeness": ("tiny-dpo-polite", {"politeness": 1.0}),
}
ARM_ATTRIBUTES = ("sentiment", "informative")


@dataclass(frozen=True)
class ArmStageConfig:
    attribute: str = "sentiment"
    train: ArmTrainConfig = field(default_factory=lambda: ArmTrainConfig(steps=150, n_layer=1))
    n_texts: int = field(default=6_000, metadata={"help": "training texts (distillation needs no labels)"})
    n_eval: int = field(default=400, metadata={"help": "held-out texts for the agreement metrics"})


@dataclass(frozen=True)
class PairsConfig:
    n_prompts: int = field(default=120, metadata={"help": "prompts drawn from corpus.generate(n, seed)"})
    prompt_seed: int = field(default=11, metadata={"help": "seed of those prompts (differs from train/held-out)"})
    samples: int = field(default=4, metadata={"help": "replies sampled from tiny-sft per prompt"})
    sampling: EvalConfig = field(default_factory=lambda: EvalConfig(temperature=1.0, max_new_tokens=90,
                                                                   sample_seed=5))


@dataclass(frozen=True)
class DpoStageConfig:
    reward: str = "sentiment"
    # beta 1 and lr 2e-4: at beta 0.1 / lr 5e-4 both policies drifted into disfluent text that the
    # reward models still liked (word trigrams found in the corpus fell to 0.60; 0.92 here).
    # 80 steps (about 1 s a step on one quiet core): 10 left the baselines barely aligned (balanced
    # 0.49 -> 0.55), too weak for Transfer Q* to gain over CD.
    dpo: DpoConfig = field(default_factory=lambda: DpoConfig(steps=80, beta=1.0, lr=2e-4))
    min_margin: float = field(default=0.2, metadata={"help": "keep pairs whose reward gap is at least this"})
    n_eval: int = field(default=8, metadata={"help": "held-out prompts sampled before and after training"})


def _score(model, tokenizer, texts: list[str], batch: int = 64) -> torch.Tensor:
    """(N,) sigmoid scores of a zoo reward model at each text's last token."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            seqs = [seq[: model.config.n_positions] for seq in encode(tokenizer, texts[i:i + batch])]
            ids, mask = pad(seqs, tokenizer.eos_token_id)
            hidden = model.transformer(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
            last = hidden[torch.arange(len(ids)), mask.sum(1) - 1]  # (B, H)
            out.append(model.score(last).squeeze(-1).float().sigmoid())
    return torch.cat(out)


def build_arm(ctx: Context, config: ArmStageConfig) -> dict:
    corpus, tokenizer = corpus_module(), load_tokenizer(ctx.dir("tokenizer"))
    name, attribute = f"tiny-{config.attribute}-arm", config.attribute
    teacher = modeling.load_reward_model(ctx.dir(f"tiny-{attribute}-rm"))
    train = labelled(examples(ctx, "train"))[: config.n_texts]
    rows = encode(tokenizer, [e.text for e in train])
    starts = reply_starts(tokenizer, [corpus.format_prompt(e.prompt) for e in train], rows)
    bar = tqdm(total=config.train.steps, desc=name, leave=False)
    labels = [getattr(e, attribute) for e in train]
    student, stats = train_arm(teacher, rows, starts, labels, config.train, tokenizer.eos_token_id,
                               lambda s, loss: (bar.update(), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()
    student.config.id2label, student.config.label2id = {0: attribute}, {attribute: 0}
    modeling.save(student, tokenizer, ctx.dir(name))
    heldout = labelled(examples(ctx, "heldout"))[: config.n_eval]
    ids, mask = pad(encode(tokenizer, [e.text for e in heldout]), tokenizer.eos_token_id)
    with torch.no_grad():
        arm = student(ids, mask).sigmoid()[torch.arange(len(ids)), mask.sum(1) - 2]  # (N,) score of the full text
    teacher_scores = _score(teacher, tokenizer, [e.text for e in heldout])
    labels = torch.tensor([getattr(e, attribute) for e in heldout])
    return {**{k: v for k, v in stats.items() if k != "config"},
            "pairwise_acc": round(pairwise_accuracy(arm, labels, 0.25), 4),
            "mean_abs_diff_to_teacher": round(float((arm - teacher_scores).abs().mean()), 4),
            "n_eval_texts": len(heldout)}


for _attribute in ARM_ATTRIBUTES:
    stage(f"tiny-{_attribute}-arm", after=(f"tiny-{_attribute}-rm",), config=ArmStageConfig(attribute=_attribute),
          quick=ArmStageConfig(attribute=_attribute, train=ArmTrainConfig(steps=4, batch_size=8), n_texts=64,
                               n_eval=32))(build_arm)


@stage("preference-pairs", after=("tiny-sft", *(f"tiny-{name}-rm" for name in REWARDS)), config=PairsConfig(),
       quick=PairsConfig(n_prompts=8, samples=2, sampling=EvalConfig(max_new_tokens=12, n_samples=2)))
def build_pairs(ctx: Context, config: PairsConfig) -> dict:
    """Replies of tiny-sft to fresh prompts, each scored by the sentiment and politeness models."""
    corpus, tokenizer = corpus_module(), load_tokenizer(ctx.dir("tokenizer"))
    policy = modeling.load_policy(ctx.dir("tiny-sft"))
    drawn = labelled(corpus.generate(config.n_prompts, config.prompt_seed))
    prompts = sorted({corpus.format_prompt(e.prompt) for e in drawn})
    repeated = [p for p in prompts for _ in range(config.samples)]
    replies = [text for text, _ in sample_replies(policy, tokenizer, repeated, config.sampling)]
    texts = [p + r for p, r in zip(repeated, replies, strict=True)]
    scores = {name: _score(modeling.load_reward_model(ctx.dir(f"tiny-{name}-rm")), tokenizer, texts).tolist()
              for name in REWARDS}
    with open(ctx.dir("preference-pairs") / "samples.jsonl", "w") as out:
        for i, (prompt, reply) in enumerate(zip(repeated, replies, strict=True)):
            out.write(json.dumps({"prompt": prompt, "reply": reply, **{n: round(s[i], 5) for n, s in scores.items()}})
                      + "\n")
    return {"prompts": len(prompts), "samples": len(texts),
            **{f"mean_{n}": round(sum(s) / len(s), 4) for n, s in scores.items()}}


def _target(row: dict, weights: dict[str, float]) -> float:
    return sum(weight * row[name] for name, weight in weights.items())


def preference_rows(ctx: Context, reward: str, min_margin: float) -> list[PreferenceRow]:
    """Best versus worst reply of each prompt by the DPO target `reward` (see DPO_TARGETS), where
    the gap is at least `min_margin`."""
    weights = DPO_TARGETS[reward][1]
    groups: dict[str, list[dict]] = {}
    for line in (ctx.dir("preference-pairs") / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        groups.setdefault(row["prompt"], []).append(row)
    rows = []
    for prompt, group in groups.items():
        best, worst = max(group, key=lambda r: _target(r, weights)), min(group, key=lambda r: _target(r, weights))
        if _target(best, weights) - _target(worst, weights) >= min_margin:
            rows.append(PreferenceRow(prompt, best["reply"], worst["reply"]))
    return rows


def build_dpo(ctx: Context, config: DpoStageConfig) -> dict:
    name = DPO_TARGETS[config.reward][0]
    tokenizer = load_tokenizer(ctx.dir("tokenizer"))
    policy, ref = modeling.load_policy(ctx.dir("tiny-sft")), modeling.load_policy(ctx.dir("tiny-sft"))
    rows = preference_rows(ctx, config.reward, config.min_margin)
    bar = tqdm(total=config.dpo.steps, desc=name, leave=False)
    stats = train_dpo(policy, ref, tokenizer, rows, config.dpo,
                      progress=lambda s, loss: (bar.update(), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()
    modeling.save(policy, tokenizer, ctx.dir(name))
    return {**{k: v for k, v in stats.items() if k != "config"}, **_before_after(ctx, config, policy, ref, tokenizer)}


def _before_after(ctx: Context, config: DpoStageConfig, policy, ref, tokenizer) -> dict:
    """Mean reward of samples on held-out prompts from tiny-sft and from the trained policy."""
    corpus = corpus_module()
    prompts = [corpus.format_prompt(e.prompt) for e in labelled(examples(ctx, "heldout"))[: config.n_eval]]
    weights = DPO_TARGETS[config.reward][1]
    judges = {n: modeling.load_reward_model(ctx.dir(f"tiny-{n}-rm")) for n in weights}
    sampling = EvalConfig(temperature=1.0, max_new_tokens=90, sample_seed=3)
    corpus_replies = [e.reply for e in examples(ctx, "train")]
    out = {}
    for label, model in (("sft", ref), ("dpo", policy)):
        replies = [t for t, _ in sample_replies(model, tokenizer, prompts, sampling)]
        texts = [p + r for p, r in zip(prompts, replies, strict=True)]
        scores = sum(w * _score(judges[n], tokenizer, texts) for n, w in weights.items())
        out[f"mean_{config.reward}_{label}"] = round(float(scores.mean()), 4)
        out[f"trigram_in_corpus_{label}"] = round(trigram_overlap(replies, corpus_replies), 4)
    return out


QUICK_DPO = DpoConfig(steps=3, batch_size=4)
for _reward in DPO_TARGETS:
    stage(DPO_TARGETS[_reward][0], after=("preference-pairs",),
          config=DpoStageConfig(reward=_reward),
          quick=DpoStageConfig(reward=_reward, dpo=QUICK_DPO, min_margin=0.0, n_eval=4))(build_dpo)
