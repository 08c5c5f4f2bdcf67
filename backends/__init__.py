"""backends: everything that computes. Never imports gradio, sqlalchemy, plotly, playground or storage.

The floor plan, in the order a request passes through it:

Core (top-level modules; the hub every request passes through)
    registry   name -> class registries (`DECODERS`, `REWARDS`): each name declared with a torch-free
               card (`decoders/configs.py`, `rewards/configs.py`), its class registered where it is
               defined and imported on first use; plugins' through entry points (docs/PLUGINS.md)
    config     frozen dataclass configs: `param(...)` metadata, eager validation, `build_config`
    presets    which models a preset uses (policy, base, baseline, reward models, ARM heads, SAE)
    loading    resolves `zoo:NAME`, folders and hub ids; says what failed and how to fix it
    lm         `LanguageModel` (shared weights) and `LMState` (one run's ids and KV cache)
    candidate_rows, prefix_attention, lean_gpt2   k candidates on one prefix (stored once when long),
               the attention that reads it once, and the lean forward of GPT-2 trunks (the zoo's)
    events     what a decoder streams: TokenStep, Rollout, Note, FeatureStep, Finished
    engine     `Engine`: loads and caches models, validates a `GenerationRequest`, streams it
    devices, sampling, allowlist, sae, arm_model, feature_trace   (device/meter, logits processing,
               public-mode model ids, sparse autoencoders, ARM's model class, the per-token feature
               trace; the model classes are imported when a model loads, not with the app)

Roles (packages; one algorithm per file, registered where defined, its settings and card in configs.py)
    decoders/  `Decoder`, `TokenwiseDecoder` and every decoding algorithm
    rewards/   `Reward`, the weighted mixture and every reward

Rooms (around the core)
    evaluation/  offline evaluation: prompt files -> generations.jsonl, results.json, report.html
    training/    ARM heads, DPO/FPO fine-tuning and `python -m backends.train`
    zoo/         the embedded tiny models, built and checked (`python -m backends.zoo build | check`)
    ranking      Bradley-Terry ratings with bootstrap intervals (the leaderboard's maths)

Doors
    api          the Python API for notebooks and scripts (`from backends import api`)
    generate     `python -m backends.generate`; `evaluate`, `train`: the documented commands
               `python -m backends.evaluate` and `python -m backends.train` (thin entries)

What the playground may import is listed in tests/test_boundaries.py (`PUBLIC_MODULES`).
"""
