"""What the zoo's bars measure on text: held-out loss, sampled replies, on-topic rate, corpus trigrams.

Shared by the build (`backends.zoo.stages`, `backends.zoo.ontopic`) and `backends.zoo.check`, which
re-exports them next to the bars themselves. Measures only: no training, no files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import torch

from backends.zoo.train import encode, pad_batch

if TYPE_CHECKING:
    from backends.zoo.check import EvalConfig


@torch.no_grad()
def heldout_loss(model, tokenizer, texts: Sequence[str], batch_size: int = 64) -> float:
    """Mean nats per predicted token of `text + eos` (the eos is a target), over all texts.

    A text longer than the model's context is cut to it (the zoo's texts all fit)."""
    eos, limit = tokenizer.eos_token_id, model.config.n_positions
    seqs = [([*seq, eos])[:limit] for seq in encode(tokenizer, texts)]
    total, count = 0.0, 0
    for start in range(0, len(seqs), batch_size):
        ids, mask = pad_batch(seqs[start : start + batch_size], eos)  # (B, T)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (B, T, V)
        labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # (B, T-1)
        nats = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum"
        )
        total += nats.item()
        count += int((labels != -100).sum())
    return total / count


@torch.no_grad()
def sample_replies(model, tokenizer, prompts: Sequence[str], config: EvalConfig,
                   batch_size: int = 16) -> list[tuple[str, bool]]:
    """(reply text, ended with eos) per formatted prompt; ancestral sampling with a seeded generator.
    Prompts are batched by length, so a long prompt does not cut the room of the short ones."""
    generator = torch.Generator().manual_seed(config.sample_seed)
    eos, limit = tokenizer.eos_token_id, model.config.n_positions
    encoded = encode(tokenizer, prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    replies: list[tuple[str, bool]] = []
    for start in range(0, len(prompts), batch_size):
        seqs = [encoded[i] for i in order[start : start + batch_size]]
        width = max(len(seq) for seq in seqs)
        ids = torch.tensor([[eos] * (width - len(s)) + s for s in seqs])  # (B, W), left-padded
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])  # (B, W)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, W)
        new = [[] for _ in seqs]
        done = torch.zeros(len(seqs), dtype=torch.bool)  # (B,)
        past = None
        for _ in range(min(config.max_new_tokens, limit - width)):
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                        past_key_values=past, use_cache=True)
            past = out.past_key_values
            probs = torch.softmax(out.logits[:, -1].float() / config.temperature, dim=-1)  # (B, V)
            ids = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            for row in torch.nonzero(~done).flatten().tolist():
                new[row].append(ids[row, 0].item())
            done |= ids[:, 0] == eos
            if done.all():
                break
            mask = torch.cat([mask, torch.ones_like(ids)], dim=1)  # (B, W + t)
            positions = positions[:, -1:] + 1  # (B, 1)
        for tokens in new:
            ended = bool(tokens) and tokens[-1] == eos
            replies.append((tokenizer.decode(tokens[:-1] if ended else tokens), ended))
    by_prompt: list[tuple[str, bool]] = [("", False)] * len(prompts)
    for i, reply in zip(order, replies, strict=True):
        by_prompt[i] = reply
    return by_prompt


def mentions(reply: str, word: str) -> bool:
    """Whether `reply` holds `word` as a whole word, ignoring case."""
    return re.search(rf"(?<![A-Za-z']){re.escape(word)}(?![A-Za-z])", reply, re.IGNORECASE) is not None


def on_topic_rate(model, tokenizer, items: Sequence[dict], config: EvalConfig, samples: int = 1) -> tuple[float, list]:
    """Fraction of sampled replies to `items` ({"prompt", "subject"}) that mention the subject, and
    the (prompt, subject, reply, hit) rows."""
    from backends.zoo.corpus import format_prompt

    rows = [item for item in items for _ in range(samples)]
    replies = sample_replies(model, tokenizer, [format_prompt(item["prompt"]) for item in rows], config)
    judged = [(item["prompt"], item["subject"], reply, mentions(reply, item["subject"]))
              for item, (reply, _) in zip(rows, replies, strict=True)]
    return sum(hit for *_, hit in judged) / max(1, len(judged)), judged


def word_trigrams(text: str) -> list[tuple[str, ...]]:
    words = text.lower().split()
    return [tuple(words[i : i + 3]) for i in range(len(words) - 2)]


def mask_names(reply: str, prompt: str) -> str:
    """`reply` with each word that its prompt writes capitalised (past the prompt's first word) as
    "<name>": the names a reply copies are new by design, so fluency is judged around them."""
    names = {w.strip(".,?!:;'\"").lower() for w in prompt.split()[1:] if w[:1].isupper()}
    return " ".join("<name>" if w.strip(".,?!:;'\"").lower() in names else w for w in reply.split())


def trigram_overlap(replies: Iterable[str], corpus_replies: Iterable[str], prompts: Sequence[str] | None = None,
                    corpus_prompts: Sequence[str] | None = None) -> float:
    """Fraction of the replies' lowercased word trigrams that occur among the corpus replies';
    given the prompts of both, names copied from a prompt count as one word ("<name>")."""
    replies, corpus_replies = list(replies), list(corpus_replies)
    if prompts is not None and corpus_prompts is not None:
        replies = [mask_names(r, p) for r, p in zip(replies, prompts, strict=True)]
        corpus_replies = [mask_names(r, p) for r, p in zip(corpus_replies, corpus_prompts, strict=True)]
    known = {gram for reply in corpus_replies for gram in word_trigrams(reply)}
    grams = [gram for reply in replies for gram in word_trigrams(reply)]
    return sum(gram in known for gram in grams) / max(1, len(grams))
