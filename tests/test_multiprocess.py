"""The evaluator under `torchrun --nproc_per_node 2` on the CPU (gloo): prompts are sharded over
the two processes, rank 0 gathers one output, and the texts equal a one-process run's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from backends.evaluation import cli as evaluate
from backends.evaluation.sharding import read_jsonl
from tests.backends.test_evaluate import write_preset_file

pytestmark = pytest.mark.slow
PROMPTS = ["write a review of the film", "tell me about the park", "the music was", "use the words dog and ball",
           "what should I cook"]


def _torchrun() -> list[str]:
    exe = shutil.which("torchrun")
    return [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]


def test_two_processes_shard_prompts_and_gather_one_output(tmp_path, fake_preset, tiny_models, engine, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    preset = write_preset_file(fake_preset, tmp_path / "fake.json")
    common = ["--prompts", str(prompts), "--preset-file", str(preset), "--decoder", "sampling", "--decoder",
              "args:k=4,w=2", "--reward", "sentiment=1", "--samples", "2", "--max-new-tokens", "5",
              "--embedder", tiny_models["embedder"], "--seed", "7"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "backends.evaluate", *common,
           "--out", str(tmp_path / "two")]
    done = subprocess.run(cmd, cwd=os.path.dirname(os.path.dirname(__file__)), env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "== args:k=4,w=2: 10 generations over 5 prompts, 0 errors" in done.stdout

    two = tmp_path / "two"
    assert not list(two.glob("generations.rank*.jsonl"))  # gathered, shards removed
    rows = read_jsonl(two / "generations.jsonl")
    keys = [(r["label"], r["prompt_index"], r["sample"]) for r in rows]
    assert sorted(keys) == sorted({(label, p, s) for label in ("sampling", "args:k=4,w=2")
                                   for p in range(5) for s in range(2)})  # every prompt exactly once
    assert {r["rank"] for r in rows} == {0, 1}
    res = json.loads((two / "results.json").read_text())
    assert res["run"]["processes"] == 2 and res["run"]["complete"]

    assert evaluate.main([*common, "--out", str(tmp_path / "one")], engine=engine) == 0
    one = {(r["label"], r["prompt_index"], r["sample"]): r["text"] for r in read_jsonl(tmp_path / "one" /
                                                                                       "generations.jsonl")}
    assert {(r["label"], r["prompt_index"], r["sample"]): r["text"] for r in rows} == one
