"""The generate command line on the embedded zoo: JSON events, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PLAYGROUND_TORCH_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "backends.generate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_json_stream_of_a_guided_decoder():
    out = _run("--prompt", "Write a sentence with the words dog, park and ball.", "--decoder", "args", "--set", "k=4",
               "--reward", "keywords=1", "--reward-set", "keywords.words=dog,park,ball", "--max-new-tokens", "12",
               "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert {e["type"] for e in events} <= {"token", "rollout", "note", "finished"}
    assert events[-1]["type"] == "finished" and events[-1]["stop_reason"] in ("eos", "max_new_tokens")
    assert 1 <= sum(e["type"] == "token" for e in events) <= 12
    assert "keywords" in events[-1]["reward_parts"]


@pytest.mark.parametrize("args,needle", [
    (("--prompt", "hi", "--decoder", "argz"), "unknown decoder 'argz'"),
    (("--prompt", "hi", "--reward", "sentimnt=1"), "Did you mean 'sentiment'"),
    (("--prompt", "hi", "--decoder", "rad", "--set", "k=0", "--reward", "sentiment=1"), "rad.k=0"),
    (("--prompt", "hi", "--reward", "sentiment=nan"), "reward weight sentiment=nan"),
    (("--prompt", "  ",), "prompt"),
    (("--prompt", "hi", "--decoder", "prs", "--reward", "sentiment=1"), "prs.preference"),
])
def test_bad_arguments_exit_2_with_one_line(args, needle):
    out = _run(*args)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], out.stderr
