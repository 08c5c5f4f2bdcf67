"""Shared fixtures: offline settings, and tiny random models built in the test (no zoo needed).

`tiny_models` writes a byte-level BPE tokenizer, a 2-layer GPT-2 policy and a GPT-2 sequence
classifier with one label (a stand-in reward model) to a temporary folder, and `fake_preset`
points a preset at them, so the decoding core is tested without the embedded zoo.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

torch.set_num_threads(1)  # tiny models: threads only add contention on a small shared CPU
ROOT = Path(__file__).resolve().parents[1]
TEXT = ("User: write a review of the film\nAssistant: The film was great and the acting was superb. "
        "The music was dull but the plot was clever. I loved the park, the dog and the ball. ") * 50


def _tokenizer(path: Path, vocab_size: int = 300):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(path)
    return fast


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    from backends.arm_model import ArmRewardModel

    root = tmp_path_factory.mktemp("tiny")
    tok = _tokenizer(root / "tok")
    cfg = dict(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2,
               bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    paths = {}
    torch.manual_seed(0)
    for name, model in (("policy", GPT2LMHeadModel(GPT2Config(**cfg))),
                        ("rm", GPT2ForSequenceClassification(GPT2Config(num_labels=1, **cfg))),
                        ("arm", ArmRewardModel(GPT2Config(arm_rank=4, **cfg)))):
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        paths[name] = str(root / name)
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, pad_token_id=tok.eos_token_id)).save_pretrained(root / "embedder")
    tok.save_pretrained(root / "embedder")
    paths["embedder"] = str(root / "embedder")
    torch.manual_seed(1)
    GPT2LMHeadModel(GPT2Config(**cfg)).save_pretrained(root / "aligned")  # another policy, same tokenizer
    tok.save_pretrained(root / "aligned")
    paths["aligned"] = str(root / "aligned")
    other = _tokenizer(root / "other_tok", vocab_size=280)  # a head with a different tokenizer
    ArmRewardModel(GPT2Config(arm_rank=4, **{**cfg, "vocab_size": len(other)})).save_pretrained(root / "arm_other")
    other.save_pretrained(root / "arm_other")
    paths["arm_other"] = str(root / "arm_other")
    return paths


@pytest.fixture(scope="session")
def fake_preset(tiny_models):
    from backends.presets import Preset
    from backends.rewards import RewardModelRef

    return Preset(name="fake", description="tiny random models", policy=tiny_models["policy"],
                  reward_models={"sentiment": RewardModelRef(tiny_models["rm"], output="sigmoid"),
                                 "politeness": RewardModelRef(tiny_models["rm"], output="sigmoid")},
                  arm_models={"sentiment": tiny_models["arm"], "politeness": tiny_models["arm_other"]},
                  baseline=tiny_models["aligned"], prompt_template="User: {prompt}\nAssistant:", max_new_tokens=16)


@pytest.fixture(scope="session")
def engine(fake_preset):
    from backends.engine import Engine

    return Engine(device="cpu", presets={"fake": fake_preset})


# ---- what the suite needs from the machine ---------------------------------------------------------
# Browser tests need Debian's chromium and Playwright; PostgreSQL tests need DATABASE_URL_POSTGRES.
# In CI (CI=true, set by .ci/run) both are required: a missing chromium fails the browser tests and a
# missing server stops the run. Locally, the browser tests skip with the exact command to install it.
CHROMIUM_INSTALL = "apt-get install -y chromium"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _browser_missing() -> str | None:
    import importlib.util
    import shutil

    if not (shutil.which("chromium") or os.path.exists("/usr/bin/chromium")):
        return f"Debian's chromium is not installed; to run the browser tests: {CHROMIUM_INSTALL} (required in CI)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing; to run the browser tests: pip install -r requirements-dev.txt"
    return None


def pytest_configure(config):
    if _in_ci() and not os.environ.get("DATABASE_URL_POSTGRES"):
        raise pytest.UsageError("CI is set but DATABASE_URL_POSTGRES is not: in CI the PostgreSQL tests are required. "
                                "Run .ci/run (it starts a throwaway server) or export DATABASE_URL_POSTGRES.")


def pytest_collection_modifyitems(config, items):
    missing = None if _in_ci() else _browser_missing()
    if missing is None:
        return
    skip = pytest.mark.skip(reason=missing)
    for item in items:
        if "browser" in item.keywords or item.path.name.startswith("test_browser"):
            item.add_marker(skip)
