"""The decoder contract: the per-run context and the token-by-token loop (requests: `request.py`).

`Decoder.stream(ctx)` yields events and always ends with `Finished`. `TokenwiseDecoder` owns the
loop (propose -> score -> select -> append -> emit) so a token-level algorithm implements only
`scores(ctx, run, logp)`. A run's state (policy, base, reward scorer, committed ids) is a `Run`
made by `begin()`, never an attribute of the shared decoder. The trace's log p base, KL and
entropy read the preset's base model (its own cache, its own meter line) when it is not the
policy. The roles a decoder deals with are Protocols: `Scorer` (the reward scorer it receives;
it counts every reward-model token it feeds) and `Models` (what it may load). This module loads
nothing and catches nothing: the Engine builds the context and turns exceptions into
`Finished(stop_reason="error")`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch

from backends.config import Config, ConfigError
from backends.decoders.request import GenerationRequest
from backends.devices import Meter
from backends.events import Candidate, Cost, Event, Finished, Note, Rollout, TokenStep
from backends.lm import LanguageModel, LMState
from backends.rewards import Reward, WeightedReward
from backends.rewards.base import RolloutScores
from backends.sampling import draw, step_stats

if TYPE_CHECKING:
    from backends.rewards.arm import ArmStack

TABLE_ROWS = 10  # candidates kept per step for the inspector


class Models(Protocol):
    """The models a decoder may ask for during a run (the Engine implements it)."""

    def language_model(self, model_id: str) -> LanguageModel: ...
    def arm(self, model_id: str) -> ArmStack: ...
    def reward_for(self, name: str, preset: Any, lm: LanguageModel, request: GenerationRequest) -> Reward: ...


class Scorer(Protocol):
    """The reward scorer a token-level decoder receives (`WeightedPrefixScorer`): it follows the
    committed tokens, and counts every reward-model token it feeds on the run's meter."""

    bridged: list[str]  # parts scored through text (another tokenizer): announced by a Note

    def score_candidates(self, cand_ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """cand_ids (k,) -> (total (k,), {name: (k,)}) of prefix + each candidate."""

    def score_rollouts(self, cand_ids: torch.Tensor, rollouts: Sequence[Sequence[Sequence[int]]]) -> RolloutScores:
        """cand_ids (k,), rollouts [k][n] -> rewards (k, n) of prefix + candidate + rollout."""

    def score_sequence(self, ids: Sequence[int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Rewards (m,) of the prefix after each of `ids`; advances past them."""

    def advance(self, token_id: int) -> None: ...


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
    models: Models | None = None  # the Engine
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.reward is not None:
            self.reward.bind(self.meter)  # the reward models count on this run's meter

    def cost(self, since: Cost | None = None) -> Cost:
        m = self.meter
        now = Cost(m.lm_tokens, m.reward_tokens, (time.perf_counter() - self.started) * 1e3, m.base_tokens)
        if since is None:
            return now
        return Cost(now.lm_tokens - since.lm_tokens, now.reward_tokens - since.reward_tokens,
                    now.wall_ms - since.wall_ms, now.base_tokens - since.base_tokens)

    def scorer(self) -> Scorer | None:
        """The mixture's token-level scorer from the prompt (None without a reward)."""
        if self.reward is None:
            return None
        return self.reward.prefix_scorer(self.prompt_text, self.prompt_ids, self.lm)

    def base_state(self, policy_ids: Sequence[int]) -> LMState | None:
        """The preset's base model at the user's prompt (its own cache and meter line), or None when
        it is the policy reading the same ids (then the policy's own log-probs are the base's)."""
        if self.base is self.lm and list(policy_ids) == list(self.prompt_ids):
            return None
        if self.base.vocab() != self.lm.vocab():
            raise ConfigError("preset.base", self.base.name, f"its tokenizer differs from the policy {self.lm.name}'s")
        return self.base.start(self.prompt_ids, self.meter, role="base")

    def finished(self, ids: list[int], stop: str, known: tuple[float, dict[str, float]] | None = None,
                 **extra: Any) -> Finished:
        """The closing event: final text, its reward under the mixture (`known` when the decoder
        already scored this very text), totals."""
        text = self.lm.decode(ids)
        reward, parts = known if known is not None else (None, {})
        if self.reward is not None and known is None:
            total, by_name = self.reward.score_parts(self.prompt_text, [text])
            reward, parts = float(total[0]), {k: float(v[0]) for k, v in by_name.items()}
        cost = self.cost()
        return Finished(text=text, stop_reason=stop, reward=reward, reward_parts=parts, cost=cost,
                        new_tokens=len(ids), elapsed_s=cost.wall_ms / 1e3, seed=self.request.seed, **extra)


class Decoder:
    """Base of all decoders: a validated config and a `stream` of events.

    The class attributes below come from the decoder's card (backends.decoders.configs) when it
    registers; a plugin sets them itself.
    """

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
    note: str | None = None  # what the step did other than asked (said once per run)


@dataclass
class Run:
    """One run's mutable state, made by `begin` and handed to every later call (a decoder object is
    shared by runs and threads, so nothing of a run lives on it). Subclasses add their own fields."""

    policy: LMState  # (1 row) the policy at the prompt + committed tokens
    base: LMState | None  # (1 row) the preset's base model at the same point; None: it is the policy
    scorer: Scorer | None
    prompt_ids: list[int]  # what the policy is conditioned on
    ids: list[int] = field(default_factory=list)  # committed tokens


class TokenwiseDecoder(Decoder):
    """Owns the loop; subclasses implement `scores` (and may set `greedy`, `begin`, `commit`)."""

    def greedy(self) -> bool:
        return False

    def scores(self, ctx: DecodeContext, run: Run, logp: torch.Tensor) -> Scores:
        """logp (V,): the policy's log-probs at this step -> the decoder's Scores."""
        raise NotImplementedError

    def begin(self, ctx: DecodeContext) -> Run:
        """The run's state: the policy prefilled with the prompt, the base, the reward scorer."""
        return self.start_run(ctx, ctx.prompt_ids, Run)

    def start_run(self, ctx: DecodeContext, prompt_ids: list[int], cls: type[Run], **extra: Any) -> Run:
        room = ctx.max_new_tokens + 1  # the committed tokens are written in place, never re-copied
        base = ctx.base_state(prompt_ids)
        return cls(policy=ctx.lm.start(prompt_ids, ctx.meter).reserve(room),
                   base=None if base is None else base.reserve(room), scorer=self.make_scorer(ctx),
                   prompt_ids=prompt_ids, **extra)

    def commit(self, ctx: DecodeContext, run: Run, token: int, verdict: Scores) -> None:
        """Called once the token is chosen, after the policy, base and scorer moved on."""

    def make_scorer(self, ctx: DecodeContext) -> Scorer | None:
        """The token-level reward scorer the loop advances (None without a reward)."""
        return ctx.scorer()

    def stream(self, ctx: DecodeContext) -> Iterator[Event]:
        run = self.begin(ctx)
        if getattr(run.scorer, "bridged", None):
            yield Note(f"text bridge for {', '.join(run.scorer.bridged)}: its tokenizer differs from the policy's "
                       "(or it reads no prompt), so each candidate (and rollout) is decoded and re-encoded in full; "
                       "reward tokens are counted")
        for name, why in (getattr(run.scorer, "unshared", None) or {}).items():
            yield Note(f"reward {name}: its k candidate rows each hold a copy of the prefix cache ({why}), so a "
                       "step's time and memory grow with k x position")
        stop, said = "max_new_tokens", set()
        for index in range(ctx.max_new_tokens):
            if ctx.cancel.is_set():
                stop = "cancelled"
                break
            before = ctx.cost()  # a step's cost: scoring, tracing, and feeding the chosen token
            logp = run.policy.logits()[0].log_softmax(-1)  # (V,)
            base_logp = logp if run.base is None else run.base.logits()[0].log_softmax(-1)  # (V,)
            verdict = self.scores(ctx, run, logp)
            if verdict.note and verdict.note not in said:
                said.add(verdict.note)
                yield Note(verdict.note)
            token = int(draw(verdict.scores[None], ctx.rng, self.greedy())[0])
            cands = verdict.candidates.tolist()  # read once: the step's trace and the advance use it
            step = self._step(ctx, run, index, token, base_logp, verdict, cands)
            if index + 1 < ctx.max_new_tokens:
                self._advance(ctx, run, token, verdict, cands)
                self.commit(ctx, run, token, verdict)
            else:  # the last step: no later step reads the states, so the token is not fed to them
                run.ids.append(token)
            for rollout in verdict.rollouts:
                yield dataclasses.replace(rollout, kept=rollout.candidate == token)
            yield dataclasses.replace(step, cost=ctx.cost(before))
            if token == ctx.lm.eos_token_id:
                stop = "eos"
                break
        yield ctx.finished(run.ids, stop, config=self.describe())

    def _step(self, ctx: DecodeContext, run: Run, index: int, token: int, base_logp: torch.Tensor,
              v: Scores, cands: list[int]) -> TokenStep:
        logp_dec, kl, entropy = step_stats(base_logp, v.scores, self.greedy(), token)
        row = cands.index(token) if token in cands else None
        if v.reward is not None and row is not None:
            reward, parts = float(v.reward[row]), {k: float(p[row]) for k, p in v.parts.items()}
        elif run.scorer is not None:  # trace the chosen token's reward (costs one reward step)
            total, by_name = run.scorer.score_candidates(torch.tensor([token]))
            reward, parts = float(total[0]), {k: float(p[0]) for k, p in by_name.items()}
        else:
            reward, parts = None, {}
        value = None if v.value is None or row is None else float(v.value[row])
        return TokenStep(
            index=index, token_id=token, text=token_piece(ctx.lm, run.ids, token),
            logprob_base=float(base_logp[token]), logprob_decoder=logp_dec, reward=reward, reward_parts=parts,
            value=value, kl=kl, entropy=entropy, candidates=self._table(ctx, v, base_logp))

    @staticmethod
    def _advance(ctx: DecodeContext, run: Run, token: int, verdict: Scores, cands: list[int]) -> None:
        """Policy, base and scorer after `token` (a candidate row that already fed it is reused)."""
        run.ids.append(token)
        if run.scorer is not None:
            run.scorer.advance(token)
        if token == ctx.lm.eos_token_id:
            return
        if verdict.states is not None and token in cands:
            run.policy = verdict.states.select([cands.index(token)])
        else:
            run.policy.append([token])
        if run.base is not None:
            run.base.append([token])

    @staticmethod
    def _table(ctx: DecodeContext, v: Scores, base_logp: torch.Tensor) -> tuple[Candidate, ...]:
        """The best TABLE_ROWS candidates by score (each column read in one call, not per cell)."""
        ranked = v.scores[v.candidates]  # (k,)
        order = ranked.argsort(descending=True)[:TABLE_ROWS]  # (rows,)
        toks = v.candidates[order]  # (rows,)
        at = order.tolist()  # a list indexes the per-candidate tensors wherever they live
        reward = [None] * len(at) if v.reward is None else [float(x) for x in v.reward[at].tolist()]
        value = [None] * len(at) if v.value is None else [float(x) for x in v.value[at].tolist()]
        return tuple(
            Candidate(token_id=tok, text=ctx.lm.token_text(tok), logprob_base=lp, reward=r, value=val, score=sc)
            for tok, lp, r, val, sc in zip(toks.tolist(), map(float, base_logp[toks].tolist()), reward, value,
                                            map(float, ranked[order].tolist()), strict=True))


def token_piece(lm: LanguageModel, ids: list[int], token: int) -> str:
    """Text the token adds to the continuation (decoding the pair keeps multi-byte characters)."""
    if token == lm.eos_token_id:
        return ""
    tail = ids[-4:]
    return lm.decode([*tail, token])[len(lm.decode(tail)):]
