"""Fine-tuning: the zoo's ARM heads and DPO policies, and `python -m backends.train` (DPO/FPO from votes).

- `optim`: the warm-up-cosine schedule and one clipped AdamW step, shared by all of it.
- `preference`: DPO/FPO losses, the offline reference pass and the per-completion forward.
- `arm`: ARM's low-rank reward head, on labels or distilled from a prefix reward model.
- `data`: TRL preference rows read and checked; `run_folder`: a run's OUT folder (settings,
  reference, checkpoints, preset.json); `loop`: one run in phases; `cli`: the command line.

Nothing here decodes; the zoo stages (`backends/zoo/aligned.py`) and the CLI call it.
"""
