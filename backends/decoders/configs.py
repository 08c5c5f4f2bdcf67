"""Every decoder's settings and card: what the UI, the CLI's lists and the evaluator's checks read.

This module imports no torch: the app builds its page from it before any model (or torch) loads.
Each decoder is declared with its card (settings class, one-line summary, paper, whether it needs
a reward, the settings a first run needs) and the module that implements it; `DECODERS.get(name)`
imports that module on first use, and its class receives the card's fields (`Args.Config`,
`Args.summary`, ...). A plugin's decoder declares nothing: its class is its card (docs/PLUGINS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.config import Config, ConfigError, param
from backends.registry import Registry

if TYPE_CHECKING:
    from backends.decoders.base import Decoder

DECODERS: Registry[type[Decoder], DecoderCard] = Registry("decoder", base="backends.decoders.base:Decoder",
                                                          group="decoder_playground.decoders")


@dataclass(frozen=True)
class DecoderCard:
    """What is known of a decoder before its module is imported (the fields its class receives)."""

    Config: type[Config]
    summary: str
    paper: str
    needs_reward: bool = False
    example_config: Mapping[str, Any] = field(default_factory=dict)  # settings a first run needs


@dataclass(frozen=True)
class SamplingParams(Config):
    """How a token is drawn from the base policy (shared by sampling, best-of-N and others)."""

    temperature: float = param(0.8, low=0.0, high=5.0, step=0.05,
                               help="Softmax temperature; 0 is greedy decoding")
    top_k: int = param(0, low=0, high=100_000, help="Keep the k most likely tokens (0 keeps all)")
    top_p: float = param(1.0, low=0.01, high=1.0, step=0.01, help="Nucleus: smallest set with this mass")
    repetition_penalty: float = param(1.0, low=1.0, high=3.0, step=0.05,
                                      help="Divide the logits of tokens already present (CTRL)")
    no_repeat_ngram: int = param(0, low=0, high=10, help="Forbid repeating any n-gram of this size (0 off)")


@dataclass(frozen=True)
class SamplingConfig(SamplingParams):
    pass


DECODERS.declare("sampling", "backends.decoders.sampling:Sampling", DecoderCard(
    SamplingConfig,
    summary="Ancestral sampling from the base policy (temperature 0 = greedy).",
    paper="baseline"))


@dataclass(frozen=True)
class ArgsConfig(Config):
    k: int = param(10, low=1, high=1000, help="Candidates: the base policy's top-k next tokens")
    w: float = param(1.0, low=-100.0, high=100.0, step=0.1,
                     help="w in log p + w * r, r on the reward's scale: the zoo reads a sigmoid (0..1); the "
                          "paper's w = 1-1.5 multiplies the raw logit (set the reward's output=raw)")
    mode: str = param("greedy", choices=("greedy", "sample"), help="Take the best score, or sample softmax(score/T)")
    temperature: float = param(1.0, low=0.01, high=5.0, step=0.05, help="Temperature of the sample mode")


DECODERS.declare("args", "backends.decoders.args:Args", DecoderCard(
    ArgsConfig,
    summary="ARGS: log p_base + w * reward over the top-k candidates.",
    paper="Khanov et al., ICLR 2024, arXiv 2402.01694",
    needs_reward=True))


@dataclass(frozen=True)
class RadConfig(Config):
    k: int = param(20, low=1, high=1000, help="Candidates: the base policy's top-k logits")
    beta: float = param(10.0, low=0.0, high=1000.0, step=0.5,
                        help="beta on clamp(r, 0, 1): needs a squashed reward (sigmoid/softmax; a raw logit is "
                             "clamped); paper: 10 to 50; 0 is plain top-k sampling")
    inverse: bool = param(False, help="Steer away from the reward (use 1 - r)")
    temperature: float = param(1.0, low=0.01, high=5.0, step=0.05, help="Sampling temperature")


DECODERS.declare("rad", "backends.decoders.rad:Rad", DecoderCard(
    RadConfig,
    summary="RAD: top-k logits + beta * clamp(reward, 0, 1), sampled.",
    paper="Deng & Raffel, EMNLP 2023, arXiv 2310.09520",
    needs_reward=True))


@dataclass(frozen=True)
class ArmConfig(RadConfig):
    beta: float = param(10.0, low=0.0, high=1000.0, step=0.5,
                        help="beta on the ARM head's reward, a sigmoid in 0..1 (paper: 10)")


DECODERS.declare("arm", "backends.decoders.arm:Arm", DecoderCard(
    ArmConfig,
    summary="ARM: RAD with a low-rank reward head, one reward-model call per token.",
    paper="Troshin, Niculae & Fokkens, arXiv 2407.04615",
    needs_reward=True))


@dataclass(frozen=True)
class BestOfNConfig(SamplingParams):
    n: int = param(4, low=1, high=256, help="Number of samples drawn; the best by reward is kept")


DECODERS.declare("best_of_n", "backends.decoders.best_of_n:BestOfN", DecoderCard(
    BestOfNConfig,
    summary="N samples from the base policy, keep the one the reward scores highest.",
    paper="best-of-N (e.g. Gao et al. 2023, arXiv 2210.10760)",
    needs_reward=True))


@dataclass(frozen=True)
class CdConfig(Config):
    k: int = param(10, low=1, high=100, help="Candidates: the base policy's top-k next tokens")
    rollout_len: int = param(8, low=1, high=256, help="L: tokens each rollout draws after its candidate (or to EOS)")
    rollouts: int = param(1, low=1, high=32, help="Rollouts per candidate; Q is their mean reward")
    lam: float = param(5.0, low=0.0, high=1000.0, step=0.5,
                       help="lambda in log p_base + lambda * Q, Q on the reward's scale (zoo: sigmoid 0..1)")
    rollout_temperature: float = param(1.0, low=0.0, high=5.0, step=0.05,
                                       help="Temperature of the base policy's rollouts (0 greedy)")
    mode: str = param("greedy", choices=("greedy", "sample"), help="Take the best score, or sample it")
    temperature: float = param(1.0, low=0.01, high=5.0, step=0.05, help="Temperature of the sample mode")


DECODERS.declare("cd", "backends.decoders.cd:ControlledDecoding", DecoderCard(
    CdConfig,
    summary="CD: log p_base + lambda * Q, Q from base-policy rollouts of each top-k candidate.",
    paper="Mudgal et al., ICML 2024, arXiv 2310.17022",
    needs_reward=True))


@dataclass(frozen=True)
class CdBlockConfig(SamplingParams):
    blocks: int = param(4, low=1, high=64, help="K: blocks drawn from the base policy at each round")
    block_len: int = param(8, low=1, high=1024, help="M: tokens per block (the whole answer = best-of-K)")
    temperature: float = param(1.0, low=0.0, high=5.0, step=0.05, help="Sampling temperature of the blocks")


DECODERS.declare("cd_block", "backends.decoders.cd:BlockwiseCD", DecoderCard(
    CdBlockConfig,
    summary="Blockwise CD: K blocks of M tokens from the base, keep the best by reward, repeat.",
    paper="Mudgal et al., ICML 2024, arXiv 2310.17022",
    needs_reward=True))


@dataclass(frozen=True)
class TqConfig(CdConfig):
    lam: float = param(1.0, low=0.0, high=1000.0, step=0.1,
                       help="alpha in log p_base + alpha * Q; Q is on the reward's own scale (zoo: sigmoid 0..1)")
    rollout_len: int = param(0, low=0, high=256,
                             help="L: tokens per rollout; 0 = the paper's (20 direct, 5 indirect)")
    rollout_temperature: float = param(0.0, low=0.0, high=5.0, step=0.05,
                                       help="Temperature of the baseline's rollouts (0 greedy)")
    transfer: str = param("direct", choices=("direct", "indirect"),
                          help="direct: rho_BL is aligned to r; indirect: to baseline_reward, corrected")
    baseline: str = param("", help="Aligned baseline model id; empty: the preset's")
    baseline_reward: str = param("", help="Indirect transfer: the reward r_BL the baseline is aligned to "
                                          "(not the target reward itself)")
    beta: float = param(2.0, low=0.01, high=100.0,
                        help="Indirect transfer: weight exp((r - r_BL) / beta); the paper's code is beta = 2")

    def check(self) -> None:
        if self.transfer == "indirect" and not self.baseline_reward:
            raise ConfigError("tqstar.baseline_reward", self.baseline_reward,
                              "indirect transfer needs the reward the baseline is aligned to, e.g. politeness")


DECODERS.declare("tqstar", "backends.decoders.tqstar:TransferQStar", DecoderCard(
    TqConfig,
    summary="TQ*: log p_base + alpha * Q, Q from an aligned baseline's rollouts.",
    paper="Chakraborty et al., NeurIPS 2024, arXiv 2405.20495",
    needs_reward=True))


@dataclass(frozen=True)
class DealConfig(Config):
    k: int = param(5, low=1, high=100, help="Candidates: the base policy's top-k next tokens")
    lookahead: int = param(8, low=1, high=256, help="l: greedy lookahead tokens after each candidate")
    lam: float = param(5.0, low=0.0, high=1000.0, step=0.5,
                       help="lambda in log P(prefix) + lambda * h, h on the rewards' scale (zoo: sigmoid 0..1)")
    instruction: str = param("", help="Alignment instruction prepended to the prompt (start-state adaptation)")

    def check(self) -> None:
        if len(self.instruction) > 1000:
            raise ConfigError("deal.instruction", self.instruction[:30] + "...", "at most 1000 characters")


DECODERS.declare("deal", "backends.decoders.deal:Deal", DecoderCard(
    DealConfig,
    summary="DeAL: greedy lookahead of each top-k candidate, scored by log P + lambda * heuristic.",
    paper="Huang et al., arXiv 2402.06147",
    needs_reward=True))


@dataclass(frozen=True)
class PrsConfig(SamplingParams):
    preference: str = param("", help="The preference z in words, e.g. 'Be enthusiastic and polite.'")
    n0: int = param(4, low=1, high=256, help="First-round samples from pi(. | x + z)")
    n1: int = param(4, low=0, high=256, help="Revisions per refinement round")
    depth: int = param(1, low=1, high=4, help="Refinement rounds (feedback + revisions)")
    feedback_tokens: int = param(24, low=1, high=256, help="Longest feedback the policy writes")
    revision: str = param("answer", choices=("answer", "feedback"),  # prs.REVISIONS' keys
                          help="Revision prompt: 'answer' quotes y0 and the feedback (the paper's); "
                               "'feedback' gives only the feedback (what the zoo policy learnt)")

    def check(self) -> None:
        if not self.preference.strip():
            raise ConfigError("prs.preference", self.preference, "is empty; state the preference in words")
        if len(self.preference) > 1000:
            raise ConfigError("prs.preference", self.preference[:30] + "...", "at most 1000 characters")


DECODERS.declare("prs", "backends.decoders.prs:Prs", DecoderCard(
    PrsConfig,
    summary="PRS: sample with the preference, reflect on the best, revise, keep the best of all.",
    paper="Ye & Ng, EMNLP 2024, arXiv 2408.12163",
    needs_reward=True,
    example_config={"preference": "Be enthusiastic, detailed and polite."}))
