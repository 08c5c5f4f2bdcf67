"""Plugins: a decoder and a reward from another distribution, found by entry points, with no edit here.

The decoder and its pyproject.toml are copied out of docs/PLUGINS.md (so the page's example is
what runs); the distribution's metadata (`.dist-info` with `entry_points.txt`) is built from that
pyproject's entry-point table, next to the package, in a folder put on PYTHONPATH of a fresh
interpreter. There the plugin is listed with its origin by the CLI, runs through the Engine on the
embedded zoo and in the evaluator, and gets the UI's generated controls.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "PLUGINS.md"
BLOCK = re.compile(r"<!-- file: (?P<path>[^ ]+) -->\n```\w*\n(?P<body>.*?)```", re.S)
REWARD = '''
from dataclasses import dataclass

import torch

from backends.config import Config
from backends.rewards import Reward


@dataclass(frozen=True)
class ExclaimConfig(Config):
    pass


class Exclaim(Reward):
    Config = ExclaimConfig
    help = "Exclamation marks per reply (a test plugin)."

    def score(self, prompt, continuations):
        return torch.tensor([float(c.count("!")) for c in continuations])
'''


def doc_files() -> dict[str, str]:
    files = {m["path"]: m["body"] for m in BLOCK.finditer(DOC.read_text())}
    assert {"minp-decoder/pyproject.toml", "minp-decoder/minp_decoder/__init__.py"} <= set(files), files.keys()
    return files


def install(site: Path, files: dict[str, str]) -> None:
    """What pip install would leave in site-packages: the package and its .dist-info."""
    project = tomllib.loads(files["minp-decoder/pyproject.toml"])["project"]
    for path, body in files.items():
        if path.endswith(".py"):
            target = site / Path(path).relative_to("minp-decoder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
    (site / "minp_decoder" / "exclaim.py").write_text(REWARD)
    groups = {**project["entry-points"], "decoder_playground.rewards": {"exclaim": "minp_decoder.exclaim:Exclaim"}}
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items()) + "\n"
        for group, entries in groups.items()))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install(site, doc_files())
    return site


def run(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_cli_lists_the_plugins_with_their_origin(site):
    proc = run(site, "-m", "backends.generate", "--list")
    assert proc.returncode == 0, proc.stderr
    assert "decoder min_p (from minp-decoder): min-p sampling" in proc.stdout
    assert "min_p=0.1  Keep tokens with p >= min_p * p_max" in proc.stdout
    assert "reward exclaim (from minp-decoder): Exclamation marks" in proc.stdout
    assert "decoder args (from decoder-playground)" in proc.stdout


ENGINE_AND_UI = '''
import json, sys
from backends import api
from backends.events import Finished, TokenStep
engine = api.engine()
events = list(engine.stream(api.request("The film was", decoder="min_p", config={"min_p": 0.3}, seed=3,
                                        rewards={"exclaim": 1.0}, max_new_tokens=6)))
fin = events[-1]
steps = [e for e in events if isinstance(e, TokenStep)]
bad = list(engine.stream(api.request("x", decoder="min_p", config={"min_p": 2.0})))[-1]
import gradio as gr
from playground.controls import controls_for
from backends.decoders import DECODERS
with gr.Blocks():
    widgets = controls_for(DECODERS.get("min_p"), id_prefix="p0-min_p")
print(json.dumps({"stop": fin.stop_reason, "error": fin.error, "text": fin.text, "steps": len(steps),
                  "parts": sorted(fin.reward_parts), "config": fin.config,
                  "bad": [bad.stop_reason, bad.error], "names": "min_p" in DECODERS.names(),
                  "widgets": [w.label for w in widgets]}))
'''


def test_the_plugin_decodes_through_the_engine_and_gets_controls(site):
    proc = run(site, "-c", ENGINE_AND_UI)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["stop"] in ("max_new_tokens", "eos"), out
    assert out["steps"] >= 1 and out["text"]
    assert out["parts"] == ["exclaim"]  # the plugin reward is traced and scored
    assert out["config"]["decoder"] == "min_p" and out["config"]["min_p"] == 0.3
    assert out["bad"][0] == "error" and "min_p" in out["bad"][1] and "2.0" in out["bad"][1]
    assert out["names"] and any("min_p" in label for label in out["widgets"]), out["widgets"]


def test_the_evaluator_runs_the_plugin(site, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("The film was\nThe park is\n")
    proc = run(site, "-m", "backends.evaluate", "--prompts", str(prompts), "--decoder", "sampling",
               "--decoder", "min_p:min_p=0.2", "--reward", "exclaim=1", "--max-new-tokens", "5",
               "--embedder", "none", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    labels = {d["label"]: d for d in res["decoders"]}
    assert set(labels) == {"sampling", "min_p:min_p=0.2"} and res["run"]["complete"]
    assert labels["min_p:min_p=0.2"]["decoder"] == "min_p"


def test_a_clash_and_a_wrong_base_name_the_culprits(site, tmp_path):
    other = tmp_path / "clash"
    other.mkdir()
    (other / "bad_plugin.py").write_text("class NotADecoder:\n    pass\n")
    info = other / "bad_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[decoder_playground.decoders]\nargs = minp_decoder:MinP\n")
    look_up = f"import sys; sys.path.insert(0, {str(other)!r}); from backends.decoders import DECODERS as D; D.names()"
    proc = run(site, "-c", look_up)
    assert proc.returncode != 0
    assert "decoder 'args' is registered twice: by decoder-playground" in proc.stderr and "bad-plugin" in proc.stderr
    (info / "entry_points.txt").write_text("[decoder_playground.decoders]\nnope = bad_plugin:NotADecoder\n")
    proc = run(site, "-c", look_up)
    assert "decoder 'nope' from bad-plugin" in proc.stderr and "not a subclass of backends.decoders.base.Decoder" \
        in proc.stderr
