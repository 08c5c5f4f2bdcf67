"""Offline evaluation: decoders over a prompt file, the papers' metrics, a results file and a report.

One module per step of a run, in the order a run uses them:

- `inputs`: prompt files, decoder and sweep specs, preset files, parsed and checked (`UsageError`).
- `loop`: one shard's generations (`run_shard`), each judged by the run's rewards (`Judge`).
- `sharding`: prompts split over `torchrun` processes, `generations.jsonl` appended and resumed.
- `metrics`: diversity, KL, bootstrap intervals and paired win rates (pure functions).
- `results`: the records reduced to `results.json` and the printed tables.
- `report`: the offline `report.html`.
- `live_sweep`: a small sweep in one process, its results after each generation (the app's Sweep view).
- `cli`: the command line (`python -m backends.evaluate`), and `main(argv, engine=...)` for scripts;
  `backends.api.evaluate` is the notebook-friendly entry point.

It never imports the playground or storage; `storage.import_eval` reads its output files as
plain JSON; the file names and record keys are defined once, as data both read
(`assets/formats/evaluation_output.json`, loaded by `output_format`).
"""

from backends.evaluation.inputs import UsageError, load_preset_file
from backends.evaluation.live_sweep import SweepPlan, check_public, numeric_settings, plan_sweep, run_sweep

__all__ = ["SweepPlan", "UsageError", "check_public", "load_preset_file", "numeric_settings", "plan_sweep", "run_sweep"]
