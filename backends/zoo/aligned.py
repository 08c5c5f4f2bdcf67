"""Zoo stages for the aligned models: ARM's low-rank head, preference pairs and two DPO policies.

`tiny-sentiment-arm` is distilled from `tiny-sentiment-rm` (ARM's recipe). `preference-pairs`
samples replies from `tiny-sft` and scores them with the zoo's reward models; the DPO stages
train `tiny-sft` on the best-versus-worst reply of each prompt: `tiny-dpo-sentiment` (TQ*'s
direct-transfer baseline for the sentiment reward) and `tiny-dpo-polite` (aligned to
politeness: the indirect-transfer baseline). Training loops live in backends.arm_training and
backends.preference_training; this module wires zoo data to them and measures the results.
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

REWARDS = ("sentiment", "politeness")


@dataclass(frozen=True)
class ArmStageConfig:
    train: ArmTrainConfig = field(default_factory=lambda: ArmTrainConfig(steps=150, n_layer=1))
    n_texts: int = field(default=6_000, metadata={"help": "training texts (distillation needs no labels)"})
    n_eval: int = field(default=400, metadata={"help": "held-out texts for the agreement metrics"})


@dataclass(frozen=True)
class PairsConfig:
    n_prompts: int = field(default=480, metadata={"help": "prompts drawn from corpus.generate(n, seed)"})
    prompt_seed: int = field(default=11, metadata={"help": "seed of those prompts (differs from train/held-out)"})
    samples: int = field(default=4, metadata={"help": "replies sampled from tiny-sft per prompt"})
    sampling: EvalConfig = field(default_factory=lambda: EvalConfig(temperature=1.0, max_new_tokens=90,
                                                                   sample_seed=5))


@dataclass(frozen=True)
class DpoStageConfig:
    reward: str = "sentiment"
    # beta 1 and lr 2e-4: at beta 0.1 / lr 5e-4 both policies drifted into disfluent text that the
    # reward models still liked (word trigrams found in the corpus fell to 0.60; 0.92 here).
    dpo: DpoConfig = field(default_factory=lambda: DpoConfig(steps=120, beta=1.0, lr=2e-4))
    min_margin: float = field(default=0.2, metadata={"help": "keep pairs whose reward gap is at least this"})
    n_eval: int = field(default=96, metadata={"help": "held-out prompts sampled before and after training"})


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


@stage("tiny-sentiment-arm", after=("tiny-sentiment-rm",), config=ArmStageConfig(),
       quick=ArmStageConfig(train=ArmTrainConfig(steps=4, batch_size=8), n_texts=64, n_eval=32))
def build_arm(ctx: Context, config: ArmStageConfig) -> dict:
    corpus, tokenizer = corpus_module(), load_tokenizer(ctx.dir("tokenizer"))
    teacher = modeling.load_reward_model(ctx.dir("tiny-sentiment-rm"))
    train = labelled(examples(ctx, "train"))[: config.n_texts]
    rows = encode(tokenizer, [e.text for e in train])
    starts = reply_starts(tokenizer, [corpus.format_prompt(e.prompt) for e in train], rows)
    bar = tqdm(total=config.train.steps, desc="tiny-sentiment-arm", leave=False)
    labels = [e.sentiment for e in train]
    student, stats = train_arm(teacher, rows, starts, labels, config.train, tokenizer.eos_token_id,
                               lambda s, loss: (bar.update(), bar.set_postfix(loss=f"{loss:.4f}")))
    bar.close()
    student.config.id2label, student.config.label2id = {0: "sentiment"}, {"sentiment": 0}
    modeling.save(student, tokenizer, ctx.dir("tiny-sentiment-arm"))
    heldout = labelled(examples(ctx, "heldout"))[: config.n_eval]
    ids, mask = pad(encode(tokenizer, [e.text for e in heldout]), tokenizer.eos_token_id)
    with torch.no_grad():
        arm = student(ids, mask).sigmoid()[torch.arange(len(ids)), mask.sum(1) - 2]  # (N,) score of the full text
    teacher_scores = _score(teacher, tokenizer, [e.text for e in heldout])
    labels = torch.tensor([e.sentiment for e in heldout])
    return {**{k: v for k, v in stats.items() if k != "config"},
            "pairwise_acc": round(pairwise_accuracy(arm, labels, 0.25), 4),
            "mean_abs_diff_to_teacher": round(float((arm - teacher_scores).abs().mean()), 4),
            "n_eval_texts": len(heldout)}


@stage("preference-pairs", after=("tiny-sft", "tiny-sentiment-rm", "tiny-politeness-rm"), config=PairsConfig(),
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


def preference_rows(ctx: Context, reward: str, min_margin: float) -> list[PreferenceRow]:
    """Best versus worst reply of each prompt by `reward`, where the gap is at least `min_margin`."""
    groups: dict[str, list[dict]] = {}
    for line in (ctx.dir("preference-pairs") / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        groups.setdefault(row["prompt"], []).append(row)
    rows = []
    for prompt, group in groups.items():
        best, worst = max(group, key=lambda r: r[reward]), min(group, key=lambda r: r[reward])
        if best[reward] - worst[reward] >= min_margin:
            rows.append(PreferenceRow(prompt, best["reply"], worst["reply"]))
    return rows


def build_dpo(ctx: Context, config: DpoStageConfig) -> dict:
    name = {"sentiment": "tiny-dpo-sentiment", "politeness": "tiny-dpo-polite"}[config.reward]
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
    judge = modeling.load_reward_model(ctx.dir(f"tiny-{config.reward}-rm"))
    sampling = EvalConfig(temperature=1.0, max_new_tokens=90, sample_seed=3)
    corpus_replies = [e.reply for e in examples(ctx, "train")]
    out = {}
    for label, model in (("sft", ref), ("dpo", policy)):
        replies = [t for t, _ in sample_replies(model, tokenizer, prompts, sampling)]
        scores = _score(judge, tokenizer, [p + r for p, r in zip(prompts, replies, strict=True)])
        out[f"mean_{config.reward}_{label}"] = round(float(scores.mean()), 4)
        out[f"trigram_in_corpus_{label}"] = round(trigram_overlap(replies, corpus_replies), 4)
    return out


QUICK_DPO = DpoConfig(steps=3, batch_size=4)
for _reward in REWARDS:
    stage({"sentiment": "tiny-dpo-sentiment", "politeness": "tiny-dpo-polite"}[_reward], after=("preference-pairs",),
          config=DpoStageConfig(reward=_reward),
          quick=DpoStageConfig(reward=_reward, dpo=QUICK_DPO, min_margin=0.0, n_eval=4))(build_dpo)
