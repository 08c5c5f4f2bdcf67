"""A damaged zoo: `python -m backends.zoo check` verifies every hash before loading and reports one
line per damaged file (missing, corrupted header, wrong hash) with a non-zero exit and no
traceback; loading a damaged model names the model id, the file and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from backends import loading
from backends.loading import ModelNotFound, load_pretrained
from backends.zoo import ZOO_DIR
from backends.zoo.check import file_problems, header_problem

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def damaged_zoo(tmp_path_factory) -> Path:
    """A copy of the zoo with a missing tokenizer, a corrupted safetensors header and a flipped weight byte."""
    if not (ZOO_DIR / "manifest.json").is_file():
        pytest.skip("the embedded zoo is not built")
    zoo = tmp_path_factory.mktemp("damaged") / "zoo"
    shutil.copytree(ZOO_DIR, zoo)
    (zoo / "tiny-sft" / "tokenizer.json").unlink()
    header = zoo / "tiny-sentiment-rm" / "model.safetensors"
    data = bytearray(header.read_bytes())
    data[:8] = (10**12).to_bytes(8, "little")
    header.write_bytes(bytes(data))
    weights = zoo / "tiny-politeness-rm" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    return zoo


def test_every_damaged_file_is_one_line_before_anything_loads(damaged_zoo):
    problems = file_problems(damaged_zoo)
    assert problems == [
        "tiny-politeness-rm/model.safetensors: sha256 differs from the manifest",
        "tiny-sentiment-rm/model.safetensors: corrupted header: says 1000000000000 header bytes, the file has "
        f"{(damaged_zoo / 'tiny-sentiment-rm/model.safetensors').stat().st_size - 8} after the length",
        "tiny-sft/tokenizer.json: missing",
    ]
    assert header_problem(damaged_zoo / "tiny-informative-rm" / "model.safetensors") is None


def test_the_check_command_reports_and_exits_non_zero_without_a_traceback(damaged_zoo):
    done = subprocess.run([sys.executable, "-m", "backends.zoo", "check", "--zoo", str(damaged_zoo)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("manifest: ") and lines[0].endswith(" files, 3 problems")
    assert "  tiny-sft/tokenizer.json: missing" in lines
    assert any("tiny-sentiment-rm/model.safetensors: corrupted header" in line for line in lines)
    assert "not loaded (damaged files): tiny-politeness-rm, tiny-sentiment-rm, tiny-sft" in lines
    assert any(line.startswith("loaded offline: ") and "tiny-informative-rm" in line for line in lines)
    assert lines[-1] == "check: FAILED"


def test_a_check_of_a_folder_without_a_manifest_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "backends.zoo", "check", "--zoo", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert done.stdout.startswith("manifest: no zoo manifest at") and "python -m backends.zoo build" in done.stdout


def test_a_damaged_local_model_names_the_file_and_the_fix(damaged_zoo):
    with pytest.raises(ModelNotFound) as info:
        load_pretrained(AutoModelForSequenceClassification, str(damaged_zoo / "tiny-sentiment-rm"),
                        torch.device("cpu"), torch.float32)
    message = str(info.value)
    assert "tiny-sentiment-rm/model.safetensors is damaged" in message and "SafetensorError" in message
    assert "Fix: download the model again" in message


@pytest.mark.parametrize("name", ["tiny-politeness-rm", "tiny-sentiment-rm"])
def test_a_damaged_zoo_model_names_the_id_the_file_and_the_check_command(damaged_zoo, monkeypatch, name):
    monkeypatch.setattr(loading, "resolve", lambda model_id: str(damaged_zoo / name))
    with pytest.raises(ModelNotFound) as info:
        load_pretrained(AutoModelForSequenceClassification, f"zoo:{name}", torch.device("cpu"), torch.float32)
    message = str(info.value)
    assert f"could not load model 'zoo:{name}': its file" in message
    assert f"{name}/model.safetensors differs from the manifest's sha256" in message
    assert "`python -m backends.zoo check`" in message and f"--only {name} --force" in message


def test_a_missed_quality_bar_is_named_apart_from_damage():
    from backends.zoo.check import bar_report, table

    def manifest(handwritten: float) -> dict:
        metrics = {"on_topic_generator": 0.98, "on_topic_handwritten": handwritten}
        return {"stages": {"on-topic": {"metrics": {**metrics, "bars": bar_report(metrics)}, "wall_s": 1.0}},
                "build_wall_s": 1.0, "build_budget_s": 10.0, "total_bytes": 1000}

    report, ok = table(manifest(0.875), {})
    assert not ok
    assert report.splitlines()[-1] == ("quality bars missed: on-topic/on_topic_handwritten "
                                       "(what the models measure, not damaged files)")
    report, ok = table(manifest(0.93), {})
    assert ok and "missed" not in report
