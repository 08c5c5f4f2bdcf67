"""`python -m backends.train`: DPO and FPO on a toy dataset with tiny models, resume after an
interruption equals an uninterrupted run, the offline reference is computed once, and bad input
exits 2 naming the argument."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from backends.evaluation.inputs import load_preset_file
from backends.sae import SaeConfig, SparseAutoencoder
from backends.training import cli as train_cli
from backends.training import loop as train_loop
from backends.training import run_folder
from backends.training.preference import feature_constraint, fpo_margin_loss

ROWS = [
    {"prompt": "review the film", "chosen": " The film was great.", "rejected": " The film was dull."},
    {"prompt": "review the park", "chosen": " I loved the park.", "rejected": " I hated the park."},
    {"prompt": [{"role": "user", "content": "review the music"}],
     "chosen": [{"role": "assistant", "content": " The music was superb."}],
     "rejected": [{"role": "assistant", "content": " The music was dull."}]},
    {"prompt": "review the dog", "chosen": " The dog was clever.", "rejected": " The dog was dull."},
]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


@pytest.fixture(scope="module")
def sae(tmp_path_factory):
    torch.manual_seed(5)
    s = SparseAutoencoder(SaeConfig(d_in=32, d_sae=64))
    folder = tmp_path_factory.mktemp("sae") / "sae"
    s.save(folder)
    return str(folder)


def _args(data, out, policy, *extra):
    return ["--data", str(data), "--base", policy, "--out", str(out), "--batch-size", "2", "--lr", "3e-3",
            "--template", "raw", "--threads", "1", *extra]


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_fpo_loss_terms_match_their_formulas():
    pc, pr, rc, rr = (torch.tensor([v]) for v in (-4.0, -9.0, -6.0, -8.0))
    nc, nr = torch.tensor([2.0]), torch.tensor([4.0])
    margin = 2.0 * ((-4 + 6) / 2 - (-9 + 8) / 4)
    assert float(fpo_margin_loss(pc, pr, rc, rr, nc, nr, 2.0)) == pytest.approx(math.log1p(math.exp(-margin)))
    features = torch.tensor([[[1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]])  # (1, T=2, d_sae=3)
    index = torch.tensor([[[1, 0], [2, 1]]])  # the reference's top-2 per position
    value = torch.tensor([[[1.0, 1.0], [5.0, 0.0]]])
    keep = torch.tensor([[1.0, 0.0]])  # only the first position is a completion token
    assert float(feature_constraint(features, index, value, keep)) == pytest.approx(((2 - 1) ** 2 + 0) / 2)


@pytest.mark.parametrize("loss", ["dpo", "fpo"])
def test_training_separates_chosen_from_rejected_and_writes_a_baseline_preset(tiny_models, data, tmp_path, sae,
                                                                               loss, capsys):
    out = tmp_path / loss
    assert train_cli.main(_args(data, out, tiny_models["policy"], "--loss", loss, "--steps", "30", "--sae", sae,
                                "--preset", "embedded")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    first, last = metrics["history"][0], metrics["history"][-1]
    assert metrics["pairs"] == 4 and metrics["final_reward_accuracy"] == 1.0
    assert last["loss"] < first["loss"]
    if loss == "fpo":
        assert "final_feature_term" in metrics and all(math.isfinite(h["feat"]) for h in metrics["history"])
    preset = load_preset_file(out / "preset.json")
    assert preset.baseline == str(out.resolve()) and preset.policy == "zoo:tiny-sft"
    assert (out / "tokenizer.json").is_file() and not (out / "checkpoint").exists()
    assert train_cli.main(_args(data, out, tiny_models["policy"], "--loss", loss, "--steps", "30", "--sae", sae,
                                "--preset", "embedded")) == 0  # a finished run is not redone
    assert "nothing to do" in capsys.readouterr().err


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_models, data, tmp_path, sae, monkeypatch):
    args = ("--loss", "fpo", "--steps", "6", "--sae", sae, "--save-every", "2")
    assert train_cli.main(_args(data, tmp_path / "straight", tiny_models["policy"], *args)) == 0

    calls = {"reference": 0, "steps": 0}
    real_reference, real_step = run_folder.reference_pass, train_loop.optimizer_step

    def counting_reference(*a, **kw):
        calls["reference"] += 1
        return real_reference(*a, **kw)

    def interrupting_step(*a, **kw):
        calls["steps"] += 1
        if calls["steps"] == 4:
            raise KeyboardInterrupt
        return real_step(*a, **kw)

    monkeypatch.setattr(run_folder, "reference_pass", counting_reference)
    monkeypatch.setattr(train_loop, "optimizer_step", interrupting_step)
    out = tmp_path / "resumed"
    assert train_cli.main(_args(data, out, tiny_models["policy"], *args)) == 130
    state = torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=False)
    assert state["step"] == 3 and not (out / "metrics.json").exists()
    monkeypatch.setattr(train_loop, "optimizer_step", real_step)
    assert train_cli.main(_args(data, out, tiny_models["policy"], *args)) == 0
    assert calls["reference"] == 1  # the offline reference was computed once, before the interruption
    straight, resumed = _weights(tmp_path / "straight"), _weights(out)
    for name, value in straight.items():
        assert torch.allclose(value, resumed[name], atol=1e-6), name
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["step"] for h in history] == list(range(6))


@pytest.mark.parametrize(("rows", "extra", "message"), [
    (None, ("--steps", "0"), "--steps 0"),
    (None, ("--lr", "-1"), "--lr -1"),
    (None, ("--alpha", "nan"), "--alpha nan"),
    ("not json\n", (), "line 1: not JSON"),
    ('{"prompt": "p", "chosen": "a"}\n', (), "missing 'rejected'"),
    ('{"prompt": "p", "chosen": 3, "rejected": "b"}\n', (), "'chosen' must be"),
    ('{"prompt": "p", "chosen": "a", "rejected": "a"}\n', (), "no preference rows"),
])
def test_bad_input_exits_2_naming_the_field(tiny_models, data, tmp_path, capsys, rows, extra, message):
    if rows is not None:
        data.write_text(rows)
    code = train_cli.main(_args(data, tmp_path / "run", tiny_models["policy"], "--loss", "dpo", *extra))
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_fpo_needs_a_matching_sae_and_a_run_folder_keeps_its_settings(tiny_models, data, tmp_path, capsys):
    assert train_cli.main(_args(data, tmp_path / "a", tiny_models["policy"], "--loss", "fpo")) == 2
    assert "--sae" in capsys.readouterr().err
    SparseAutoencoder(SaeConfig(d_in=16, d_sae=32)).save(tmp_path / "small")
    assert train_cli.main(_args(data, tmp_path / "b", tiny_models["policy"], "--loss", "fpo",
                                "--sae", str(tmp_path / "small"))) == 2
    assert "hidden size 32" in capsys.readouterr().err
    assert train_cli.main(_args(data, tmp_path / "c", tiny_models["policy"], "--loss", "dpo", "--steps", "2")) == 0
    assert train_cli.main(_args(data, tmp_path / "c", tiny_models["policy"], "--loss", "dpo", "--steps", "3")) == 2
    assert "steps=2" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    assert train_cli.main(_args(data, tmp_path / "d", tiny_models["policy"], "--loss", "dpo")) == 2
    assert "not a training run" in capsys.readouterr().err
    assert train_cli.main(_args(data, tmp_path / "e", "./no-such-model", "--loss", "dpo")) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert train_cli.main(_args(data, tmp_path / "f", tiny_models["policy"], "--loss", "fpo", "--sae", "./typo")) == 2
    assert "./typo" in capsys.readouterr().err and not (tmp_path / "f").exists()  # a typo leaves no run behind


def test_ctrl_c_in_a_real_process_stops_between_steps_and_resumes_exactly(tiny_models, data, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = _args(data, tmp_path / "run", tiny_models["policy"], "--loss", "dpo", "--steps", "300", "--save-every",
                 "1000")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "backends.train", *args], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / "reference.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # some steps in
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-500:]
    state = torch.load(tmp_path / "run" / "checkpoint" / "trainer_state.pt", weights_only=False)
    assert 0 < state["step"] < 300 and state["step"] == len(state["history"])
    assert f"interrupted at step {state['step']}" in err
    assert train_cli.main(args) == 0
    assert train_cli.main(_args(data, tmp_path / "straight", tiny_models["policy"], "--loss", "dpo", "--steps",
                                "300", "--save-every", "1000")) == 0
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "run")
    for name, value in straight.items():
        assert torch.allclose(value, resumed[name], atol=1e-6), name
