"""CD, TQ* and blockwise CD: rollouts start from forked caches and are counted exactly."""

from __future__ import annotations

import pytest

from backends.decoders import GenerationRequest
from backends.events import Note, Rollout, TokenStep


def _req(decoder: str, config: dict, **kw) -> GenerationRequest:
    base = dict(prompt="Write a review of the film.", decoder=decoder, config=config, preset="fake", seed=5,
                max_new_tokens=6, rewards={"sentiment": 1.0})
    return GenerationRequest(**{**base, **kw})


@pytest.mark.parametrize("decoder,extra", [("cd", 0), ("tqstar", 1)])
def test_lm_tokens_per_step_are_k_times_l_plus_policy(engine, decoder, extra):
    """k candidates each fed once and rolled out L tokens (the last draw unfed): k * L, plus TQ*'s policy token."""
    k, length = 4, 5
    events = list(engine.stream(_req(decoder, {"k": k, "rollout_len": length})))
    assert events[-1].stop_reason != "error", events[-1].error
    rollouts: dict[int, list[Rollout]] = {}
    for e in events:
        if isinstance(e, Rollout):
            rollouts.setdefault(e.step, []).append(e)
    steps = [e for e in events if isinstance(e, TokenStep)]
    for s in steps:
        rs = rollouts[s.index]
        assert len(rs) == k and sum(r.kept for r in rs) == 1
        fed = sum(r.length for r in rs)  # candidate + rollout tokens, the final draw not fed but EOS counted out
        fed -= sum(1 for r in rs if r.length == 1 + length)  # a full rollout's last token is drawn, not fed
        assert fed <= k * length
        policy = extra if s.token_id != 0 and s.index < steps[-1].index else 0  # the last token is never fed
        assert s.cost.lm_tokens == fed + policy
    assert any(sum(r.length for r in rs) == k * (1 + length) for rs in rollouts.values())  # no EOS: exactly k*L


def test_tqstar_value_is_the_mean_rollout_reward(engine):
    events = list(engine.stream(_req("tqstar", {"k": 3, "rollout_len": 3, "rollouts": 2})))
    by_step: dict[int, list[Rollout]] = {}
    for e in events:
        if isinstance(e, Rollout):
            by_step.setdefault(e.step, []).append(e)
    for s in (e for e in events if isinstance(e, TokenStep)):
        chosen = [r.reward for r in by_step[s.index] if r.candidate == s.token_id]
        assert len(chosen) == 2 and s.value == pytest.approx(sum(chosen) / 2, abs=1e-5)


def test_tqstar_indirect_needs_its_baseline_reward(engine):
    done = engine.generate(_req("tqstar", {"transfer": "indirect"}))
    assert done.stop_reason == "error" and "tqstar.baseline_reward" in done.error
    done = engine.generate(_req("tqstar", {"transfer": "indirect", "baseline_reward": "politeness", "rollout_len": 3}))
    assert done.stop_reason != "error", done.error


@pytest.mark.parametrize("config,field", [({"k": 0}, "cd.k=0"), ({"rollout_len": 0}, "cd.rollout_len=0"),
                                          ({"rollout_len": 10**6}, "cd.rollout_len=1000000"),
                                          ({"rollouts": -1}, "cd.rollouts=-1")])
def test_cd_bad_values_name_the_field(engine, config, field):
    done = engine.generate(_req("cd", config))
    assert done.stop_reason == "error" and field in done.error


def test_tqstar_refuses_a_baseline_with_another_tokenizer(engine, tiny_models):
    from tests.backends.test_more_rewards import _other_lm

    done = engine.generate(_req("tqstar", {"baseline": _other_lm(tiny_models)}))
    assert done.stop_reason == "error" and "tokenizer differs" in done.error


def test_blockwise_cd_keeps_the_best_block(engine):
    events = list(engine.stream(_req("cd_block", {"blocks": 3, "block_len": 3}, max_new_tokens=6)))
    rollouts = [e for e in events if isinstance(e, Rollout)]
    for group in {r.group for r in rollouts}:
        block = [r for r in rollouts if r.group == group]
        kept = [r for r in block if r.kept]
        assert len(block) == 3 and len(kept) == 1 and kept[0].reward == max(r.reward for r in block)
    assert "".join(e.text for e in events if isinstance(e, TokenStep)) == events[-1].text


def test_blockwise_cd_with_one_block_of_everything_is_best_of_n(engine):
    block = engine.generate(_req("cd_block", {"blocks": 4, "block_len": 6}))
    bon = engine.generate(_req("best_of_n", {"n": 4, "temperature": 1.0}))
    assert block.text == bon.text


def test_deal_picks_the_best_lookahead_and_counts_it(engine):
    k, look = 3, 4
    events = list(engine.stream(_req("deal", {"k": k, "lookahead": look, "lam": 1000.0},
                                     rewards={"keywords": 1.0}, keywords=("film", "the"))))
    assert events[-1].stop_reason != "error", events[-1].error
    for s in (e for e in events if isinstance(e, TokenStep)):
        rs = [e for e in events if isinstance(e, Rollout) and e.step == s.index]
        assert len(rs) == k
        assert s.value == pytest.approx(max(r.reward for r in rs), abs=1e-6)  # lambda large: the best lookahead
        assert s.cost.lm_tokens <= k * (1 + look)


def test_deal_instruction_changes_what_the_policy_sees(engine):
    plain = engine.generate(_req("deal", {"k": 2, "lookahead": 2}))
    told = engine.generate(_req("deal", {"k": 2, "lookahead": 2, "instruction": "Be kind and mention the film."}))
    assert told.stop_reason != "error", told.error
    assert told.cost.lm_tokens > plain.cost.lm_tokens  # the longer prompt was prefilled
    too_long = engine.generate(_req("deal", {"instruction": "word " * 200}))
    assert too_long.stop_reason == "error" and "deal.instruction" in too_long.error


@pytest.mark.parametrize("decoder,config", [("tqstar", {"k": 2, "rollout_len": 20}),
                                            ("cd", {"k": 2, "rollout_len": 20}), ("deal", {"k": 2, "lookahead": 20})])
def test_rollouts_near_the_end_of_the_context_are_cut_with_a_note(engine, decoder, config):
    """A 128-position model, a prompt and new tokens that fill it: rollouts shrink to fit, and say so."""
    prompt_len = len(engine.language_model(engine.preset("fake").policy).encode_prompt(
        "User: Write a review of the film.\nAssistant:"))
    done = list(engine.stream(_req(decoder, config, max_new_tokens=128 - prompt_len, rewards={"sentiment": 1.0})))
    assert done[-1].stop_reason in ("eos", "max_new_tokens"), done[-1].error
    notes = [e.text for e in done if isinstance(e, Note)]
    steps = [e for e in done if isinstance(e, TokenStep)]
    assert len(steps) + prompt_len + 21 > 128  # the run reached the last 20 positions (no early EOS)
    assert len([n for n in notes if n.startswith("rollouts cut to fit the context")]) == 1
    lengths = {r.step: r.length for r in done if isinstance(r, Rollout)}
    assert lengths[steps[-1].index] <= 128 - (prompt_len + steps[-1].index)
