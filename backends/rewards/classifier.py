"""Rewards read from a sequence-classification model (the zoo's reward models or any hub model).

`SequenceClassifier` wraps an `AutoModelForSequenceClassification`, picks one label and maps its
output to a calibrated value (sigmoid for a single logit, softmax probability otherwise). A
decoder-only classifier that shares the policy's tokenizer is also a `CausalStack`: its head is
read at the last position of a cached state, which is RAD's unidirectional reward model and
gives `CachedPrefixScorer`, the token-level fast path (k reward tokens per step, no re-encoding;
rollouts forked from the same cache). Decoder-only trunks are told by their config (`is_causal`).
Every token fed, cached or not, is counted on the run's meter here, where the model runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import DynamicCache

from backends import prefix_attention
from backends.candidate_rows import CandidateRows
from backends.config import ConfigError
from backends.devices import Meter
from backends.lean_gpt2 import lean_for
from backends.lm import LanguageModel, LMState, cached_inputs
from backends.rewards.base import Reward, RewardContext, RolloutScores, TextPrefixScorer
from backends.rewards.configs import MODEL_REWARDS, OUTPUTS, REWARDS, ModelRewardConfig, RewardModelRef


class SequenceClassifier:
    """One label of a sequence classifier as a score in [0, 1] (or raw, if asked)."""

    role = "reward"

    def __init__(self, model: torch.nn.Module, tokenizer, name: str, label: str = "0", output: str = "auto"):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.device = next(model.parameters()).device
        cfg = model.config
        self.label = self._label_index(cfg, label)
        if output == "auto":
            output = getattr(cfg, "playground_output", None) or ("sigmoid" if cfg.num_labels == 1 else "softmax")
        if output not in OUTPUTS[1:]:
            raise ConfigError(f"{name}.output", output, f"must be one of {', '.join(OUTPUTS)}")
        self.output = output
        self.causal = is_causal(cfg)
        self.max_length = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", 512)

    @staticmethod
    def _label_index(cfg, label: str) -> int:
        names = {str(v).lower(): int(k) for k, v in (cfg.id2label or {}).items()}
        if str(label).lower() in names:
            return names[str(label).lower()]
        if str(label).isdigit() and int(label) < cfg.num_labels:
            return int(label)
        raise ConfigError("label", label, f"not a label of this model; labels: {', '.join(names) or '0'}")

    def transform(self, head: torch.Tensor) -> torch.Tensor:
        """head (B, L) raw outputs -> (B,) value of the chosen label."""
        head = head.float()
        if self.output == "softmax":
            return head.softmax(-1)[:, self.label]
        value = head[:, self.label]
        return value.sigmoid() if self.output == "sigmoid" else value

    def _hidden(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """ids (B, n) on top of `past` cached positions -> the trunk's hidden states (B, n, D)."""
        use = self.causal and not self.model.training  # training: transformers' forward (dropout and all)
        lean = lean_for(self.model, self.model.base_model, self._full_hidden) if use else None
        if lean is not None:
            return lean.hidden(ids, cache, past)
        return self._full_hidden(ids, cache, past)

    def _full_hidden(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """transformers' own forward of the trunk (the reference the lean path is checked against)."""
        return self.model.base_model(**cached_inputs(ids, cache, past)).last_hidden_state

    @torch.no_grad()
    def run(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """CausalStack: ids (B, n) -> raw head output (B, L) at the last position."""
        return self.model.score(self._hidden(ids, cache, past)[:, -1])  # (B, L)

    @torch.no_grad()
    def run_all(self, ids: torch.Tensor, cache: DynamicCache, past: int) -> torch.Tensor:
        """SequenceStack: ids (B, n) -> raw head output (B, n, L) at every new position."""
        return self.model.score(self._hidden(ids, cache, past))  # (B, n, L)

    @torch.no_grad()
    def score_texts(self, texts: Sequence[str], batch_size: int = 32, meter: Meter | None = None) -> torch.Tensor:
        """(N,) values; long texts keep their end (left truncation). Fed tokens (padding included)
        are counted on `meter`."""
        out = []
        self.tokenizer.truncation_side = "left"
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(list(texts[i:i + batch_size]), return_tensors="pt", padding=True,
                                 truncation=True, max_length=self.max_length).to(self.device)
            if meter is not None:
                meter.count("reward", enc["input_ids"].numel())
            out.append(self.transform(self._head(enc)).cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def _head(self, enc) -> torch.Tensor:
        if not self.causal:
            return self.model(**enc).logits  # (B, L)
        hidden = self.model.base_model(**enc).last_hidden_state  # (B, T, H)
        last = enc["attention_mask"].sum(1) - 1  # (B,)  right padding
        if self.tokenizer.padding_side == "left":
            last = torch.full_like(last, hidden.shape[1] - 1)
        return self.model.score(hidden[torch.arange(hidden.shape[0]), last])  # (B, L)

    def shares_tokenizer(self, lm: LanguageModel) -> bool:
        return self.causal and self.tokenizer.get_vocab() == lm.vocab()


def is_causal(cfg) -> bool:
    """A decoder-only trunk (its head can be read at the last position of a cached state), told by
    the config: declared a decoder, architectures ending in ForCausalLM, or a model type transformers
    maps to a causal LM and not to a masked LM (BERT-likes have both)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(cfg, "is_decoder", False) or any(a.endswith("ForCausalLM") for a in cfg.architectures or ()):
        return True
    kind = getattr(cfg, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


class CachedPrefixScorer:
    """RAD's fast path: the reward model's cache follows the chosen token; k new tokens a step.

    Next-token candidates are fed into preallocated candidate rows (`CandidateRows`), so a step
    copies no prefix cache. Rollouts are scored from the same prefix: fork it to the k candidates,
    feed only candidate + rollout tokens (rows padded to one length, each read at its own last token).
    """

    bridge = False

    def __init__(self, clf: SequenceClassifier, prompt_ids: Sequence[int], meter: Meter, eos: int):
        self.clf, self.eos = clf, eos
        self._state = LMState.prefill(clf, prompt_ids, meter)
        self._rows: CandidateRows | None = None  # while set, it holds the prefix (the state lags behind)
        self._cand: tuple[list[int], torch.Tensor] | None = None  # last candidates and their heads (k, L)
        self._forked: tuple[LMState, list[int]] | None = None
        self.why_not_shared = prefix_attention.check(clf)  # None: candidates share one copy of the prefix

    @property
    def state(self) -> LMState:
        """The prefix as a one-row state (rebuilt from the candidate rows when they moved it on)."""
        if self._rows is not None:
            self._state, self._rows = self._rows.state(), None
        return self._state

    def score_candidates(self, cand_ids: torch.Tensor) -> torch.Tensor:
        cands = [int(c) for c in cand_ids.tolist()]
        if self._rows is None or self._rows.rows < len(cands):
            self._rows = CandidateRows(self.state, len(cands))
        heads = self._rows.score(torch.tensor(cands))  # (k, L)
        self._cand, self._forked = (cands, heads), None
        return self.clf.transform(heads).cpu()  # (k,)

    def _fork(self, cands: list[int], room: int = 0) -> LMState:
        forked = self.state.fork(len(cands), room=room + 1)
        forked.append(torch.tensor(cands))  # (k,)
        self._forked, self._cand = (forked, cands), None
        return forked

    def score_rollouts(self, cand_ids: torch.Tensor, rollouts: Sequence[Sequence[Sequence[int]]]) -> RolloutScores:
        cands = [int(c) for c in cand_ids.tolist()]
        rows = [(i, j, _until_eos(r, self.eos)) for i, c in enumerate(cands) if c != self.eos
                for j, r in enumerate(rollouts[i])]
        rows = [row for row in rows if row[2]]
        width = max((len(r) for _, _, r in rows), default=0)
        own = [i for i, _, _ in rows] == list(range(len(cands)))  # one rollout per candidate, all go on
        forked = self._fork(cands, room=width if own else 0)
        cand = self.clf.transform(forked.logits()).cpu()  # (k,)
        n = max(len(rows) for rows in rollouts)
        total = cand[:, None].repeat(1, n)  # (k, n)  a rollout that adds nothing reads the candidate row
        if self.eos in cands:  # an EOS candidate ends the text: its reward is the prefix's own
            total[cands.index(self.eos)] = self.clf.transform(self.state.logits()).cpu()[0]
        if rows:
            padded = torch.tensor([r + [self.eos] * (width - len(r)) for _, _, r in rows])  # (R, width)
            grown = forked.share() if own else forked.select([i for i, _, _ in rows])
            heads = grown.extend(padded)  # (R, width, L)
            last = torch.tensor([len(r) - 1 for _, _, r in rows])  # (R,)
            values = self.clf.transform(heads[torch.arange(len(rows)), last]).cpu()  # (R,)
            for (i, j, _), v in zip(rows, values.tolist(), strict=True):
                total[i, j] = v
        return RolloutScores(total, {}, cand)

    def score_sequence(self, ids: Sequence[int]) -> torch.Tensor:
        state = self.state
        self._forked = self._cand = None
        heads = state.extend([list(ids)])[0]  # (m, L)
        return self.clf.transform(heads).cpu()  # (m,)

    def advance(self, token_id: int) -> None:
        token = int(token_id)
        if self._cand is not None and token in self._cand[0]:
            row = self._cand[0].index(token)
            self._rows.commit(row, token, self._cand[1][row: row + 1])
        elif self._forked is not None and token in self._forked[1]:
            forked, cands = self._forked
            self._state = forked.select([cands.index(token)])
        else:
            self.state.append([token])
            self._rows = None
        self._forked = self._cand = None


class ModelReward(Reward):
    """A classifier reward whose default model comes from the preset under this reward's name."""

    uses_model = True

    def __init__(self, config: ModelRewardConfig, ctx: RewardContext):
        super().__init__(config, ctx)
        ref = ctx.reward_model_ref(self.name) or RewardModelRef(model="")
        model = config.model or ref.model
        if not model:
            raise ConfigError(f"{self.name}.model", config.model,
                              f"this preset has no {self.name!r} reward model; give one with {self.name}.model=ID")
        self.include_prompt = ref.include_prompt if not config.model else True
        output = ref.output if config.output == "auto" else config.output
        self.clf = ctx.classifier(model, config.label or ref.label, output)

    def score(self, prompt: str, continuations: Sequence[str]) -> torch.Tensor:
        texts = [(prompt if self.include_prompt else "") + c for c in continuations]
        return self.clf.score_texts(texts, meter=self.meter)

    def prefix_scorer(self, prompt: str, prompt_ids: Sequence[int], lm: LanguageModel, meter: Meter):
        if self.include_prompt and self.clf.shares_tokenizer(lm):
            return CachedPrefixScorer(self.clf, prompt_ids, meter, lm.eos_token_id)
        return TextPrefixScorer(self, prompt, lm)


for _name in MODEL_REWARDS:  # one class per declared name; the card gives its help
    REWARDS.register(_name)(type(f"{_name.capitalize()}Reward", (ModelReward,), {"__module__": __name__}))


def _until_eos(ids: Sequence[int], eos: int) -> list[int]:
    """The tokens a text is made of: everything before the first EOS."""
    out = []
    for i in ids:
        if int(i) == eos:
            break
        out.append(int(i))
    return out
