"""bench/peers.py's helpers: the timing copy of the zoo, exact-length prompts, the field lookup, and
the official loops' ports (bench/_peers_official.py) on the real zoo. No timing here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from bench import _peers_official as official
from bench._peers_setup import TIMING_EOS, exact_prompt, official_models, our_config, timing_copy

ZOO = {n: f"zoo:{n}" for n in ("tiny-sft", "tiny-dpo-sentiment", "tiny-sentiment-rm")}
PROMPT = "User: Write a review of the film The Final Kingdom.\nAssistant:"


@pytest.fixture(scope="module")
def zoo():
    return official_models(ZOO)


@pytest.fixture(scope="module")
def copy():
    root, paths = timing_copy(("tiny-sft",))
    yield paths
    shutil.rmtree(root)


def test_timing_copy_decodes_like_the_zoo_below_128_and_runs_past_it(zoo, copy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(copy["tiny-sft"], dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(copy["tiny-sft"])
    ids = torch.tensor([zoo["lm_tok"](PROMPT)["input_ids"]])  # (1, T)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, zoo["lm"](ids).logits)
        long = ids.repeat(1, 400 // ids.shape[1] + 1)[:, :400]  # (1, 400): past the zoo's 128 positions
        assert model(long).logits.shape == (1, 400, model.config.vocab_size)
    assert tok.eos_token == TIMING_EOS and model.config.eos_token_id == tok.eos_token_id != tok.pad_token_id
    note = json.loads((Path(copy["tiny-sft"]) / "config.json").read_text())["timing_copy_note"]
    assert note.startswith("TIMING COPY")


@pytest.mark.parametrize("length", [16, 64, 200])
def test_exact_prompt_has_the_length_asked(zoo, length):
    text, ids = exact_prompt(zoo["lm_tok"], "User: {prompt}\nAssistant:", "Write a review of the Tekla camera.", length)
    assert len(ids) == length == len(zoo["lm_tok"](text, add_special_tokens=False)["input_ids"])
    assert text.startswith("User: ") and text.endswith("\nAssistant:")


def test_our_config_finds_fields_and_reports_missing_ones():
    config, notes = our_config("args", {"k": 7, "w": 1.5, "no_such_setting": 3})
    assert config == {"k": 7, "w": 1.5}
    assert len(notes) == 1 and "no_such_setting" in notes[0]


def test_official_args_greedy_is_the_argmax_of_logits_plus_w_reward(zoo):
    ids = zoo["lm_tok"](PROMPT)["input_ids"]
    got = official.args_greedy(zoo["lm"], zoo["rm"], ids, k=5, w=1.5, max_new=6)
    seq = list(ids)
    with torch.no_grad():  # the same rule recomputed without any cache
        for token in got:
            logits = zoo["lm"](torch.tensor([seq])).logits[0, -1]  # (V,)
            top = logits.topk(5)
            rows = torch.tensor([[*seq, int(c)] for c in top.indices])  # (5, T + 1)
            reward = zoo["rm"](rows).logits[:, 0]  # (5,)
            assert token == int(top.indices[(top.values + 1.5 * reward).argmax()])
            seq.append(token)


def _rad_rewards(zoo, fix: bool, steps: int = 3) -> list[tuple[list[int], list[int], torch.Tensor]]:
    """(prefix, top-k, reward the processor added / beta) at each step of a greedy walk."""
    proc = official.RewardAugmentedProcessor(zoo["lm_tok"], zoo["rm_tok"], official._RadRewardModel(
        zoo["rm"], zoo["rm_tok"].pad_token_id), topk=4, beta=1.0, fix_positions=fix)
    seq, out = zoo["lm_tok"](PROMPT)["input_ids"], []
    with torch.no_grad():
        for _ in range(steps):
            logits = zoo["lm"](torch.tensor([seq])).logits[:, -1]  # (1, V)
            top = logits[0].topk(4).indices
            adjusted = proc(torch.tensor([seq]), logits.clone())[0]  # (V,)
            out.append((list(seq), top.tolist(), adjusted[top] - logits[0, top]))
            seq = [*seq, int(top[0])]
    return out


def _full_reward(zoo, ids: list[int]) -> float:
    """The reward model's sigmoid head at the last token of one uncached forward."""
    hidden = zoo["rm"].base_model(input_ids=torch.tensor([ids])).last_hidden_state  # (1, T, H)
    return float(zoo["rm"].score(hidden[0, -1]).sigmoid()[0])


def test_official_rad_with_corrected_positions_equals_a_full_reencode(zoo):
    for fix, agrees in ((True, True), (False, False)):
        with torch.no_grad():
            steps = _rad_rewards(zoo, fix)
            ok = all(abs(float(r[j]) - min(max(_full_reward(zoo, [*seq, c]), 0.0), 1.0)) < 1e-4
                     for seq, top, r in steps for j, c in enumerate(top))
        assert ok is agrees, f"fix_positions={fix}"


def test_official_rad_samples_within_the_top_k(zoo):
    ids = zoo["lm_tok"](PROMPT)["input_ids"]
    got = official.rad_generate(zoo["lm"], zoo["lm_tok"], zoo["rm"], zoo["rm_tok"], ids, k=3, beta=10.0, max_new=5,
                                seed=0)
    seq = list(ids)
    with torch.no_grad():
        for token in got:
            top = zoo["lm"](torch.tensor([seq])).logits[0, -1].topk(3).indices.tolist()
            assert token in top
            seq.append(token)
