"""Storage: SQLAlchemy tables and the only query code (votes, battles, generations, annotators).

Public API (what the UI and the CLIs use; everything returns plain frozen records):

- `Store.open(url=None)` connects (`DATABASE_URL`, else `storage/playground.db`) and migrates to head;
  `save_generation`, `create_battle`, `create_battles`, `ensure_annotator`, `cast_vote` write; `battle`,
  `generation`, `battles`, `vote_rows`, `battles_needing_votes`, `pair_votes`,
  `annotator_progress`, `annotator_count`, `prompt_sets`, `counts` read.
- `Refused` (a wrong request, nothing stored; `AlreadyVoted`: this annotator's earlier vote counts) and
  `StoreUnavailable` (locked or unreachable after bounded retries; `StoreFault`: read-only, disk
  full, unstorable text), all `StoreError`. `Store.self_check()` writes and reads back at start-up.
- `storage.export`: TRL DPO / KTO rows and raw battles as JSONL (also `python -m storage.export`).

This package never imports torch, transformers, gradio, playground or backends.
"""

from storage.errors import AlreadyVoted, Refused, StoreError, StoreFault, StoreUnavailable
from storage.records import (
    AnnotatorProgress,
    BattleNeed,
    BattleView,
    Choice,
    Generation,
    Outcome,
    Side,
    Vote,
    VoteFilter,
    VoteRow,
)

# `Store` and `Retry` import SQLAlchemy (0.5 s): loaded on first use, so that what needs only the
# records, the errors or `storage.access` (the page, built before the database is opened) does not.
_LAZY = {"Retry": "storage.retry", "Store": "storage.store"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'storage' has no attribute {name!r}")


__all__ = [
    "AlreadyVoted",
    "AnnotatorProgress",
    "BattleNeed",
    "BattleView",
    "Choice",
    "Generation",
    "Outcome",
    "Refused",
    "Retry",
    "Side",
    "Store",
    "StoreError",
    "StoreFault",
    "StoreUnavailable",
    "Vote",
    "VoteFilter",
    "VoteRow",
]
