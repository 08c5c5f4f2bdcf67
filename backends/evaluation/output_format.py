"""The evaluator's output files and record keys, from the shared format file (not defined here).

`assets/formats/evaluation_output.json` is the one definition of what an evaluation's --out
folder holds; `storage.import_eval` reads the same file. Data both layers read, rather than code
one would import from the other (backends never imports storage, storage never imports backends).
`checked` keeps the evaluator honest: a record whose keys differ from the format is a bug here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FORMAT_FILE = Path(__file__).resolve().parents[2] / "assets" / "formats" / "evaluation_output.json"
FORMAT: dict[str, Any] = json.loads(FORMAT_FILE.read_text(encoding="utf-8"))
GENERATIONS: str = FORMAT["files"]["generations"]
SHARD: str = FORMAT["files"]["shard"]  # with {rank}
RESULTS: str = FORMAT["files"]["results"]
REPORT: str = FORMAT["files"]["report"]
RECORD_KEYS: tuple[str, ...] = tuple(FORMAT["record_keys"])
RUN_KEYS: tuple[str, ...] = tuple(FORMAT["results_run_keys"])


def checked(record: dict[str, Any]) -> dict[str, Any]:
    """`record` itself, once its keys are exactly the format's (else a RuntimeError naming the difference)."""
    if set(record) != set(RECORD_KEYS):
        missing, extra = sorted(set(RECORD_KEYS) - set(record)), sorted(set(record) - set(RECORD_KEYS))
        raise RuntimeError(f"generation record differs from {FORMAT_FILE.name}: missing {missing}, extra {extra}")
    return record
