"""Named bundles of models: a policy, its base (reference), an aligned baseline and reward models.

`embedded` uses the zoo under assets/zoo and works offline; the hub presets load when their
models are in the local Hugging Face cache, given as local folders, or the hub is reachable.
A preset says how a user's prompt is wrapped for its policy (a template, or the tokenizer's
chat template). This module holds data only; the Engine loads what a preset names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from backends.rewards.configs import RewardModelRef

CHAT = "chat"  # prompt_template value: use the tokenizer's own chat template


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    policy: str
    base: str | None = None  # reference policy for KL and log-ratios; None: the policy itself
    baseline: str | None = None  # aligned baseline model rho_BL (Transfer Q*)
    reward_models: Mapping[str, RewardModelRef] = field(default_factory=dict)
    arm_models: Mapping[str, str] = field(default_factory=dict)  # reward name -> low-rank ARM head
    sae: str | None = None  # sparse autoencoder of the policy's residual stream (feature traces, FPO)
    prompt_template: str = "{prompt}"
    default_rewards: Mapping[str, float] = field(default_factory=dict)
    prompt_sets: tuple[str, ...] = ()  # names of files under assets/prompts/
    example_prompt: str = ""  # what the Compare tab's prompt box starts with: a prompt the policy can answer
    max_new_tokens: int = 64
    # decoder -> settings it starts from with this preset (where its reward models' scale differs from
    # the paper's), and why; a request's own settings win, and a run that used them says so in a Note
    decoder_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    defaults_reason: str = ""

    @property
    def base_id(self) -> str:
        return self.base or self.policy

    def filled(self, decoder: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """This preset's starting settings for `decoder` that `config` does not set."""
        return {k: v for k, v in self.decoder_defaults.get(decoder, {}).items() if k not in config}


_ZOO_RM = {
    name: RewardModelRef(model=f"zoo:tiny-{name}-rm", label="0", output="sigmoid")
    for name in ("sentiment", "informative", "politeness")
}

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset(
        name="embedded",
        description="The embedded zoo (assets/zoo): tiny GPT-2 policy and reward models trained by this "
                    "project on its own review/keyword/question corpus. Offline, CPU-fast. Its default reward "
                    "pulls two ways: enthusiastic replies tend to be vague, detailed ones measured.",
        policy="zoo:tiny-sft",
        baseline="zoo:tiny-dpo-balanced",
        reward_models=_ZOO_RM,
        arm_models={"sentiment": "zoo:tiny-sentiment-arm", "informative": "zoo:tiny-informative-arm"},
        sae="zoo:tiny-sft-sae",
        prompt_template="User: {prompt}\nAssistant:",
        default_rewards={"sentiment": 0.5, "informative": 0.5},
        prompt_sets=("reviews", "keywords", "questions", "heldout_reviews", "heldout_keywords"),
        # a name the corpus never used: the zoo copies what a prompt names (issue 14)
        example_prompt="Write a review of the film The Frozen Signal.",
        max_new_tokens=64,
        decoder_defaults={"args": {"w": 8.0}, "rad": {"beta": 30.0}, "arm": {"beta": 50.0}, "cd": {"lam": 20.0},
                          "tqstar": {"lam": 20.0}, "deal": {"k": 10, "lam": 15.0}},
        defaults_reason="the zoo's reward models are read through a sigmoid (0..1), so a weight multiplies a "
                        "probability: ARGS takes w = 8 (on the corpus's own prompts, where it was chosen, w = 5 "
                        "gained +0.10 over sampling and 8, 12 and 20 all +0.21: 8 is the smallest on that plateau; "
                        "on new prompts 5 gained +0.09); RAD and ARM take RAD's beta = 30 and 50 (its eval "
                        "scripts and README; at the papers' w = 1, "
                        "beta = 10 and alpha = 1 they gain 0.00 to 0.11 over sampling on held-out prompts here); "
                        "CD and TQ* weigh Q, a mean probability, by 20: the aligned baseline's greedy rollouts "
                        "spread the candidates' Q less than the base's, so at 5 TQ* barely steers and trails CD, "
                        "at 20 both gain more and TQ* leads CD under either rollout scheme on new prompts; DeAL "
                        "looks at 10 candidates with lambda = 15, since keyword coverage is a fraction too (at "
                        "k = 5, lambda = 5 it gained +0.14 coverage over greedy on new keyword prompts, at "
                        "k = 10, lambda = 15 +0.22)",
    ),
    Preset(
        name="gpt2-imdb",
        description="GPT-2 continuing movie-review prompts, steered by a DistilBERT IMDB sentiment "
                    "classifier (the RAD/ARGS sentiment set-up). Needs the hub or a local copy.",
        policy="openai-community/gpt2",
        reward_models={"sentiment": RewardModelRef(
            model="lvwerra/distilbert-imdb", label="POSITIVE", output="softmax", include_prompt=False)},
        default_rewards={"sentiment": 1.0},
        example_prompt="I watched this movie last night and",
        max_new_tokens=48,
    ),
    Preset(
        name="qwen-instruct",
        description="Qwen2.5-0.5B-Instruct with an open reward model (OpenAssistant DeBERTa-v3), "
                    "for helpfulness. Needs a GPU box with the models cached.",
        policy="Qwen/Qwen2.5-0.5B-Instruct",
        reward_models={"helpfulness": RewardModelRef(
            model="OpenAssistant/reward-model-deberta-v3-large-v2", label="0", output="raw")},
        prompt_template=CHAT,
        default_rewards={},
        example_prompt="How do I make a good cup of coffee at home?",
        max_new_tokens=128,
    ),
)}


PRESETS["embedded-indirect"] = replace(
    PRESETS["embedded"], name="embedded-indirect", baseline="zoo:tiny-dpo-polite",
    description="The embedded zoo with a baseline aligned to politeness (tiny-dpo-polite): Transfer Q*'s "
                "indirect transfer to the default reward (sentiment and informativeness).")


def format_prompt(preset: Preset, prompt: str, tokenizer=None) -> str:
    """The text the policy is conditioned on."""
    if preset.prompt_template == CHAT:
        messages = [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return preset.prompt_template.format(prompt=prompt)
