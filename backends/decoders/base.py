"""The decoder contract: requests, the per-run context, and the token-by-token loop.

`Decoder.stream(ctx)` yields events and always ends with `Finished`. `TokenwiseDecoder` owns the
loop (propose -> score -> select -> append -> emit) so a token-level algorithm implements only
`scores()`. This module loads nothing and catches nothing: the Engine builds the context and
turns exceptions into `Finished(stop_reason="error")`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from backends.config import Config, ConfigError
from backends.devices import Meter
from backends.events import Candidate, Cost, Event, Finished, Note, Rollout, TokenStep
from backends.lm import LanguageModel, LMState
from backends.registry import Registry
from backends.rewards import WeightedReward
from backends.sampling import draw, step_stats

DECODERS: Registry[type[Decoder]] = Registry("decoder")
TABLE_ROWS = 10  # candidates kept per step for the inspector


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines one generation (stored with it, so it can be replayed)."""

    prompt: str
    decoder: str = "sampling"
    config: Mapping[str, Any] = field(default_factory=dict)
    rewards: Mapping[str, float] = field(default_factory=dict)
    reward_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    preset: str = "embedded"
    seed: int = 0
    max_new_tokens: int = 64
    raw_prompt: bool = False  # True: do not wrap the prompt in the preset's chat template
    keywords: tuple[str, ...] = ()  # from a prompt set; the `keywords` reward's default
    features: bool = False  # also stream FeatureSteps (the preset needs a sparse autoencoder)


@dataclass
class DecodeContext:
    """One run's models, reward, prompt, randomness and cancellation flag."""

    request: GenerationRequest
    lm: LanguageModel
    base: LanguageModel
    reward: WeightedReward | None
    prompt_text: str
    prompt_ids: list[int]
    max_new_tokens: int
    rng: torch.Generator
    cancel: threading.Event = field(default_factory=threading.Event)
    meter: Meter = field(default_factory=Meter)
    preset: Any = None  # backends.presets.Preset
    models: Any = None  # the Engine: language_model(id), arm(id), classifier(id, label, output)
    started: float = field(default_factory=time.perf_counter)

    def cost(self, since: Cost | None = None) -> Cost:
        now = Cost(self.meter.lm_tokens, self.meter.reward_tokens, (time.perf_counter() - self.started) * 1e3)
        if since is None:
            return now
        return Cost(now.lm_tokens - since.lm_tokens, now.reward_tokens - since.reward_tokens,
                    now.wall_ms - since.wall_ms)

    def finished(self, ids: list[int], stop: str, **extra: Any) -> Finished:
        """The closing event: final text, its reward under the mixture, totals."""
        text = self.lm.decode(ids)
        reward, parts = None, {}
        if self.reward is not None:
            total, by_name = self.reward.score_parts(self.prompt_text, [text])
            reward, parts = float(total[0]), {k: float(v[0]) for k, v in by_name.items()}
        cost = self.cost()
        return Finished(text=text, stop_reason=stop, reward=reward, reward_parts=parts, cost=cost,
                        new_tokens=len(ids), elapsed_s=cost.wall_ms / 1e3, seed=self.request.seed, **extra)


class Decoder:
    """Base of all decoders: a validated config and a `stream` of events."""

    name: ClassVar[str]
    Config: ClassVar[type[Config]]
    needs_reward: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    example_config: ClassVar[dict[str, Any]] = {}  # settings a first run needs (required fields)

    def __init__(self, config: Config):
        self.config = config

    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"decoder": self.name, **self.config.to_dict()}


@dataclass
class Scores:
    """A token-level decoder's verdict on the next token.

    `scores` (V,) is the distribution the decoder samples or ranks from, -inf outside its
    support. `reward`, `parts` and `value` are per candidate (k,) for `candidates` (k,).
    """

    scores: torch.Tensor
    candidates: torch.Tensor
    reward: torch.Tensor | None = None
    parts: dict[str, torch.Tensor] = field(default_factory=dict)
    value: torch.Tensor | None = None
    states: LMState | None = None  # (k rows) the policy after each candidate, reused for the chosen one
    rollout_states: LMState | None = None  # (k rows) a separate rollout model after each candidate (TQ*)
    rollouts: list[Rollout] = field(default_factory=list)  # emitted before the step, `kept` for the chosen


class TokenwiseDecoder(Decoder):
    """Owns the loop; subclasses implement `scores` (and may set `greedy`)."""

    def greedy(self) -> bool:
        return False

    def scores(self, ctx: DecodeContext, state: LMState, base_logp: torch.Tensor, scorer) -> Scores:
        """base_logp (V,) of the base at this step -> the decoder's Scores."""
        raise NotImplementedError

    def prompt_ids(self, ctx: DecodeContext) -> list[int]:
        """What the policy is conditioned on (DeAL may prepend an instruction)."""
        return ctx.prompt_ids

    def begin(self, ctx: DecodeContext) -> None:
        """Called once before the first step (TQ* loads and prefills its baseline here)."""

    def commit(self, ctx: DecodeContext, token: int, verdict: Scores) -> None:
        """Called once the token is chosen (TQ* moves its baseline's cache along)."""

    def make_scorer(self, ctx: DecodeContext):
        """The token-level reward scorer the loop advances (None without a reward)."""
        if ctx.reward is None:
            return None
        return ctx.reward.prefix_scorer(ctx.prompt_text, ctx.prompt_ids, ctx.lm, ctx.meter)

    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        self.begin(ctx)
        state = ctx.lm.start(self.prompt_ids(ctx), ctx.meter)
        scorer = self.make_scorer(ctx)
        if getattr(scorer, "bridged", None):
            yield Note(f"text bridge for {', '.join(scorer.bridged)}: its tokenizer differs from the policy's (or "
                       "it reads no prompt), so each candidate is decoded and re-encoded; reward tokens are counted")
        ids: list[int] = []
        stop = "max_new_tokens"
        for index in range(ctx.max_new_tokens):
            if ctx.cancel.is_set():
                stop = "cancelled"
                break
            before = ctx.cost()  # a step's cost: scoring, tracing, and feeding the chosen token
            base_logp = state.logits()[0].log_softmax(-1)  # (V,)
            verdict = self.scores(ctx, state, base_logp, scorer)
            token = int(draw(verdict.scores[None], ctx.rng, self.greedy())[0])
            step = self._step(ctx, index, token, ids, base_logp, verdict, scorer)
            ids.append(token)
            if scorer is not None:
                scorer.advance(token)
            state = _advance(state, token, verdict, ctx.lm.eos_token_id)
            self.commit(ctx, token, verdict)
            for rollout in verdict.rollouts:
                yield dataclasses.replace(rollout, kept=rollout.candidate == token)
            yield dataclasses.replace(step, cost=ctx.cost(before))
            if token == ctx.lm.eos_token_id:
                stop = "eos"
                break
        yield ctx.finished(ids, stop, config=self.describe())

    def _step(self, ctx: DecodeContext, index: int, token: int, ids: list[int], base_logp: torch.Tensor,
              v: Scores, scorer) -> TokenStep:
        logp_dec, kl, entropy = step_stats(base_logp, v.scores, self.greedy(), token)
        cands = v.candidates.tolist()
        if v.reward is not None and token in cands:
            row = cands.index(token)
            reward, parts = float(v.reward[row]), {k: float(p[row]) for k, p in v.parts.items()}
        elif scorer is not None:  # trace the chosen token's reward (costs one reward step)
            total, by_name = scorer.score_candidates(torch.tensor([token]))
            reward, parts = float(total[0]), {k: float(p[0]) for k, p in by_name.items()}
        else:
            reward, parts = None, {}
        value = None if v.value is None or token not in cands else float(v.value[cands.index(token)])
        return TokenStep(
            index=index, token_id=token, text=token_piece(ctx.lm, ids, token), logprob_base=float(base_logp[token]),
            logprob_decoder=logp_dec, reward=reward, reward_parts=parts, value=value, kl=kl, entropy=entropy,
            candidates=self._table(ctx, v, base_logp))

    @staticmethod
    def _table(ctx: DecodeContext, v: Scores, base_logp: torch.Tensor) -> tuple[Candidate, ...]:
        order = v.scores[v.candidates].argsort(descending=True)[:TABLE_ROWS].tolist()
        rows = []
        for i in order:
            tok = int(v.candidates[i])
            rows.append(Candidate(
                token_id=tok, text=ctx.lm.token_text(tok), logprob_base=float(base_logp[tok]),
                reward=None if v.reward is None else float(v.reward[i]),
                value=None if v.value is None else float(v.value[i]), score=float(v.scores[tok])))
        return tuple(rows)


def _advance(state: LMState, token: int, verdict: Scores, eos: int) -> LMState:
    """The policy state after `token`: a candidate row already fed it, else feed it now."""
    if token == eos:
        return state
    cands = verdict.candidates.tolist()
    if verdict.states is not None and token in cands:
        return verdict.states.select([cands.index(token)])
    state.append([token])
    return state


def token_piece(lm: LanguageModel, ids: list[int], token: int) -> str:
    """Text the token adds to the continuation (decoding the pair keeps multi-byte characters)."""
    if token == lm.eos_token_id:
        return ""
    tail = ids[-4:]
    return lm.decode([*tail, token])[len(lm.decode(tail)):]


def check_k(name: str, k: int, vocab: int) -> int:
    """A candidate count must fit the vocabulary; the message names the field."""
    if k > vocab:
        raise ConfigError(name, k, f"larger than the vocabulary ({vocab} tokens)")
    return k


def scatter_scores(like: torch.Tensor, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(V,) of -inf with `values` (k,) at `ids` (k,): the support of a top-k decoder."""
    out = torch.full_like(like, float("-inf"))
    return out.scatter(0, ids, values.to(out.dtype).to(out.device))
