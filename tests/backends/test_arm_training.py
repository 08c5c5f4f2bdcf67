"""ARM training: distillation moves the student toward the teacher's prefix scores; direct mode fits labels."""

from __future__ import annotations

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from backends.training.arm import ArmTrainConfig, init_student, pad, reply_weights, teacher_targets, train_arm

TEXTS = ["User: review the film\nAssistant: The film was great and the acting was superb.",
         "User: review the film\nAssistant: The music was dull but the plot was clever.",
         "User: write with dog, park\nAssistant: I loved the park, the dog and the ball."]


def _data(path):
    tok = AutoTokenizer.from_pretrained(path)
    rows = [tok(t)["input_ids"] for t in TEXTS]
    starts = [len(tok(t.split("Assistant:")[0] + "Assistant:")["input_ids"]) for t in TEXTS]
    return tok, rows, starts


def _gap(student, teacher, rows, starts, pad_id) -> float:
    ids, mask = pad(rows, pad_id)
    w = reply_weights(mask, torch.tensor(starts))
    with torch.no_grad():
        diff = (student(ids, mask).sigmoid() - teacher_targets(teacher, ids, mask)).abs()
    return float((diff * w).sum() / w.sum())


def test_reply_weights_cover_reply_tokens_only():
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    w = reply_weights(mask, torch.tensor([2]))
    assert w[0].tolist()[:1] == [0.0] and w[0, 3] == 0 and w[0, 1] > 0 and w[0, 2] > w[0, 1]
    assert float(w.sum()) == 1.0


def test_distillation_approaches_the_teacher(tiny_models):
    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_models["rm"]).eval()
    tok, rows, starts = _data(tiny_models["rm"])
    before = _gap(init_student(teacher, 4, 0).eval(), teacher, rows, starts, tok.eos_token_id)
    student, info = train_arm(teacher, rows, starts, [1.0, 0.0, 0.5], ArmTrainConfig(rank=4, steps=60, batch_size=3),
                              tok.eos_token_id)
    after = _gap(student, teacher, rows, starts, tok.eos_token_id)
    assert after < before / 2, (before, after)
    assert info["config"]["mode"] == "distill"


def test_direct_mode_separates_the_labels(tiny_models):
    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_models["rm"]).eval()
    tok, rows, starts = _data(tiny_models["rm"])
    student, _ = train_arm(teacher, rows, starts, [1.0, 0.0, 1.0],
                           ArmTrainConfig(mode="direct", rank=4, steps=80, batch_size=3, lr=3e-3), tok.eos_token_id)
    ids, mask = pad(rows, tok.eos_token_id)
    with torch.no_grad():
        final = student(ids, mask).sigmoid()
    last = [len(r) - 2 for r in rows]
    assert final[0, last[0]] > 0.7 and final[1, last[1]] < 0.3
