"""Tests of the embedded model zoo: the committed artifacts load offline, match their manifest and
meet their bars on fresh held-out data (computed here, not read from the manifest), and a tiny
`--quick` build runs end to end and resumes."""

import os
import shutil

import pytest
import torch

from backends.zoo import ZOO_DIR, available_models, load_manifest, verify_manifest, zoo_model_path
from backends.zoo.check import (
    BARS,
    EvalConfig,
    heldout_loss,
    pairwise_accuracy,
    passes,
    rm_metrics,
    run_check,
    sample_replies,
)
from backends.zoo.train import encode, pad_batch, position_weights, prefix_logits, reply_starts

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Neither the training seed (0) nor the build's held-out seed (1).
FRESH_SEED = 20_251
ATTRIBUTES = ("sentiment", "informative", "politeness")
MODELS = ("tiny-sft", *(f"tiny-{attribute}-rm" for attribute in ATTRIBUTES))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One CPU thread: on a shared 2-core machine two threads that wait on each other are far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fresh():
    from backends.zoo import corpus

    return corpus.generate(300, FRESH_SEED)


@pytest.fixture(scope="module")
def tokenizer():
    from backends.zoo.tokenizer import load_tokenizer

    return load_tokenizer(ZOO_DIR / "tokenizer")


@pytest.fixture(scope="module")
def policy():
    from backends.zoo.modeling import load_policy

    return load_policy(zoo_model_path("tiny-sft"))


def test_manifest_matches_the_files():
    assert verify_manifest() == []
    manifest = load_manifest()
    assert set(MODELS) <= set(manifest["stages"])
    assert manifest["total_bytes"] <= 150e6


def test_a_tampered_copy_is_detected(tmp_path):
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO_DIR, copy)
    assert verify_manifest(copy) == []
    weights = copy / "tiny-sft" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    (copy / "tiny-politeness-rm" / "config.json").unlink()
    (copy / "tokenizer" / "extra.txt").write_text("not listed")
    problems = "\n".join(verify_manifest(copy))
    assert "tiny-sft/model.safetensors: sha256 differs" in problems
    assert "tiny-politeness-rm/config.json: missing" in problems
    assert "tokenizer/extra.txt: not in the manifest" in problems


def test_unknown_model_name_lists_the_available_ones():
    assert set(MODELS) <= set(available_models())
    with pytest.raises(KeyError, match=r"tiny-sft.*Did you mean 'tiny-sentiment-rm'"):
        zoo_model_path("tiny-sentiment")


@pytest.mark.parametrize("name", MODELS)
def test_every_model_loads_offline_with_its_tokenizer(name):
    from transformers import AutoConfig, AutoTokenizer

    path = zoo_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    assert tokenizer.eos_token == tokenizer.pad_token == tokenizer.bos_token == "<|endoftext|>"
    assert config.eos_token_id == config.pad_token_id == tokenizer.eos_token_id
    if name.endswith("-rm"):
        attribute = name.removeprefix("tiny-").removesuffix("-rm")
        assert config.num_labels == 1 and config.id2label == {0: attribute}
        assert config.playground_output == "sigmoid"


def test_tokenizer_round_trips_held_out_texts(fresh, tokenizer):
    texts = [example.text for example in fresh] + ["  odd   spacing\n\n, ünïcode ✓ <|endoftext|>"]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert tokenizer.batch_decode(ids) == texts
    assert max(len(seq) for seq in ids) < 512


def test_policy_held_out_loss_meets_the_bar(fresh, policy, tokenizer):
    loss = heldout_loss(policy, tokenizer, [example.text for example in fresh[:100]])
    assert passes("heldout_loss", loss), f"held-out loss {loss:.3f} nats/token, bar {BARS['heldout_loss']}"


def test_context_holds_packed_rows_and_prs_revisions(policy, tokenizer):
    """512 positions; PRS's revision request quoting a 128-token answer and its feedback still
    leaves room for 128 new tokens (so PRS never drops y0 at the preset's lengths)."""
    from backends.decoders.prs import REVISE
    from backends.zoo import heldout
    from backends.zoo.corpus import format_prompt

    assert policy.config.n_positions >= 512
    longest = max((item["prompt"] for item in heldout.heldout_reviews()), key=len)
    long_reply = " ".join(["Thanks for asking! The plot was gripping."] * 40)
    answer = tokenizer.decode(encode(tokenizer, [long_reply])[0][:128])
    feedback = "It is too vague and too curt. It should be more detailed and more polite."
    request = format_prompt(REVISE.format(x=longest, z="Be enthusiastic, detailed and polite.", y=answer, f=feedback))
    assert len(encode(tokenizer, [request])[0]) + 128 <= policy.config.n_positions


def _on_topic(names: str, policy, tokenizer) -> tuple[float, list]:
    """On-topic rate on a fresh sample (T = 0.8, 48 tokens; seeds unused by the build)."""
    from backends.zoo import heldout
    from backends.zoo.check import on_topic_rate

    items = heldout.generator_reviews(24, seed=99) if names == "generator" else heldout.handwritten_reviews()
    per_prompt = 1 if names == "generator" else 4  # 160 replies: 40 move the rate by up to 0.04 between seeds
    rate, rows = on_topic_rate(policy, tokenizer, items, EvalConfig(max_new_tokens=48, temperature=0.8,
                                                                    sample_seed=31), per_prompt)
    return rate, [(prompt, reply) for prompt, _, reply, hit in rows if not hit]


# What the current zoo reaches (build: 0.979 over 96 replies and 0.919 over 480; this test's samples
# 1.0 and 0.95): a guard against regressions.
REACHED = {"generator": 0.9, "handwritten": 0.85}


@pytest.mark.parametrize("names", ["generator", "handwritten"])
def test_replies_name_the_subject_of_new_review_prompts(names, policy, tokenizer):
    rate, misses = _on_topic(names, policy, tokenizer)
    assert rate >= REACHED[names], (rate, misses[:3])


@pytest.mark.parametrize("names", ["generator", "handwritten"])
def test_replies_meet_the_on_topic_bars(names, policy, tokenizer):
    rate, misses = _on_topic(names, policy, tokenizer)
    assert passes(f"on_topic_{names}", rate), (rate, misses[:3])


def test_sampling_is_seeded(policy, tokenizer, fresh):
    from backends.zoo.corpus import format_prompt

    prompts = [format_prompt(example.prompt) for example in fresh[:3]]
    config = EvalConfig(max_new_tokens=20, sample_seed=5)
    assert sample_replies(policy, tokenizer, prompts, config) == sample_replies(policy, tokenizer, prompts, config)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_reward_model_pairwise_accuracy_meets_the_bars(attribute, fresh, tokenizer):
    from backends.zoo.corpus import LABELLED_KINDS, format_prompt
    from backends.zoo.modeling import load_reward_model

    model = load_reward_model(zoo_model_path(f"tiny-{attribute}-rm"))
    labelled = [e for e in fresh if e.kind in LABELLED_KINDS]  # feedback turns judge another reply
    metrics = rm_metrics(model, tokenizer, [format_prompt(e.prompt) for e in labelled], [e.text for e in labelled],
                         [getattr(e, attribute) for e in labelled], margin=0.25)
    assert metrics["pairwise_acc"] >= 0.95, metrics
    assert metrics["pairwise_acc_first_half"] >= 0.90, metrics


def test_sparse_autoencoder_reconstructs_fresh_residual_streams(fresh, policy, tokenizer):
    from backends.sae import load_sae, sae_metrics
    from backends.zoo.features import residual_samples

    sae = load_sae("zoo:tiny-sft-sae")
    assert sae.config.d_in == policy.config.n_embd and sae.config.layer == -1
    metrics = sae_metrics(sae, residual_samples(policy, tokenizer, [e.text for e in fresh[:100]]))
    assert metrics["explained_variance"] >= 0.8, metrics
    assert metrics["l0"] <= sae.d_sae / 8, metrics  # sparse: a few of the features per token


def test_prefix_scores_match_how_the_app_reads_the_reward_model(fresh, tokenizer):
    """Training reads the head at every position; the app reads HF's last non-pad token."""
    from backends.zoo.corpus import format_prompt
    from backends.zoo.modeling import load_reward_model

    model = load_reward_model(zoo_model_path("tiny-sentiment-rm"))
    seqs = encode(tokenizer, [example.text for example in fresh[:4]])
    ids, mask = pad_batch(seqs, tokenizer.pad_token_id)
    with torch.no_grad():
        every = prefix_logits(model, ids, mask)  # (B, T)
        app = model(input_ids=ids, attention_mask=mask).logits[:, 0]  # (B,)
    last = torch.tensor([len(seq) - 1 for seq in seqs])
    torch.testing.assert_close(every[torch.arange(len(seqs)), last], app, atol=1e-4, rtol=1e-4)
    starts = torch.tensor(reply_starts(tokenizer, [format_prompt(e.prompt) for e in fresh[:4]], seqs))
    weights = position_weights(mask, starts, "linear")
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(seqs)))
    assert (weights[torch.arange(len(seqs)), starts - 1] == 0).all()


def test_pairwise_accuracy_matches_a_brute_force_count():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (40,), generator=generator).float() / 4
    scores = labels + 0.3 * torch.randn(40, generator=generator)
    good = total = 0
    for i in range(40):
        for j in range(i + 1, 40):
            if abs(labels[i] - labels[j]) >= 0.25:
                total += 1
                good += (scores[i] - scores[j]) * (labels[i] - labels[j]) > 0
    assert pairwise_accuracy(scores, labels, 0.25) == pytest.approx(good / total)


def test_quick_build_runs_end_to_end_and_resumes(tmp_path):
    from backends.zoo.build import STAGES, build

    with pytest.raises(RuntimeError, match="need"):
        build(tmp_path, quick=True, only="tiny-sft")
    first = build(tmp_path, quick=True, threads=1)
    assert first["built"] == list(STAGES) and first["skipped"] == []
    assert verify_manifest(tmp_path) == []
    second = build(tmp_path, quick=True, threads=1)
    assert second["built"] == [] and second["skipped"] == list(STAGES)
    manifest = load_manifest(tmp_path)
    assert all(stage["quick"] for stage in manifest["stages"].values())
    assert manifest["stages"]["tiny-sft"]["config"]["train"]["seed"] == 0
    third = build(tmp_path, quick=True, only="tiny-politeness-rm", force=True, threads=1)
    assert third["built"] == ["tiny-politeness-rm"]
    report, _ = run_check(tmp_path)  # the quick models are too small for the bars
    loaded = next(line for line in report.splitlines() if line.startswith("loaded offline:"))
    assert "all hashes match" in report
    assert all(name in loaded for name in ("tiny-sft", "tiny-informative-rm", "tiny-sentiment-arm", "tiny-dpo-polite",
                                           "tiny-informative-arm", "tiny-dpo-balanced"))
    assert "on_topic_generator" in load_manifest(tmp_path)["stages"]["on-topic"]["metrics"]
